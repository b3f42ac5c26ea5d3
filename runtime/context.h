// A context runs a model over one sequence of tokens: it owns the sequence's KV cache, its queue
// (and with it the CPU thread pool), its compiled forward passes and the buffers they run in.
// Several contexts share one Model, each on its own thread if wished; one context is used from
// one thread at a time.
//
// Forward passes are compiled once per shape and reused: one for a single token (decoding) and
// one per prompt batch size met (up to n_batch tokens), each with last-token-only or all-token
// logits. What changes per step (the token ids, the positions) is written into the inputs
// buffer and StepValues; nothing is rebuilt per token.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"

namespace tessera {

struct ContextOptions {
    uint32_t n_ctx = 4096;   // positions the KV cache holds; 0: the model's training context
    uint32_t n_batch = 512;  // most tokens per forward pass; longer inputs are split
    int n_threads = 0;       // CPU worker threads; 0: one per core
    quant::TensorType kv_type = quant::TensorType::F16;  // F16 or Q8_0
    // Also keep the final hidden states (the LM head's input, after the final norm) of the rows
    // whose logits decode() returns: what speculative draft heads start from.
    bool keep_hidden_states = false;
};

enum class Logits : uint8_t {
    Last,  // the last token's logits only (generation)
    All,   // every token's logits (perplexity, speculative verification)
};

// What Context::verify decided: how many drafts the target accepted and the token it adds after
// them (a correction where it rejected one, a bonus token where it accepted them all).
struct Verdict {
    int32_t n_accepted = 0;
    int32_t next_token = -1;
};

class Context {
  public:
    // Throws tessera::Error for options that do not fit (n_batch 0, a KV type or context size the
    // cache refuses) or when the device lacks the memory.
    explicit Context(std::shared_ptr<const Model> model, const ContextOptions& options = {});
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    // Runs the model over `tokens`, which continue the sequence at position(), and returns the
    // logits: n_vocab floats of the last token (Logits::Last), or n_vocab floats per token in
    // order (Logits::All). The span stays valid until the next decode() or reset(). Throws
    // tessera::Error, before running anything, for an empty input, a token id outside the
    // vocabulary, or tokens that would go past n_ctx; and for a failed run, after which the
    // context's position is where the failed batch started.
    std::span<const float> decode(std::span<const int32_t> tokens, Logits logits = Logits::Last);

    // Speculative verification (backends/backend.h, DRAFT_VERIFY) in one pass: decodes
    // [last_token, drafts...] at position(), keeps the k+1 rows of logits on the device, verifies
    // the drafts there with `params` and the step's `seed`, and downloads only the verdict. The
    // context then holds last_token and the accepted drafts: the rejected ones are rolled back
    // (truncate), so position() grows by 1 + n_accepted. `draft_probs` is empty (deterministic
    // drafts) or k distributions of n_vocab floats, one per draft, in order. Throws
    // tessera::Error, before running anything, for no drafts, more than n_batch - 1 of them, a
    // token outside the vocabulary, draft_probs of the wrong size, or no room in the cache.
    Verdict verify(int32_t last_token, std::span<const int32_t> drafts,
                   const backend::VerifyParams& params, uint64_t seed,
                   std::span<const float> draft_probs = {});

    // With ContextOptions::keep_hidden_states, the final hidden states of the last decode():
    // n_embd floats for each row of logits it returned, in the same order; after a verify(), those
    // of last_token and the accepted drafts (1 + n_accepted rows). Valid until the next decode(),
    // verify() or reset(). Empty without the option or before any decode.
    std::span<const float> hidden_states() const { return hidden_view_; }

    // Tokens the context holds: the position of the next one.
    uint32_t position() const { return cache_.n_filled(); }
    // Forgets the sequence; the next decode starts at position 0.
    void reset();
    // Forgets the tokens from position n_keep on, keeping the ones before: the next decode
    // continues at n_keep. No-op when n_keep >= position(). Used to reuse a shared prefix (a chat
    // re-rendered after a turn) and to roll back rejected speculative tokens.
    void truncate(uint32_t n_keep);

    const Model& model() const { return *model_; }
    uint32_t n_ctx() const { return cache_.n_ctx(); }
    uint32_t n_batch() const { return n_batch_; }
    uint32_t n_vocab() const { return model_->hparams().n_vocab; }
    bool keeps_hidden_states() const { return keep_hidden_; }
    uint64_t kv_cache_bytes() const { return cache_.bytes(); }
    uint64_t activation_bytes() const { return activation_capacity_; }
    // Compiled forward passes held, at most 16 (for tests and diagnostics).
    size_t n_compiled() const { return compiled_.size(); }

  private:
    struct Compiled;
    // What a pass gives back: the last token's logits, every token's, or a DRAFT_VERIFY verdict
    // (with or without draft distributions).
    enum class PassKind : uint8_t { LastLogits, AllLogits, Verify, VerifyWithDraftProbs };
    using ShapeKey = std::pair<uint32_t, PassKind>;  // tokens per pass, what it gives back

    Compiled& compiled_for(uint32_t n_tokens, PassKind kind);
    BuiltGraph build(uint32_t n_tokens, PassKind kind) const;
    std::vector<backend::Buffer*> buffer_table();
    void write_input(const backend::Tensor& tensor, std::span<const uint8_t> bytes);
    void write_input(const backend::Tensor& tensor, std::span<const int32_t> values);
    // Writes the tokens and their positions, runs the pass and advances the cache.
    void run_pass(Compiled& compiled, std::span<const int32_t> tokens, uint64_t seed);
    std::span<const float> run_batch(std::span<const int32_t> tokens, bool all_logits);
    void check_tokens(std::span<const int32_t> tokens, const char* what) const;

    std::shared_ptr<const Model> model_;
    backend::Device& device_;
    uint32_t n_batch_;
    KvCache cache_;
    std::unique_ptr<backend::Queue> queue_;
    std::unique_ptr<backend::Buffer> inputs_;
    std::unique_ptr<backend::Buffer> activations_;
    std::unique_ptr<backend::Buffer> logits_;
    uint64_t input_capacity_ = 0;
    uint64_t activation_capacity_ = 0;
    uint64_t logits_capacity_ = 0;  // in logit rows (tokens)
    std::map<ShapeKey, std::unique_ptr<Compiled>> compiled_;
    backend::VerifyParams verify_params_;  // the ones the compiled verification passes use
    uint64_t n_runs_ = 0;
    std::vector<float> downloaded_;  // logits of a device whose buffers the host cannot read
    std::vector<float> gathered_;    // all logits of an input split into several batches
    bool keep_hidden_;
    std::unique_ptr<backend::Buffer> hidden_;  // final hidden states, hidden_capacity_ rows
    uint64_t hidden_capacity_ = 0;             // in rows (tokens)
    std::vector<float> hidden_rows_;           // their copy on the host, gathered over batches
    std::span<const float> hidden_view_;
};

}  // namespace tessera
