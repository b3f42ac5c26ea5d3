// Requantizing a GGUF file from any type with a codec to a llama-quantize target (Q4_K_M, Q8_0,
// F16, ...), streaming: the input is memory-mapped, each tensor is converted a chunk of rows at
// a time on several threads and written as it comes, so memory stays small whatever the model's
// size. The output is what llama-quantize writes for the same input and target without an
// importance matrix: the same metadata, tensor order, tensor types and, with bit-exact codecs,
// the same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/gguf/file.h"
#include "formats/quant/tensor_type.h"
#include "runtime/quant_mix.h"

namespace tessera {

// Where a conversion is, for a progress bar.
struct QuantizeProgress {
    uint64_t bytes_done = 0;  // input tensor bytes converted or copied so far
    uint64_t bytes_total = 0;
    size_t tensors_done = 0;
    size_t n_tensors = 0;
    std::string_view tensor;  // the tensor being worked on
};

struct QuantizeOptions {
    bool pure = false;       // every quantizable tensor in the target's base type, no mix
    unsigned n_threads = 0;  // 0: std::thread::hardware_concurrency()
    // Called after each chunk. It may throw to stop the conversion: the exception propagates and
    // no output file is left behind.
    std::function<void(const QuantizeProgress&)> on_progress;
};

// One tensor of the output.
struct QuantizedTensor {
    std::string name;
    std::vector<uint64_t> shape;  // ggml order
    quant::TensorType from = quant::TensorType::F32;
    quant::TensorType to = quant::TensorType::F32;
    uint64_t n_elements = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
};

struct QuantizeSummary {
    std::vector<QuantizedTensor> tensors;  // in output order
    uint64_t n_elements = 0;
    uint64_t bytes_in = 0;  // tensor data, without the header
    uint64_t bytes_out = 0;

    double bits_per_weight() const {
        return n_elements == 0
                   ? 0.0
                   : static_cast<double>(bytes_out) * 8.0 / static_cast<double>(n_elements);
    }
};

// What quantize_model would write, without writing: every tensor's new type and size. Throws
// tessera::Error, naming the tensor, for a tensor that would have to change type but whose type
// has no codec (IQ types, ...), and for a shape no type fits.
QuantizeSummary plan_quantize(const gguf::File& in, const QuantTarget& target, bool pure);

// Converts `in_path` into `out_path`. The output appears under its name only when complete (a
// failed or interrupted run leaves none, and an existing file untouched until the end). Copies
// all metadata except digests (tessera.digest.*, which would no longer match) and split keys;
// sets general.quantization_version to 2 and general.file_type to the target's. Tensors that
// keep their type are copied byte for byte. Throws tessera::Error on any fault.
QuantizeSummary quantize_model(const std::string& in_path, const std::string& out_path,
                               const QuantTarget& target, const QuantizeOptions& options = {});

}  // namespace tessera
