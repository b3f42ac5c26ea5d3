#include "runtime/model.h"

#include <algorithm>
#include <functional>
#include <unordered_set>
#include <utility>

#include "formats/error.h"
#include "runtime/speculative/head_weights.h"

namespace tessera {

namespace {

// Weights uploaded to a device go into buffers of at most this size (many GPU APIs cap a single
// allocation near 4 GiB), each weight whole, at offsets aligned for any device.
constexpr uint64_t kMaxUploadBufferBytes = uint64_t{1} << 30;
constexpr uint64_t kWeightAlignment = 256;
// Uploads go in slices, so that a device's staging memory stays small.
constexpr uint64_t kUploadSliceBytes = uint64_t{64} << 20;
// The smallest page size of the platforms tessera runs on: touching one byte in each brings a
// mapped range into memory.
constexpr size_t kPageBytes = 4096;

std::string shape_string(const Shape& shape) {
    int n_dims = backend::kMaxDims;
    while (n_dims > 1 && shape[static_cast<size_t>(n_dims - 1)] == 1) --n_dims;
    std::string text = "[";
    for (int d = 0; d < n_dims; ++d) {
        if (d > 0) text += ", ";
        text += std::to_string(shape[static_cast<size_t>(d)]);
    }
    return text + "]";
}

Shape shape_of(const gguf::TensorInfo& info) {
    Shape shape = {1, 1, 1, 1};
    for (size_t d = 0; d < info.shape.size() && d < shape.size(); ++d) {
        shape[d] = static_cast<int64_t>(info.shape[d]);
    }
    return shape;
}

std::string type_name(quant::TensorType type) {
    return std::string(quant::type_info(type).name);
}

// Checks the file's tensors against what the architecture needs, in the order it lists them, so
// the first fault named is the first a reader of llama.cpp's loader would expect.
void check_weights(const gguf::File& file, const HParams& hparams,
                   const std::vector<WeightSpec>& specs) {
    const std::string arch = "architecture '" + hparams.architecture + "'";
    std::unordered_set<std::string_view> known;
    for (const WeightSpec& spec : specs) {
        known.insert(spec.name);
        const gguf::TensorInfo* info = file.find_tensor(spec.name);
        if (info == nullptr) {
            if (spec.required) {
                throw Error(file.path() + ": tensor '" + spec.name + "' is missing (" + arch +
                            " needs it, with shape " + shape_string(spec.shape) + ")");
            }
            continue;
        }
        const Shape shape = shape_of(*info);
        if (info->shape.size() > backend::kMaxDims || shape != spec.shape) {
            throw Error(file.path() + ": tensor '" + spec.name + "' has shape " +
                        shape_string(shape) + " but " + arch +
                        " with these hyper-parameters needs " + shape_string(spec.shape));
        }
        if (spec.role == WeightRole::Vector && info->type != quant::TensorType::F32) {
            throw Error(file.path() + ": tensor '" + spec.name + "' has type " +
                        type_name(info->type) + "; norm weights and biases must be f32");
        }
        if (spec.role == WeightRole::Matrix && !quant::type_info(info->type).has_codec) {
            throw Error(file.path() + ": tensor '" + spec.name + "' has type " +
                        type_name(info->type) + ", which tessera cannot compute with yet");
        }
    }
    for (const gguf::TensorInfo& info : file.tensors()) {
        if (known.contains(info.name)) continue;
        std::string why = "is not part of " + arch + " as tessera runs it";
        if (info.name == "rope_freqs.weight") {
            why += " (RoPE frequency factors, as in Llama 3.1 and later, are not supported yet)";
        } else if (info.name.find("attn_qkv") != std::string::npos) {
            why += " (fused QKV weights are not supported)";
        }
        throw Error(file.path() + ": tensor '" + info.name + "' " + why);
    }
}

}  // namespace

Model::Model(gguf::File file, HParams hparams, const Architecture* architecture,
             std::optional<Tokenizer> tokenizer, std::shared_ptr<backend::Device> device)
    : file_(std::move(file)),
      hparams_(std::move(hparams)),
      architecture_(architecture),
      tokenizer_(std::move(tokenizer)),
      device_(std::move(device)) {}

std::shared_ptr<const Model> Model::load(const std::string& path, const ModelOptions& options) {
    // The file is checked before the device is opened: its faults are the likelier ones.
    return load_with(
        path, [&] { return backend::open_device(options.backend, options.device); },
        options.on_progress);
}

std::shared_ptr<const Model> Model::load(const std::string& path,
                                         std::shared_ptr<backend::Device> device) {
    if (device == nullptr) throw Error(path + ": no device to load the model on");
    return load_with(
        path, [&] { return device; }, nullptr);
}

std::shared_ptr<const Model> Model::load_with(
    const std::string& path, const std::function<std::shared_ptr<backend::Device>()>& open,
    const ProgressCallback& on_progress) {
    gguf::File file = gguf::File::open(path);

    const std::string name = file.get_string("general.architecture");
    const Architecture* architecture = find_architecture(name);
    if (architecture == nullptr) {
        throw Error(path + ": architecture '" + name + "' is not supported (tessera runs " +
                    supported_architectures() + ")");
    }
    HParams hparams = read_hparams(file);
    architecture->load_hparams(file, hparams);
    std::vector<WeightSpec> specs = architecture->weights(hparams);
    for (WeightSpec& spec : draft_head_weights(hparams, *architecture)) {
        specs.push_back(std::move(spec));
    }
    check_weights(file, hparams, specs);
    std::optional<Tokenizer> tokenizer;
    if (file.find("tokenizer.ggml.model") != nullptr) {
        tokenizer = Tokenizer::from_gguf(file);
        // Token ids index the embedding rows; a vocabulary longer than the rows would make
        // tokens that cannot run. (Fewer tokens than rows is common: padded embeddings.)
        if (tokenizer->n_vocab() > hparams.n_vocab) {
            throw Error(path + ": the vocabulary has " + std::to_string(tokenizer->n_vocab()) +
                        " tokens but the token embeddings only " + std::to_string(hparams.n_vocab) +
                        " rows");
        }
    }

    std::shared_ptr<backend::Device> device = open();
    std::shared_ptr<Model> model(new Model(std::move(file), std::move(hparams), architecture,
                                           std::move(tokenizer), std::move(device)));
    model->bind_weights(specs, on_progress);
    return model;
}

void Model::bind_weights(const std::vector<WeightSpec>& specs,
                         const ProgressCallback& on_progress) {
    std::vector<const gguf::TensorInfo*> present;
    uint64_t total_bytes = 0;
    for (const WeightSpec& spec : specs) {
        if (const gguf::TensorInfo* info = file_.find_tensor(spec.name)) {
            present.push_back(info);
            total_bytes += info->n_bytes;
        }
    }
    uint64_t done_bytes = 0;
    const auto report = [&](uint64_t n) {
        done_bytes += n;
        if (on_progress) on_progress(done_bytes, total_bytes);
    };
    const auto record = [&](const gguf::TensorInfo& info, uint32_t buffer, uint64_t offset) {
        weights_.emplace(info.name, Weight{info.name, info.type, shape_of(info), buffer, offset});
        weight_bytes_ += info.n_bytes;
    };

    const std::span<const uint8_t> bytes = file_.bytes();
    if (auto mapped = device_->wrap_host(bytes.data(), bytes.size())) {
        weights_in_place_ = true;
        weight_buffers_.push_back(std::move(mapped));
        for (const gguf::TensorInfo* info : present) {
            record(*info, 0, file_.data_offset() + info->offset);
            if (on_progress) {
                // Reading one byte per page brings the weight into memory now, while the caller
                // shows progress, rather than as page faults during the first forward pass.
                const std::span<const uint8_t> data = file_.tensor_data(*info);
                volatile uint8_t sink = 0;
                for (size_t at = 0; at < data.size(); at += kPageBytes) sink = sink ^ data[at];
                report(data.size());
            }
        }
    } else {
        // In file order, so that each buffer holds neighbouring weights.
        std::sort(present.begin(), present.end(),
                  [](const gguf::TensorInfo* a, const gguf::TensorInfo* b) {
                      return a->offset < b->offset;
                  });
        size_t first = 0;
        while (first < present.size()) {
            // Take weights while they fit in one buffer (a weight larger than the cap gets a
            // buffer of its own).
            uint64_t size = 0;
            size_t last = first;
            std::vector<uint64_t> offsets;
            while (last < present.size()) {
                const uint64_t start =
                    (size + kWeightAlignment - 1) / kWeightAlignment * kWeightAlignment;
                const uint64_t end = start + present[last]->n_bytes;
                if (last > first && end > kMaxUploadBufferBytes) break;
                offsets.push_back(start);
                size = end;
                ++last;
            }
            const auto index = static_cast<uint32_t>(weight_buffers_.size());
            weight_buffers_.push_back(device_->allocate(size, backend::MemoryKind::DeviceLocal));
            backend::Buffer& buffer = *weight_buffers_.back();
            for (size_t i = first; i < last; ++i) {
                const std::span<const uint8_t> data = file_.tensor_data(*present[i]);
                for (uint64_t done = 0; done < data.size(); done += kUploadSliceBytes) {
                    const uint64_t n = std::min<uint64_t>(kUploadSliceBytes, data.size() - done);
                    device_->upload(buffer, offsets[i - first] + done, data.subspan(done, n));
                    report(n);
                }
                record(*present[i], index, offsets[i - first]);
            }
            first = last;
        }
    }
    for (const auto& buffer : weight_buffers_) weight_buffer_table_.push_back(buffer.get());
}

const Model::Weight* Model::find_weight(std::string_view name) const {
    auto it = weights_.find(std::string(name));
    return it == weights_.end() ? nullptr : &it->second;
}

const Model::Weight& Model::weight(std::string_view name) const {
    const Weight* found = find_weight(name);
    if (found == nullptr) {
        throw Error(file_.path() + ": the model has no weight '" + std::string(name) + "'");
    }
    return *found;
}

}  // namespace tessera
