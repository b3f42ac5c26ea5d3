// What speculation achieved: how often the target accepted a draft at each position, and how
// many tokens each target pass produced. With a draft tree a position is a depth of the tree:
// a pass can accept one node per depth, so it counts its depth as drafted, and its nodes apart.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera {

struct SpeculativeStats {
    uint64_t target_passes = 0;  // verification passes and plain decodes of the target
    uint64_t drafted = 0;        // draft tokens proposed (a tree: its depth, once per pass)
    uint64_t tree_nodes = 0;     // draft tree nodes verified; 0 when drafting chains
    uint64_t accepted = 0;       // of those, accepted
    uint64_t generated = 0;      // tokens produced (accepted drafts plus one per pass)
    // Per draft position or tree depth (0 = the first draft of a pass): passes that proposed
    // one there, and that accepted it.
    std::vector<uint64_t> drafted_at;
    std::vector<uint64_t> accepted_at;

    double acceptance_rate() const {
        return drafted == 0 ? 0.0 : static_cast<double>(accepted) / static_cast<double>(drafted);
    }
    double tokens_per_pass() const {
        return target_passes == 0
                   ? 0.0
                   : static_cast<double>(generated) / static_cast<double>(target_passes);
    }
    double acceptance_at(size_t position) const {
        if (position >= drafted_at.size() || drafted_at[position] == 0) return 0.0;
        return static_cast<double>(accepted_at[position]) /
               static_cast<double>(drafted_at[position]);
    }
    // Counts one pass that proposed `n_drafted` drafts and accepted the first `n_accepted`.
    void record(size_t n_drafted, size_t n_accepted) {
        ++target_passes;
        drafted += n_drafted;
        accepted += n_accepted;
        generated += n_accepted + 1;
        if (drafted_at.size() < n_drafted) {
            drafted_at.resize(n_drafted, 0);
            accepted_at.resize(n_drafted, 0);
        }
        for (size_t i = 0; i < n_drafted; ++i) ++drafted_at[i];
        for (size_t i = 0; i < n_accepted; ++i) ++accepted_at[i];
    }
    // Counts one pass that verified a tree of `n_nodes` nodes and `depth` depths and accepted a
    // path of `n_accepted` nodes.
    void record_tree(size_t depth, size_t n_nodes, size_t n_accepted) {
        record(depth, n_accepted);
        tree_nodes += n_nodes;
    }
};

}  // namespace tessera
