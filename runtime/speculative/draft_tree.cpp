#include "runtime/speculative/draft_tree.h"

#include <string>
#include <utility>

#include "formats/error.h"

namespace tessera {

DraftTreeShape::DraftTreeShape(std::vector<uint32_t> widths) : widths_(std::move(widths)) {
    if (widths_.empty()) throw Error("draft tree: no widths given");
    // Nodes per level multiply down the tree; the running total is checked at every level so
    // that no product overflows.
    uint64_t level = 1;
    uint64_t total = 0;
    for (size_t depth = 0; depth < widths_.size(); ++depth) {
        if (widths_[depth] == 0) {
            throw Error("draft tree: the width at depth " + std::to_string(depth + 1) +
                        " is 0; every depth needs at least one candidate");
        }
        level *= widths_[depth];
        total += level;
        if (total > kMaxDraftTreeNodes) {
            throw Error("draft tree: more than " + std::to_string(kMaxDraftTreeNodes) +
                        " nodes by depth " + std::to_string(depth + 1) +
                        "; use smaller widths or fewer depths");
        }
    }
    n_nodes_ = static_cast<uint32_t>(total);
}

DraftTreeShape DraftTreeShape::parse(std::string_view text) {
    std::string quoted(1, '\'');
    quoted.append(text);
    quoted.push_back('\'');
    if (text.empty()) throw Error("draft tree: empty widths (expected e.g. \"4,2,2\")");
    std::vector<uint32_t> widths;
    size_t begin = 0;
    while (true) {
        const size_t comma = text.find(',', begin);
        const std::string_view field = text.substr(
            begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin);
        if (field.empty()) {
            throw Error("draft tree: " + quoted + " has an empty width (expected e.g. \"4,2,2\")");
        }
        uint64_t width = 0;
        for (const char c : field) {
            if (c < '0' || c > '9') {
                throw Error("draft tree: " + quoted + " has '" + std::string(field) +
                            "', which is not a positive integer");
            }
            width = width * 10 + static_cast<uint64_t>(c - '0');
            if (width > kMaxDraftTreeNodes) {
                throw Error("draft tree: " + quoted + " has a width over " +
                            std::to_string(kMaxDraftTreeNodes) +
                            ", the most nodes a tree may have");
            }
        }
        widths.push_back(static_cast<uint32_t>(width));
        if (comma == std::string_view::npos) break;
        begin = comma + 1;
    }
    return DraftTreeShape(std::move(widths));
}

DraftTree DraftTreeShape::build(std::span<const std::vector<int32_t>> candidates) const {
    if (candidates.size() < widths_.size()) {
        throw Error("draft tree: " + std::to_string(widths_.size()) + " depths need as many " +
                    "heads' candidates, " + std::to_string(candidates.size()) + " given");
    }
    for (size_t depth = 0; depth < widths_.size(); ++depth) {
        if (candidates[depth].size() < widths_[depth]) {
            throw Error("draft tree: head " + std::to_string(depth + 1) + " gave " +
                        std::to_string(candidates[depth].size()) + " candidates, the width at " +
                        "its depth is " + std::to_string(widths_[depth]));
        }
    }
    DraftTree tree;
    tree.tokens.reserve(n_nodes_);
    tree.parents.reserve(n_nodes_);
    // The previous level's nodes, as indices: at first only the root.
    std::vector<int32_t> previous = {-1};
    for (size_t depth = 0; depth < widths_.size(); ++depth) {
        std::vector<int32_t> level;
        level.reserve(previous.size() * widths_[depth]);
        for (const int32_t parent : previous) {
            for (uint32_t rank = 0; rank < widths_[depth]; ++rank) {
                level.push_back(static_cast<int32_t>(tree.tokens.size()));
                tree.tokens.push_back(candidates[depth][rank]);
                tree.parents.push_back(parent);
            }
        }
        previous = std::move(level);
    }
    return tree;
}

}  // namespace tessera
