// xxHash64 digests of tensor data: one per tensor and one over all tensors, stored in a GGUF
// file under the `tessera.digest.` keys and verified on request. Other GGUF readers ignore
// those keys.
//
// The stored form:
//   tessera.digest.algorithm  string          "xxh64"
//   tessera.digest.tensors    array of uint64 one digest per tensor, in tensor-info order
//   tessera.digest.all        uint64          the digest of every tensor's bytes, concatenated in
//                                              tensor-info order (padding excluded)
// All digests use seed 0.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/gguf/file.h"

namespace tessera::digest {

inline constexpr const char* kAlgorithmKey = "tessera.digest.algorithm";
inline constexpr const char* kTensorsKey = "tessera.digest.tensors";
inline constexpr const char* kAllKey = "tessera.digest.all";
inline constexpr const char* kAlgorithm = "xxh64";

uint64_t xxh64(std::span<const uint8_t> bytes);

struct Digests {
    std::vector<uint64_t> tensors;  // in tensor-info order
    uint64_t all = 0;
};

// Computes the digests of a file's tensor data. `progress`, when given, is called with the bytes
// hashed so far and the total.
Digests compute(const gguf::File& file,
                const std::function<void(uint64_t done, uint64_t total)>& progress = {});

// The digests stored in the file, or nothing when it carries none. Throws tessera::Error when
// the keys are present but malformed (wrong type, wrong count, unknown algorithm).
std::optional<Digests> stored(const gguf::File& file);

// The metadata values to store for these digests, as (key, value) pairs for gguf::Writer.
std::vector<gguf::KeyValue> to_metadata(const Digests& digests);

// "0123456789abcdef".
std::string hex(uint64_t digest);

}  // namespace tessera::digest
