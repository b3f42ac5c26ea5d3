#include "runtime/quantize_model.h"

#include <algorithm>
#include <exception>
#include <thread>

#include "formats/error.h"
#include "formats/gguf/writer.h"
#include "formats/quant/codec.h"

namespace tessera {

namespace {

using quant::TensorType;

// Rows are converted this many elements at a time: 16 MiB of floats, the most an output chunk
// takes (in F32), so memory stays bounded on any model.
constexpr uint64_t kChunkElements = uint64_t{4} << 20;
// Below this many elements per thread, starting a thread costs more than it saves.
constexpr uint64_t kMinElementsPerThread = uint64_t{32} << 10;
// Tensors that keep their type are copied in slices of this size, for the progress bar.
constexpr uint64_t kCopySliceBytes = uint64_t{16} << 20;

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION

bool has_codec(TensorType type) {
    return quant::type_info(type).has_codec;
}

std::string type_name(TensorType type) {
    return std::string(quant::type_info(type).name);
}

// Keys llama-quantize does not carry over, or that this writer writes itself.
bool dropped_key(std::string_view key, const gguf::File& in) {
    if (key.starts_with("tessera.digest.")) return true;  // the bytes change; so would digests
    if (key == "general.file_type" || key == "general.quantization_version") return true;
    if (key == "split.no" || key == "split.count" || key == "split.tensors.count") return true;
    // The writer writes general.alignment itself when it is not the default.
    return key == "general.alignment" && in.alignment() != gguf::kDefaultAlignment;
}

// Dequantizes rows of `from` and quantizes them into `to`, spread over up to n_threads threads.
void convert_rows(TensorType from, TensorType to, uint64_t row_length, const uint8_t* src,
                  uint8_t* dst, uint64_t n_rows, unsigned n_threads) {
    const uint64_t src_row_bytes = quant::row_bytes(quant::type_info(from), row_length);
    const uint64_t dst_row_bytes = quant::row_bytes(quant::type_info(to), row_length);
    const auto n = static_cast<int64_t>(row_length);

    const uint64_t by_size = std::max<uint64_t>(1, n_rows * row_length / kMinElementsPerThread);
    const auto n_workers = static_cast<unsigned>(std::min<uint64_t>({n_threads, by_size, n_rows}));
    std::vector<std::exception_ptr> failures(n_workers);
    const auto work = [&](unsigned worker) {
        try {
            const uint64_t first = n_rows * worker / n_workers;
            const uint64_t last = n_rows * (worker + 1) / n_workers;
            std::vector<float> row(row_length);
            for (uint64_t r = first; r < last; ++r) {
                quant::dequantize_row(from, src + r * src_row_bytes, row.data(), n);
                quant::quantize_row(to, row.data(), dst + r * dst_row_bytes, n);
            }
        } catch (...) {
            failures[worker] = std::current_exception();
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(n_workers - 1);
    for (unsigned worker = 1; worker < n_workers; ++worker) threads.emplace_back(work, worker);
    work(0);
    for (std::thread& thread : threads) thread.join();
    for (const std::exception_ptr& failure : failures) {
        if (failure) std::rethrow_exception(failure);
    }
}

}  // namespace

QuantizeSummary plan_quantize(const gguf::File& in, const QuantTarget& target, bool pure) {
    std::vector<TensorChoice> choices;
    try {
        choices = choose_tensor_types(ModelShape::from_file(in), in.tensors(), target, pure);
    } catch (const Error& e) {
        throw Error(in.path() + ": " + e.what());
    }
    QuantizeSummary summary;
    summary.tensors.reserve(choices.size());
    for (const TensorChoice& choice : choices) {
        const gguf::TensorInfo& info = in.tensors()[choice.source_index];
        if (choice.from != choice.to && (!has_codec(choice.from) || !has_codec(choice.to))) {
            const TensorType missing = has_codec(choice.from) ? choice.to : choice.from;
            throw Error(in.path() + ": tensor '" + choice.name + "' would go from " +
                        type_name(choice.from) + " to " + type_name(choice.to) +
                        ", but tessera has no codec for " + type_name(missing) +
                        " (tensors can only keep such a type)");
        }
        QuantizedTensor tensor;
        tensor.name = choice.name;
        tensor.shape = choice.shape;
        tensor.from = choice.from;
        tensor.to = choice.to;
        tensor.n_elements = info.n_elements;
        tensor.bytes_in = info.n_bytes;
        tensor.bytes_out = choice.from == choice.to
                               ? info.n_bytes
                               : gguf::Writer::tensor_bytes({choice.name, choice.shape, choice.to});
        summary.n_elements += tensor.n_elements;
        summary.bytes_in += tensor.bytes_in;
        summary.bytes_out += tensor.bytes_out;
        summary.tensors.push_back(std::move(tensor));
    }
    return summary;
}

QuantizeSummary quantize_model(const std::string& in_path, const std::string& out_path,
                               const QuantTarget& target, const QuantizeOptions& options) {
    if (target.file_type == FileType::MOSTLY_Q2_K_S) {
        // llama.cpp refuses it too: its Q2_K tensors are garbage without importance data.
        throw Error(
            "Q2_K_S needs an importance matrix, which tessera quantize does not take; "
            "use Q2_K");
    }
    const gguf::File in = gguf::File::open(in_path);
    QuantizeSummary summary = plan_quantize(in, target, options.pure);

    gguf::Writer writer(out_path, in.alignment());
    for (const gguf::KeyValue& kv : in.metadata()) {
        if (!dropped_key(kv.key, in)) writer.add(kv.key, kv.value);
    }
    // Last, as llama.cpp's gguf_set_val_u32 removes a key and appends it.
    writer.add("general.quantization_version",
               gguf::Value::from_uint(gguf::ValueType::UINT32, kQuantizationVersion));
    writer.add(
        "general.file_type",
        gguf::Value::from_uint(gguf::ValueType::UINT32, static_cast<uint32_t>(target.file_type)));
    for (const QuantizedTensor& tensor : summary.tensors) {
        writer.add_tensor({tensor.name, tensor.shape, tensor.to});
    }
    writer.write_header();

    unsigned n_threads =
        options.n_threads != 0 ? options.n_threads : std::thread::hardware_concurrency();
    n_threads = std::max(1u, n_threads);
    QuantizeProgress progress;
    progress.bytes_total = summary.bytes_in;
    progress.n_tensors = summary.tensors.size();
    const auto report = [&](uint64_t bytes) {
        progress.bytes_done += bytes;
        if (options.on_progress) options.on_progress(progress);
    };

    std::vector<uint8_t> chunk;
    for (const QuantizedTensor& tensor : summary.tensors) {
        const std::span<const uint8_t> src = in.tensor_data(in.tensor(tensor.name));
        progress.tensor = tensor.name;
        if (tensor.from == tensor.to) {
            for (uint64_t offset = 0; offset < src.size(); offset += kCopySliceBytes) {
                const auto take =
                    static_cast<size_t>(std::min(kCopySliceBytes, src.size() - offset));
                writer.write_tensor_data(src.subspan(static_cast<size_t>(offset), take));
                report(take);
            }
        } else {
            const uint64_t row_length = tensor.shape[0];
            const uint64_t n_rows = tensor.n_elements / row_length;
            const uint64_t src_row_bytes =
                quant::row_bytes(quant::type_info(tensor.from), row_length);
            const uint64_t dst_row_bytes =
                quant::row_bytes(quant::type_info(tensor.to), row_length);
            const uint64_t rows_per_chunk = std::max<uint64_t>(1, kChunkElements / row_length);
            chunk.resize(static_cast<size_t>(std::min(rows_per_chunk, n_rows) * dst_row_bytes));
            for (uint64_t first = 0; first < n_rows; first += rows_per_chunk) {
                const uint64_t rows = std::min(rows_per_chunk, n_rows - first);
                try {
                    convert_rows(tensor.from, tensor.to, row_length,
                                 src.data() + first * src_row_bytes, chunk.data(), rows, n_threads);
                } catch (const Error& e) {
                    throw Error(in_path + ": tensor '" + tensor.name + "': " + e.what());
                }
                writer.write_tensor_data(
                    std::span(chunk.data(), static_cast<size_t>(rows * dst_row_bytes)));
                report(rows * src_row_bytes);
            }
        }
        ++progress.tensors_done;
        report(0);
    }
    writer.finish();
    return summary;
}

}  // namespace tessera
