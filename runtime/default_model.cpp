#include "runtime/default_model.h"

#include <cstdlib>
#include <filesystem>

namespace tessera {

namespace {
std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}
}  // namespace

std::string default_model_dir() {
    if (const std::string dir = env("TESSERA_MODEL_DIR"); !dir.empty()) return dir;
    if (const std::string cache = env("XDG_CACHE_HOME"); !cache.empty()) {
        return cache + "/tessera/models";
    }
    const std::string home = env("HOME");
    return (home.empty() ? std::string(".") : home) + "/.cache/tessera/models";
}

std::optional<std::string> find_default_model() {
    const std::string path = default_model_dir() + "/" + kDefaultModelFile;
    std::error_code error;
    if (std::filesystem::is_regular_file(path, error)) return path;
    return std::nullopt;
}

}  // namespace tessera
