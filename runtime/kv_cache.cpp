#include "runtime/kv_cache.h"

#include <string>

#include "formats/error.h"

namespace tessera {

KvCache::KvCache(backend::Device& device, uint32_t n_layer, int64_t row_elements, uint32_t n_ctx,
                 quant::TensorType type)
    : row_elements_(row_elements), n_ctx_(n_ctx), type_(type) {
    if (type != quant::TensorType::F16 && type != quant::TensorType::Q8_0) {
        throw Error("KV cache: type " + std::string(quant::type_info(type).name) +
                    " is not supported (f16 or q8_0)");
    }
    if (n_ctx == 0) throw Error("KV cache: the context size must be at least 1");
    const quant::TypeInfo& info = quant::type_info(type);
    if (row_elements <= 0 || row_elements % info.block_size != 0) {
        throw Error("KV cache: rows of " + std::to_string(row_elements) + " elements (head_dim * " +
                    "n_head_kv) are not whole " + std::string(info.name) + " blocks of " +
                    std::to_string(info.block_size) + "; use an f16 cache");
    }
    layer_bytes_ = quant::row_bytes(info, static_cast<uint64_t>(row_elements)) * n_ctx;
    keys_.reserve(n_layer);
    values_.reserve(n_layer);
    for (uint32_t layer = 0; layer < n_layer; ++layer) {
        keys_.push_back(device.allocate(layer_bytes_, backend::MemoryKind::DeviceLocal));
        values_.push_back(device.allocate(layer_bytes_, backend::MemoryKind::DeviceLocal));
    }
}

uint64_t KvCache::bytes() const {
    return layer_bytes_ * 2 * keys_.size();
}

void KvCache::check_room(uint64_t n_tokens) const {
    if (n_filled_ + n_tokens > n_ctx_) {
        throw Error("context full: " + std::to_string(n_tokens) + " token(s) at position " +
                    std::to_string(n_filled_) + " would go past the context size of " +
                    std::to_string(n_ctx_) +
                    "; reset the context or create one with a larger "
                    "n_ctx");
    }
}

void KvCache::advance(uint32_t n_tokens) {
    check_room(n_tokens);
    n_filled_ += n_tokens;
}

}  // namespace tessera
