// What the speculative-decoding tests share: the synthetic models with draft heads, the
// backends to run on, and plain greedy decoding, which every speculative run must reproduce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/speculative/draft_heads.h"
#include "runtime/speculative/speculative_stats.h"

namespace tessera::test {

// The architectures of tests/fixtures/speculative/ (tests/refgen/make_speculative_models.py).
inline constexpr const char* kSpeculativeArchitectures[] = {"llama", "qwen2", "qwen3", "gemma3"};

// tests/fixtures/speculative/ARCH.gguf: a tiny model with next-n blocks and Medusa heads.
std::string speculative_model(const std::string& arch);

// A small context on two threads for those models, keeping hidden states for head drafters.
ContextOptions small_context(bool keep_hidden_states);
// And their draft heads' options to match.
DraftHeadsOptions small_heads();

// What a speculative run gave: its tokens and its statistics.
struct SpeculativeOutcome {
    std::vector<int32_t> tokens;
    SpeculativeStats stats;
};

// Each backend built in that has a device, once.
std::vector<std::string> backends_present();

// The index of the largest logit, the first one on ties (as greedy sampling chooses).
int32_t argmax(std::span<const float> logits);

// The first n tokens greedy decoding gives after `prompt`, one token per decode.
std::vector<int32_t> plain_greedy(const std::shared_ptr<const Model>& model,
                                  std::span<const int32_t> prompt, size_t n,
                                  const ContextOptions& options);

}  // namespace tessera::test
