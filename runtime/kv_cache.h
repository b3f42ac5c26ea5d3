// The keys and values of every layer for the positions a context has seen: per layer, a K and a
// V buffer of n_ctx columns of head_dim * n_head_kv elements, F16 by default or Q8_0 (half the
// memory, slightly lossy). Column p holds position p; the cache tracks how many are filled.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/backend.h"

namespace tessera {

class KvCache {
  public:
    // Throws tessera::Error for a type other than F16 and Q8_0, a row Q8_0 cannot hold (not a
    // multiple of 32), or when the device lacks the memory (saying how much was needed).
    KvCache(backend::Device& device, uint32_t n_layer, int64_t row_elements, uint32_t n_ctx,
            quant::TensorType type);

    uint32_t n_layer() const { return static_cast<uint32_t>(keys_.size()); }
    int64_t row_elements() const { return row_elements_; }
    uint32_t n_ctx() const { return n_ctx_; }
    quant::TensorType type() const { return type_; }
    uint64_t bytes() const;  // of all layers, keys and values

    backend::Buffer& keys(uint32_t layer) { return *keys_.at(layer); }
    backend::Buffer& values(uint32_t layer) { return *values_.at(layer); }

    // Filled columns: the position the next token goes to.
    uint32_t n_filled() const { return n_filled_; }
    // Throws tessera::Error, before anything runs, when n_tokens more do not fit.
    void check_room(uint64_t n_tokens) const;
    void advance(uint32_t n_tokens);
    // Forgets every position; the bytes stay, unread, until overwritten.
    void reset() { n_filled_ = 0; }
    // Forgets the positions from n_keep on (no-op when n_keep >= n_filled()). A later token at
    // position p overwrites column p, and attention reads only filled columns, so nothing else
    // needs clearing.
    void truncate(uint32_t n_keep) { n_filled_ = n_keep < n_filled_ ? n_keep : n_filled_; }

  private:
    int64_t row_elements_;
    uint32_t n_ctx_;
    quant::TensorType type_;
    uint64_t layer_bytes_ = 0;
    uint32_t n_filled_ = 0;
    std::vector<std::unique_ptr<backend::Buffer>> keys_;
    std::vector<std::unique_ptr<backend::Buffer>> values_;
};

}  // namespace tessera
