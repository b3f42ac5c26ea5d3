#include "formats/digest/digest.h"

#include <xxhash.h>

#include <cstring>

#include "formats/error.h"

namespace tessera::digest {

namespace {
constexpr XXH64_hash_t kSeed = 0;
// Hash in slices so that progress can be reported on large tensors.
constexpr size_t kSlice = 64u << 20;

struct StateDeleter {
    void operator()(XXH64_state_t* state) const { XXH64_freeState(state); }
};
using State = std::unique_ptr<XXH64_state_t, StateDeleter>;

State new_state() {
    State state(XXH64_createState());
    if (state == nullptr || XXH64_reset(state.get(), kSeed) != XXH_OK) {
        throw Error("xxh64: cannot create a hash state");
    }
    return state;
}
}  // namespace

uint64_t xxh64(std::span<const uint8_t> bytes) {
    return XXH64(bytes.data(), bytes.size(), kSeed);
}

Digests compute(const gguf::File& file,
                const std::function<void(uint64_t done, uint64_t total)>& progress) {
    uint64_t total = 0;
    for (const gguf::TensorInfo& t : file.tensors()) total += t.n_bytes;
    Digests digests;
    digests.tensors.reserve(file.tensors().size());
    State all = new_state();
    uint64_t done = 0;
    for (const gguf::TensorInfo& t : file.tensors()) {
        State one = new_state();
        auto data = file.tensor_data(t);
        for (size_t at = 0; at < data.size(); at += kSlice) {
            const auto slice = data.subspan(at, std::min(kSlice, data.size() - at));
            XXH64_update(one.get(), slice.data(), slice.size());
            XXH64_update(all.get(), slice.data(), slice.size());
            done += slice.size();
            if (progress) progress(done, total);
        }
        digests.tensors.push_back(XXH64_digest(one.get()));
    }
    digests.all = XXH64_digest(all.get());
    return digests;
}

std::optional<Digests> stored(const gguf::File& file) {
    const gguf::Value* algorithm = file.find(kAlgorithmKey);
    const gguf::Value* tensors = file.find(kTensorsKey);
    const gguf::Value* all = file.find(kAllKey);
    if (algorithm == nullptr && tensors == nullptr && all == nullptr) return std::nullopt;
    if (algorithm == nullptr || tensors == nullptr || all == nullptr) {
        throw Error(file.path() + ": the digest keys are incomplete: " + kAlgorithmKey + ", " +
                    kTensorsKey + " and " + kAllKey + " go together");
    }
    const std::string name = file.get_string(kAlgorithmKey);
    if (name != kAlgorithm) {
        throw Error(file.path() + ": unknown digest algorithm '" + name + "' (known: xxh64)");
    }
    if (tensors->type() != gguf::ValueType::ARRAY ||
        tensors->element_type() != gguf::ValueType::UINT64) {
        throw Error(file.path() + ": " + kTensorsKey + " must be an array of uint64");
    }
    if (tensors->array_size() != file.tensors().size()) {
        throw Error(file.path() + ": " + kTensorsKey + " has " +
                    std::to_string(tensors->array_size()) + " digests for " +
                    std::to_string(file.tensors().size()) + " tensors");
    }
    Digests digests;
    digests.tensors.resize(tensors->array_size());
    std::memcpy(digests.tensors.data(), tensors->raw_scalars().data(),
                digests.tensors.size() * sizeof(uint64_t));
    if (all->type() != gguf::ValueType::UINT64) {
        throw Error(file.path() + ": " + kAllKey + " must be uint64");
    }
    digests.all = all->raw_bits();
    return digests;
}

std::vector<gguf::KeyValue> to_metadata(const Digests& digests) {
    std::vector<uint8_t> bytes(digests.tensors.size() * sizeof(uint64_t));
    if (!bytes.empty()) std::memcpy(bytes.data(), digests.tensors.data(), bytes.size());
    std::vector<gguf::KeyValue> out;
    out.push_back({kAlgorithmKey, gguf::Value::from_string(kAlgorithm)});
    out.push_back(
        {kTensorsKey, gguf::Value::from_scalar_array(gguf::ValueType::UINT64, std::move(bytes))});
    out.push_back({kAllKey, gguf::Value::from_uint(gguf::ValueType::UINT64, digests.all)});
    return out;
}

std::string hex(uint64_t digest) {
    char buffer[17];
    std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(digest));
    return buffer;
}

}  // namespace tessera::digest
