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

// What Context::verify_tree decided: the accepted path from the root down (node indices into the
// tree, n_accepted of them) and the token the target adds after it.
struct TreeVerdict {
    int32_t n_accepted = 0;
    int32_t next_token = -1;
    std::vector<int32_t> accepted_nodes;
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

    // Compiles now the pass that verify() (a chain of n_drafts) or verify_tree() (a tree of
    // n_drafts nodes) will run with `params`, so that a device that cannot run it says so before
    // anything is generated. Throws tessera::Error naming the node and why, or for n_drafts 0 or
    // more than n_batch - 1.
    void prepare_verify(size_t n_drafts, const backend::VerifyParams& params, bool tree);

    // Tree verification (Medusa-style; DRAFT_VERIFY with parents) in one pass: node j of the tree
    // holds tokens[j] and hangs below parents[j] (-1: below last_token, the root; otherwise an
    // earlier node, so parents come before their children). The pass decodes [last_token, nodes]
    // with last_token at position() and node j at position() + 1 + its depth, each attending
    // only to the sequence so far, the root and its own ancestors (not to its siblings), keeps
    // the logits on the device, verifies the tree there with `params` and `seed` (children tried
    // in index order) and downloads only the verdict. The accepted nodes' cache columns then
    // move, on the device, to the positions right after last_token, and the rest is forgotten:
    // the context holds last_token and the accepted path, position() grows by 1 + n_accepted,
    // and what follows decodes as if only those tokens had been decoded. Throws tessera::Error,
    // before running anything, for an empty tree, more than n_batch - 1 nodes, tokens and
    // parents of different lengths, a parent that is not -1 or an earlier node, a token outside
    // the vocabulary, or no room in the cache.
    TreeVerdict verify_tree(int32_t last_token, std::span<const int32_t> tokens,
                            std::span<const int32_t> parents, const backend::VerifyParams& params,
                            uint64_t seed);

    // With ContextOptions::keep_hidden_states, the final hidden states of the last decode():
    // n_embd floats for each row of logits it returned, in the same order; after a verify(), those
    // of last_token and the accepted drafts (1 + n_accepted rows), and after a verify_tree(), of
    // last_token and the accepted nodes in path order. Valid until the next decode(), verify(),
    // verify_tree() or reset(). Empty without the option or before any decode.
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
    // (with or without draft distributions, or over a tree of drafts).
    enum class PassKind : uint8_t {
        LastLogits,
        AllLogits,
        Verify,
        VerifyWithDraftProbs,
        VerifyTree
    };
    using ShapeKey = std::pair<uint32_t, PassKind>;  // tokens per pass, what it gives back

    Compiled& compiled_for(uint32_t n_tokens, PassKind kind);
    bool has_window_layers() const;
    BuiltGraph build(uint32_t n_tokens, PassKind kind) const;
    std::vector<backend::Buffer*> buffer_table();
    void write_input(const backend::Tensor& tensor, std::span<const uint8_t> bytes);
    void write_input(const backend::Tensor& tensor, std::span<const int32_t> values);
    void write_input_at(const backend::Tensor& tensor, uint64_t byte_offset,
                        std::span<const uint8_t> bytes);
    // Writes the tokens and their positions (consecutive from position() when `positions` is
    // empty), runs the pass and advances the cache by the tokens' count.
    void run_pass(Compiled& compiled, std::span<const int32_t> tokens, uint64_t seed,
                  std::span<const int32_t> positions = {});
    // Passes are compiled with their sampling parameters: new parameters drop the old
    // verification passes.
    void use_verify_params(const backend::VerifyParams& params);
    // The first n_values I32 of a verification pass's verdict.
    std::vector<int32_t> download_verdict(size_t n_values);
    // Moves the accepted tree nodes' K and V columns to the positions right after the root's.
    void compact_tree_columns(uint32_t root_column, std::span<const int32_t> accepted_nodes);
    // Fills the explicit masks of a tree pass over tokens whose positions are given.
    void write_tree_masks(const Compiled& compiled, std::span<const int32_t> parents,
                          std::span<const int32_t> positions);
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
