#include "runtime/memory_planner.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "formats/error.h"

namespace tessera {

namespace {

uint64_t round_up(uint64_t value, uint64_t alignment) {
    return (value + alignment - 1) / alignment * alignment;
}

// First-touch and last-touch node of each tensor that owns bytes; views count for their root.
struct Lifetime {
    int32_t first = -1;
    int32_t last = -1;
};

// Free byte ranges of the buffer, by offset, merged with their neighbours when freed. Allocation
// takes the smallest range that fits (best fit, as ggml-alloc does), else grows the buffer.
class FreeList {
  public:
    uint64_t allocate(uint64_t size) {
        auto best = free_.end();
        for (auto it = free_.begin(); it != free_.end(); ++it) {
            if (it->second >= size && (best == free_.end() || it->second < best->second)) {
                best = it;
            }
        }
        if (best != free_.end()) {
            const uint64_t offset = best->first;
            const uint64_t rest = best->second - size;
            free_.erase(best);
            if (rest > 0) free_.emplace(offset + size, rest);
            return offset;
        }
        // Nothing fits: extend the buffer, starting inside a free range that touches its end.
        uint64_t offset = end_;
        if (!free_.empty()) {
            auto last = std::prev(free_.end());
            if (last->first + last->second == end_) {
                offset = last->first;
                free_.erase(last);
            }
        }
        end_ = offset + size;
        peak_ = std::max(peak_, end_);
        return offset;
    }

    void release(uint64_t offset, uint64_t size) {
        auto [it, inserted] = free_.emplace(offset, size);
        if (!inserted) return;  // cannot happen: a range is freed once
        // Merge with the following range, then with the preceding one.
        auto next = std::next(it);
        if (next != free_.end() && it->first + it->second == next->first) {
            it->second += next->second;
            free_.erase(next);
        }
        if (it != free_.begin()) {
            auto previous = std::prev(it);
            if (previous->first + previous->second == it->first) {
                previous->second += it->second;
                free_.erase(it);
            }
        }
    }

    uint64_t peak() const { return peak_; }

  private:
    std::map<uint64_t, uint64_t> free_;  // offset -> size
    uint64_t end_ = 0;
    uint64_t peak_ = 0;
};

}  // namespace

uint64_t plan_activations(backend::Graph& graph, std::span<const uint8_t> planned,
                          std::span<const int32_t> view_of, uint64_t alignment) {
    const size_t n_tensors = graph.tensors.size();
    if (planned.size() != n_tensors || view_of.size() != n_tensors) {
        throw Error("memory planner: " + std::to_string(n_tensors) + " tensors but " +
                    std::to_string(planned.size()) + " planning flags and " +
                    std::to_string(view_of.size()) + " view links");
    }
    if (alignment == 0) alignment = 1;

    // The tensor owning the bytes of each tensor: itself, or the source its views lead to.
    std::vector<int32_t> root(n_tensors);
    for (size_t t = 0; t < n_tensors; ++t) {
        auto r = static_cast<int32_t>(t);
        for (size_t hops = 0; view_of[static_cast<size_t>(r)] >= 0; ++hops) {
            if (hops > n_tensors) {
                throw Error("memory planner: tensor '" + graph.tensors[t].name +
                            "' is a view of itself");
            }
            r = view_of[static_cast<size_t>(r)];
        }
        root[t] = r;
    }

    // Lifetimes, and a check that each planned tensor is written before it is read.
    std::vector<Lifetime> life(n_tensors);
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
        const backend::Node& node = graph.nodes[n];
        const auto index = static_cast<int32_t>(n);
        const auto touch = [&](int32_t tensor, bool writes) {
            if (tensor < 0 || static_cast<size_t>(tensor) >= n_tensors) return;
            const auto r = static_cast<size_t>(root[static_cast<size_t>(tensor)]);
            if (!planned[r]) return;
            if (life[r].first < 0) {
                if (!writes) {
                    throw Error("memory planner: node " + std::to_string(n) + " (" +
                                backend::op_name(node.op) + ") reads '" +
                                graph.tensors[static_cast<size_t>(tensor)].name +
                                "' before any node writes it");
                }
                life[r].first = index;
            }
            life[r].last = index;
        };
        for (int32_t src : node.src) touch(src, false);
        touch(node.dst, true);
    }

    // Walk the nodes: allocate what a node first touches, then free what it touched last.
    std::vector<std::vector<size_t>> starts(graph.nodes.size());
    std::vector<std::vector<size_t>> ends(graph.nodes.size());
    for (size_t t = 0; t < n_tensors; ++t) {
        if (root[t] != static_cast<int32_t>(t) || !planned[t] || life[t].first < 0) continue;
        starts[static_cast<size_t>(life[t].first)].push_back(t);
        ends[static_cast<size_t>(life[t].last)].push_back(t);
    }
    FreeList free_list;
    std::vector<uint64_t> offset(n_tensors, 0);
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
        for (size_t t : starts[n]) {
            offset[t] = free_list.allocate(round_up(graph.tensors[t].n_bytes(), alignment));
        }
        for (size_t t : ends[n]) {
            free_list.release(offset[t], round_up(graph.tensors[t].n_bytes(), alignment));
        }
    }

    for (size_t t = 0; t < n_tensors; ++t) {
        const auto r = static_cast<size_t>(root[t]);
        if (!planned[r]) continue;
        if (r == t) {
            graph.tensors[t].offset = offset[t];
        } else {
            graph.tensors[t].offset += offset[r];  // a view: relative to its root until now
        }
    }
    return free_list.peak();
}

}  // namespace tessera
