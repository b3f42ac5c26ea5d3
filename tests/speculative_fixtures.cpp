#include "tests/speculative_fixtures.h"

#include <algorithm>

#include "backends/backend.h"
#include "tests/test_paths.h"

namespace tessera::test {

std::string speculative_model(const std::string& arch) {
    return source_dir() + "/tests/fixtures/speculative/" + arch + ".gguf";
}

ContextOptions small_context(bool keep_hidden_states) {
    return ContextOptions{
        .n_ctx = 256, .n_batch = 64, .n_threads = 2, .keep_hidden_states = keep_hidden_states};
}

DraftHeadsOptions small_heads() {
    return DraftHeadsOptions{.n_ctx = 256, .n_threads = 2};
}

std::vector<std::string> backends_present() {
    std::vector<std::string> backends;
    for (const backend::DeviceInfo& info : backend::list_devices()) {
        if (std::find(backends.begin(), backends.end(), info.backend) == backends.end()) {
            backends.push_back(info.backend);
        }
    }
    return backends;
}

int32_t argmax(std::span<const float> logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<int32_t> plain_greedy(const std::shared_ptr<const Model>& model,
                                  std::span<const int32_t> prompt, size_t n,
                                  const ContextOptions& options) {
    Context context(model, options);
    std::vector<int32_t> out;
    std::span<const float> logits = context.decode(prompt);
    while (out.size() < n) {
        out.push_back(argmax(logits));
        logits = context.decode({&out.back(), 1});
    }
    return out;
}

}  // namespace tessera::test
