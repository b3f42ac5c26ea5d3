// Where the default model (Gemma 3 270M in Q4_K_M) lives once scripts/fetch_model.py has put it
// in the user's cache, and what to tell a user who does not have it yet.
#pragma once

#include <optional>
#include <string>

namespace tessera {

inline constexpr const char* kDefaultModelFile = "gemma-3-270m-q4_k_m.gguf";
inline constexpr const char* kDefaultModelHint =
    "no model given and the default model is not downloaded; run scripts/setup.sh (or "
    "scripts/fetch_model.py) to fetch Gemma 3 270M, or pass -m FILE";

// $TESSERA_MODEL_DIR, else $XDG_CACHE_HOME/tessera/models, else ~/.cache/tessera/models.
std::string default_model_dir();
// The default model's path when the file exists there, else nothing.
std::optional<std::string> find_default_model();

}  // namespace tessera
