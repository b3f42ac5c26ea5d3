// The speculative draft heads stored in a model's file, run on the model's device: next-n
// (multi-token prediction) blocks and Medusa heads (docs/speculative-heads.md). They start
// from the main model's final hidden states (Context with ContextOptions::keep_hidden_states)
// and give draft logits and greedy draft tokens; a drafter of the speculative loop builds its
// candidates from them.
//
// Indexing. Let t_0, t_1, ... be the sequence and h_i the main model's final hidden state at
// index i (the LM head's input, which predicts t_{i+1}).
//   - Next-n depth d (0-based; the file's block n_layer + d) reads, for each index i, the pair
//     (h_i for d = 0, else depth d-1's output at i; embedding of t_{i+1+d}) and predicts
//     t_{i+2+d}. Each depth has its own KV cache whose column i holds index i, so a depth is fed
//     the indices in order, once each; its rotary position is i + 1 + d (the embedded token's).
//   - Medusa head k (0-based) reads h_i alone and predicts t_{i+2+k}. Heads hold no state.
//
// Drafting k tokens with fewer next-n blocks than k (one, as most files ship): feed a depth its
// own output, as vLLM does: after next_n(0, h_i, t_{i+1}) drafted d_{i+2}, call
// next_n(0, out.hidden, {d_{i+2}}) for index i + 1, and so on. Once the target has verified,
// truncate() to the first index whose state was not the main model's and feed the main model's
// hidden states from there.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <tuple>
#include <vector>

#include "backends/backend.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"

namespace tessera {

struct DraftHeadsOptions {
    uint32_t n_ctx = 4096;  // indices each next-n KV cache holds; 0: the model's training context
    int n_threads = 0;      // CPU worker threads; 0: one per core
    quant::TensorType kv_type = quant::TensorType::F16;  // F16 or Q8_0
};

// What a draft pass returns; the spans stay valid until the next pass or reset().
struct DraftOutput {
    std::span<const float> logits;    // n_vocab floats per row
    std::span<const int32_t> tokens;  // the argmax of each row (the first on ties)
    // Next-n: the block's output hidden state of each column (n_embd floats), what depth d + 1
    // reads. Medusa: empty.
    std::span<const float> hidden;
};

class DraftHeads {
  public:
    // Throws tessera::Error when the model has no draft heads, for options that do not fit, or
    // when the device lacks the memory.
    explicit DraftHeads(std::shared_ptr<const Model> model, const DraftHeadsOptions& options = {});
    ~DraftHeads();
    DraftHeads(const DraftHeads&) = delete;
    DraftHeads& operator=(const DraftHeads&) = delete;

    uint32_t n_next_n() const { return model_->hparams().n_nextn_layer; }
    uint32_t n_medusa() const { return model_->hparams().n_medusa_head; }

    // Runs next-n depth `depth` over m = next_tokens.size() columns continuing that depth's
    // cache at position(depth): column j is index i = position(depth) + j, `hidden` holds m
    // states of n_embd floats and next_tokens[j] = t_{i+1+depth}. Rows of the result are the
    // columns. Throws tessera::Error, before running anything, for a depth the file lacks,
    // sizes that do not match, a token outside the vocabulary or a full cache.
    DraftOutput next_n(uint32_t depth, std::span<const float> hidden,
                       std::span<const int32_t> next_tokens);
    // Runs every Medusa head over m hidden states (n_embd floats each): row k * m + j of the
    // result is head k at column j. Throws tessera::Error when the file has no Medusa heads or
    // the size is not a whole number of states.
    DraftOutput medusa(std::span<const float> hidden);

    // Indices depth `depth` holds: the index of its next column.
    uint32_t position(uint32_t depth) const;
    // Forgets the indices from n_keep on at every depth (rollback after a rejection).
    void truncate(uint32_t n_keep);
    void reset();

    const Model& model() const { return *model_; }

  private:
    struct Compiled;
    enum class Kind : uint8_t { NextN, Medusa };
    using ShapeKey = std::tuple<Kind, uint32_t, uint32_t>;  // kind, depth, columns

    Compiled& compiled_for(Kind kind, uint32_t depth, uint32_t n_columns);
    std::unique_ptr<Compiled> build(Kind kind, uint32_t depth, uint32_t n_columns);
    // Runs a pass; a next-n pass's token at cache column c sits at rotary position
    // c + 1 + depth.
    DraftOutput run(Compiled& compiled, std::span<const float> hidden,
                    std::span<const int32_t> tokens, const backend::StepValues& step,
                    uint32_t depth);

    std::shared_ptr<const Model> model_;
    backend::Device& device_;
    std::vector<std::unique_ptr<KvCache>> caches_;  // one per next-n depth
    std::unique_ptr<backend::Queue> queue_;
    std::map<ShapeKey, std::unique_ptr<Compiled>> compiled_;
    uint64_t n_runs_ = 0;
    std::vector<float> logits_;
    std::vector<int32_t> tokens_;
    std::vector<float> hidden_;
};

}  // namespace tessera
