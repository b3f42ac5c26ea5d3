// The shape of a Medusa-style draft tree and the tree it makes from the heads' candidates.
//
// Medusa heads all read the same hidden state: head h proposes, best first, candidates for the
// token h + 1 places ahead. A tree of widths "W1,W2,..." (the --draft-tree flag) takes the top W1
// candidates of head 1, under each of them the top W2 of head 2, and so on: W1 + W1*W2 + ...
// nodes, each path one guess at the next tokens. Context::verify_tree checks them all in one
// target pass.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace tessera {

// Most nodes a draft tree may have (the verification pass decodes them all, plus the root).
inline constexpr uint32_t kMaxDraftTreeNodes = 64;

// A tree in the order DRAFT_VERIFY and Context::verify_tree take it: node j holds tokens[j] and
// hangs below parents[j] (-1: the root, the last accepted token). Parents come before their
// children, and siblings are in the rank order of the head that proposed them.
struct DraftTree {
    std::vector<int32_t> tokens;
    std::vector<int32_t> parents;
};

class DraftTreeShape {
  public:
    // Widths per depth (depth 1 first), each at least 1. Throws tessera::Error for no widths, a
    // width of 0, or more than kMaxDraftTreeNodes nodes in all.
    explicit DraftTreeShape(std::vector<uint32_t> widths);
    // "4,2,2": comma-separated positive integers, no spaces. Throws tessera::Error saying what is
    // wrong with the text (empty, not a number, zero, too many nodes).
    static DraftTreeShape parse(std::string_view text);

    std::span<const uint32_t> widths() const { return widths_; }
    // The deepest node's depth: how many heads the tree reads.
    uint32_t depth() const { return static_cast<uint32_t>(widths_.size()); }
    uint32_t n_nodes() const { return n_nodes_; }

    // The tree over the heads' candidates: candidates[h] is head h + 1's proposals, best first,
    // at least widths()[h] of them. Level by level: all of depth 1, then every depth-1 node's
    // children in order, and so on. Throws tessera::Error when a head has too few candidates
    // or fewer heads than the depth are given.
    DraftTree build(std::span<const std::vector<int32_t>> candidates) const;

  private:
    std::vector<uint32_t> widths_;
    uint32_t n_nodes_ = 0;
};

}  // namespace tessera
