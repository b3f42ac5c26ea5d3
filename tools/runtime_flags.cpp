#include "tools/runtime_flags.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <thread>

#include "tools/commands.h"

namespace tessera::tools {

void RuntimeFlags::add_to(ArgParser& parser, bool with_context_size) {
    parser.option("-m, --model", &model, "FILE", "the GGUF model (default: the default model)");
    parser.option("--backend", &backend, "NAME", "cpu, vulkan or cuda (default: cpu)");
    parser.option("--device", &device, "N", "the device's index within the backend (default: 0)");
    if (with_context_size) {
        std::string help =
            "positions the context holds; 0: the model's training context (default: ";
        help.append(std::to_string(n_ctx)).append(")");
        parser.option("-c, --ctx-size", &n_ctx, "N", std::move(help));
    }
    std::string batch_help = "most tokens per forward pass (default: ";
    batch_help.append(std::to_string(n_batch)).append(")");
    parser.option("-b, --batch-size", &n_batch, "N", std::move(batch_help));
    parser.option("-t, --threads", &n_threads, "N", "CPU threads; 0: one per core (default: 0)");
    parser.option("--kv-type", &kv_type, "TYPE", "KV cache type: f16 or q8_0 (default: f16)");
}

std::string RuntimeFlags::model_path() const {
    return model_or_default(model);
}

ModelOptions RuntimeFlags::model_options() const {
    ModelOptions options;
    options.backend = backend;
    options.device = static_cast<int>(checked("--device", device, 0, 1024));
    return options;
}

ContextOptions RuntimeFlags::context_options() const {
    ContextOptions options;
    options.n_ctx = static_cast<uint32_t>(checked("-c", n_ctx, 0, 1 << 24));
    options.n_batch = static_cast<uint32_t>(checked("-b", n_batch, 1, 1 << 24));
    options.n_threads = static_cast<int>(checked("-t", n_threads, 0, 4096));
    const auto type = quant::type_from_name(kv_type);
    if (!type || (*type != quant::TensorType::F16 && *type != quant::TensorType::Q8_0)) {
        throw UsageError("--kv-type must be f16 or q8_0, got '" + kv_type + "'");
    }
    options.kv_type = *type;
    return options;
}

int RuntimeFlags::threads_used() const {
    if (n_threads > 0) return static_cast<int>(n_threads);
    const unsigned hardware = std::thread::hardware_concurrency();
    return hardware == 0 ? 1 : static_cast<int>(hardware);
}

float parse_float(const std::string& flag, const std::string& text) {
    float value = 0.0f;
    const char* end = text.data() + text.size();
    const auto [ptr, error] = std::from_chars(text.data(), end, value);
    if (text.empty() || error != std::errc() || ptr != end || !std::isfinite(value)) {
        std::string message = flag;
        message.append(" expects a number, got '").append(text).append("'");
        throw UsageError(message);
    }
    return value;
}

int64_t checked(const std::string& flag, int64_t value, int64_t low, int64_t high) {
    if (value < low || value > high) {
        std::string message = flag;
        message.append(" must be between ")
            .append(std::to_string(low))
            .append(" and ")
            .append(std::to_string(high))
            .append(", got ")
            .append(std::to_string(value));
        throw UsageError(message);
    }
    return value;
}

}  // namespace tessera::tools
