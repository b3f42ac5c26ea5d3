// A loaded model: its GGUF file (memory-mapped), hyper-parameters, architecture, the device it
// runs on and its weights bound there. Immutable once loaded and shared (shared_ptr<const
// Model>) by every context that runs it.
//
// On the CPU the weights are used in place, zero-copy: one buffer wraps the whole mapped file and
// each weight is a view at its offset. A device that cannot read host memory gets the weights
// uploaded once, into buffers of its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backends/backend.h"
#include "formats/gguf/file.h"
#include "runtime/graph_builder.h"
#include "runtime/hparams.h"
#include "runtime/models/registry.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tessera {

struct ModelOptions {
    std::string backend = "cpu";  // "cpu", "vulkan", "cuda"
    int device = 0;               // index within the backend
    // Called as the weights are read or uploaded, with bytes done and bytes in all, from the
    // loading thread. When given, weights used in place are also read once through (so that the
    // first reply does not stall on page faults) and the reading is what it reports.
    std::function<void(uint64_t done, uint64_t total)> on_progress;
};

class Model {
  public:
    // A weight bound on the device: where its bytes are in the model's weight buffers.
    struct Weight {
        std::string name;
        quant::TensorType type = quant::TensorType::F32;
        Shape shape = {1, 1, 1, 1};
        uint32_t buffer = 0;  // index into weight_buffers()
        uint64_t offset = 0;
    };

    // Opens, checks and binds a model. Throws tessera::Error naming the file and what is wrong:
    // an unknown architecture (listing the supported ones), a missing key, a missing or
    // misshapen tensor (named, with the shape expected), a device that cannot be opened.
    static std::shared_ptr<const Model> load(const std::string& path,
                                             const ModelOptions& options = {});
    // The same on a device the caller has opened (several models on one device).
    static std::shared_ptr<const Model> load(const std::string& path,
                                             std::shared_ptr<backend::Device> device);

    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const gguf::File& file() const { return file_; }
    const HParams& hparams() const { return hparams_; }
    const Architecture& architecture() const { return *architecture_; }
    // The file's vocabulary; nullptr when it has none (tokenizer.ggml.model absent), in which
    // case the model runs on token ids only.
    const Tokenizer* tokenizer() const { return tokenizer_ ? &*tokenizer_ : nullptr; }
    // The device is shared and thread-safe; contexts allocate and compile on it.
    backend::Device& device() const { return *device_; }
    const std::shared_ptr<backend::Device>& device_handle() const { return device_; }

    // The weights of the architecture that the file holds; nullptr for an optional one it lacks.
    const Weight* find_weight(std::string_view name) const;
    // Throws tessera::Error naming the weight when absent.
    const Weight& weight(std::string_view name) const;
    // The buffers the weights live in, indexed by Weight::buffer.
    std::span<backend::Buffer* const> weight_buffers() const { return weight_buffer_table_; }
    // Bytes of the weights the model uses, whether read in place or uploaded.
    uint64_t weight_bytes() const { return weight_bytes_; }
    // True when the device reads the weights in place from the mapped file (zero-copy).
    bool weights_in_place() const { return weights_in_place_; }

  private:
    using ProgressCallback = std::function<void(uint64_t done, uint64_t total)>;
    // Checks the file, then opens the device with `open` and binds the weights there.
    static std::shared_ptr<const Model> load_with(
        const std::string& path, const std::function<std::shared_ptr<backend::Device>()>& open,
        const ProgressCallback& on_progress);
    Model(gguf::File file, HParams hparams, const Architecture* architecture,
          std::optional<Tokenizer> tokenizer, std::shared_ptr<backend::Device> device);
    void bind_weights(const std::vector<WeightSpec>& specs, const ProgressCallback& on_progress);

    gguf::File file_;
    HParams hparams_;
    const Architecture* architecture_;
    std::optional<Tokenizer> tokenizer_;
    std::shared_ptr<backend::Device> device_;
    std::unordered_map<std::string, Weight> weights_;
    std::vector<std::unique_ptr<backend::Buffer>> weight_buffers_;
    std::vector<backend::Buffer*> weight_buffer_table_;
    uint64_t weight_bytes_ = 0;
    bool weights_in_place_ = false;
};

}  // namespace tessera
