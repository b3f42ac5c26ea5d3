#include "runtime/context.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "formats/error.h"
#include "runtime/graph_builder.h"
#include "runtime/models/forward.h"

namespace tessera {

namespace {

// Buffers are never allocated empty; a graph without inputs still gets a small one.
constexpr uint64_t kMinBufferBytes = 256;
// Compiled passes a context keeps (one per batch size and logits mode met).
constexpr size_t kMaxCompiledPasses = 16;

uint32_t context_size(const Model& model, const ContextOptions& options) {
    return options.n_ctx != 0 ? options.n_ctx : model.hparams().n_ctx_train;
}

// Tokens per pass: n_batch, but never more than the context holds.
uint32_t batch_size(const Model& model, const ContextOptions& options) {
    if (options.n_batch == 0) throw Error("context: n_batch must be at least 1");
    if (options.n_threads < 0) throw Error("context: n_threads must be >= 0");
    return std::min(options.n_batch, context_size(model, options));
}

}  // namespace

// A compiled forward pass and where its per-step inputs are.
struct Context::Compiled {
    std::unique_ptr<backend::Executable> executable;
    backend::Tensor tokens;
    backend::Tensor positions;
    backend::Tensor kept_rows;
    bool has_kept_rows = false;
    backend::Tensor drafts;       // verification passes
    backend::Tensor draft_probs;  // verification with draft distributions
    backend::Tensor parents;      // tree verification
    backend::Tensor attention_mask;
    backend::Tensor window_attention_mask;
    bool has_window_attention_mask = false;
    uint32_t n_logit_rows = 0;
    uint64_t last_used = 0;  // the decode step it last ran in
};

Context::Context(std::shared_ptr<const Model> model, const ContextOptions& options)
    : model_(std::move(model)),
      device_(model_->device()),
      n_batch_(batch_size(*model_, options)),
      cache_(device_, model_->hparams().n_layer,
             int64_t{model_->hparams().head_dim_k} * model_->hparams().n_head_kv,
             context_size(*model_, options), options.kv_type),
      keep_hidden_(options.keep_hidden_states) {
    backend::QueueOptions queue_options;
    queue_options.n_threads = options.n_threads;
    queue_ = device_.create_queue(queue_options);

    // Size the inputs and activations for the largest pass this context runs, so that passes
    // compiled later fit in the same buffers.
    const BuiltGraph largest =
        build(n_batch_, n_batch_ > 1 ? PassKind::AllLogits : PassKind::LastLogits);
    input_capacity_ = std::max(largest.input_bytes, kMinBufferBytes);
    activation_capacity_ = std::max(largest.activation_bytes, kMinBufferBytes);
    inputs_ = device_.allocate(input_capacity_, backend::MemoryKind::HostVisible);
    activations_ = device_.allocate(activation_capacity_, backend::MemoryKind::DeviceLocal);
    logits_capacity_ = 1;
    logits_ =
        device_.allocate(uint64_t{n_vocab()} * sizeof(float), backend::MemoryKind::HostVisible);
    if (keep_hidden_) {
        hidden_ = device_.allocate(uint64_t{model_->hparams().n_embd} * sizeof(float),
                                   backend::MemoryKind::HostVisible);
        hidden_capacity_ = 1;
    }
}

Context::~Context() = default;

std::vector<backend::Buffer*> Context::buffer_table() {
    // Weights first, then inputs, activations, logits, and each layer's K and V cache: the
    // indices build() gives its tensors.
    std::vector<backend::Buffer*> table(model_->weight_buffers().begin(),
                                        model_->weight_buffers().end());
    table.push_back(inputs_.get());
    table.push_back(activations_.get());
    table.push_back(logits_.get());
    for (uint32_t layer = 0; layer < cache_.n_layer(); ++layer) {
        table.push_back(&cache_.keys(layer));
        table.push_back(&cache_.values(layer));
    }
    if (hidden_) table.push_back(hidden_.get());
    return table;
}

BuiltGraph Context::build(uint32_t n_tokens, PassKind kind) const {
    const bool all_logits = kind != PassKind::LastLogits;
    const auto n_weight_buffers = static_cast<uint32_t>(model_->weight_buffers().size());
    const uint32_t inputs_index = n_weight_buffers;
    const uint32_t activations_index = n_weight_buffers + 1;
    const uint32_t logits_index = n_weight_buffers + 2;
    const uint32_t cache_index = n_weight_buffers + 3;

    GraphBuilder g(inputs_index, activations_index);
    const int64_t m = n_tokens;
    ForwardInputs inputs;
    inputs.n_tokens = m;
    inputs.tokens = g.input("tokens", quant::TensorType::I32, {m, 1, 1, 1});
    inputs.positions = g.input("positions", quant::TensorType::I32, {m, 1, 1, 1});
    if (!all_logits && m > 1) {
        inputs.kept_rows = g.input("kept_rows", quant::TensorType::I32, {1, 1, 1, 1});
    }
    std::vector<TensorId> k_cache;
    std::vector<TensorId> v_cache;
    const Shape cache_shape = {cache_.row_elements(), cache_.n_ctx(), 1, 1};
    for (uint32_t layer = 0; layer < cache_.n_layer(); ++layer) {
        k_cache.push_back(g.external("cache_k." + std::to_string(layer), cache_.type(), cache_shape,
                                     cache_index + 2 * layer, 0));
        v_cache.push_back(g.external("cache_v." + std::to_string(layer), cache_.type(), cache_shape,
                                     cache_index + 2 * layer + 1, 0));
    }
    inputs.k_cache = k_cache;
    inputs.v_cache = v_cache;
    if (kind == PassKind::VerifyTree) {
        // A tree is no causal sequence: explicit masks say which columns each token sees.
        const Shape mask_shape = {int64_t{cache_.n_ctx()}, m, 1, 1};
        inputs.attention_mask = g.input("attention_mask", quant::TensorType::F32, mask_shape);
        if (has_window_layers()) {
            inputs.window_attention_mask =
                g.input("window_attention_mask", quant::TensorType::F32, mask_shape);
        }
    }

    Forward forward(g, *model_, inputs);
    const TensorId logits = model_->architecture().forward(forward);
    const backend::Tensor& result = g.tensor(logits);
    const int64_t n_rows = inputs.kept_rows.valid() ? 1 : m;
    if (result.type != quant::TensorType::F32 ||
        result.shape != Shape{int64_t{n_vocab()}, n_rows, 1, 1}) {
        throw Error("forward pass of '" + std::string(model_->architecture().name) +
                    "' returned logits of the wrong shape or type");
    }
    if (keep_hidden_) {
        if (!forward.final_hidden().valid()) {
            throw Error("forward pass of '" + std::string(model_->architecture().name) +
                        "' has no final norm to keep the hidden states of");
        }
        g.place(forward.final_hidden(), cache_index + 2 * cache_.n_layer(), 0);
    }
    if (kind == PassKind::AllLogits || kind == PassKind::LastLogits) {
        g.place(logits, logits_index, 0);
        return g.finish();
    }
    // Verification: the logits stay in the activations; only the verdict lands where the host
    // reads (the logits buffer, which is larger than it).
    const int64_t k = m - 1;
    const TensorId drafts = g.input("drafts", quant::TensorType::I32, {k, 1, 1, 1});
    const TensorId draft_probs =
        kind == PassKind::VerifyWithDraftProbs
            ? g.input("draft_probs", quant::TensorType::F32, {int64_t{n_vocab()}, k, 1, 1})
            : TensorId{};
    const TensorId parents = kind == PassKind::VerifyTree
                                 ? g.input("parents", quant::TensorType::I32, {k, 1, 1, 1})
                                 : TensorId{};
    const TensorId verdict =
        g.draft_verify(logits, drafts, draft_probs, parents, verify_params_, "verdict");
    g.place(verdict, logits_index, 0);
    return g.finish();
}

void Context::prepare_verify(size_t n_drafts, const backend::VerifyParams& params, bool tree) {
    if (n_drafts == 0 || n_drafts + 1 > n_batch_) {
        throw Error("prepare_verify: " + std::to_string(n_drafts) +
                    " drafts and the last token do not fit in a pass of n_batch = " +
                    std::to_string(n_batch_) + " tokens");
    }
    use_verify_params(params);
    compiled_for(static_cast<uint32_t>(n_drafts + 1),
                 tree ? PassKind::VerifyTree : PassKind::Verify);
}

Context::Compiled& Context::compiled_for(uint32_t n_tokens, PassKind kind) {
    // One token: the same pass either way.
    if (n_tokens == 1 && kind == PassKind::AllLogits) kind = PassKind::LastLogits;
    const ShapeKey key{n_tokens, kind};
    if (auto it = compiled_.find(key); it != compiled_.end()) return *it->second;

    BuiltGraph built = build(n_tokens, kind);
    const uint32_t n_logit_rows = kind == PassKind::AllLogits ? n_tokens : 1;
    // A pass that needs more room than the buffers have gets larger buffers; passes compiled
    // over the old ones are dropped (and compiled again when next needed).
    const bool grow_inputs = built.input_bytes > input_capacity_;
    const bool grow_activations = built.activation_bytes > activation_capacity_;
    // Verification keeps the hidden state of every token it decodes (the drafts' heads continue
    // from the last accepted one), though it returns no logits.
    const uint32_t n_hidden_rows = kind == PassKind::LastLogits ? 1 : n_tokens;
    const bool grow_logits = n_logit_rows > logits_capacity_;
    const bool grow_hidden = keep_hidden_ && n_hidden_rows > hidden_capacity_;
    // Each new buffer is allocated before the old one goes, so that a failed allocation leaves
    // the context as it was (less its compiled passes).
    if (grow_inputs || grow_activations || grow_logits || grow_hidden) compiled_.clear();
    if (grow_inputs) {
        inputs_ = device_.allocate(built.input_bytes, backend::MemoryKind::HostVisible);
        input_capacity_ = built.input_bytes;
    }
    if (grow_activations) {
        activations_ = device_.allocate(built.activation_bytes, backend::MemoryKind::DeviceLocal);
        activation_capacity_ = built.activation_bytes;
    }
    if (grow_logits || grow_hidden) {
        // Both buffers are allocated before either replaces its predecessor.
        std::unique_ptr<backend::Buffer> hidden;
        if (grow_hidden) {
            hidden =
                device_.allocate(uint64_t{model_->hparams().n_embd} * n_hidden_rows * sizeof(float),
                                 backend::MemoryKind::HostVisible);
        }
        std::unique_ptr<backend::Buffer> logits;
        if (grow_logits) {
            logits = device_.allocate(uint64_t{n_vocab()} * n_logit_rows * sizeof(float),
                                      backend::MemoryKind::HostVisible);
        }
        if (hidden) {
            hidden_ = std::move(hidden);
            hidden_capacity_ = n_hidden_rows;
        }
        if (logits) {
            logits_ = std::move(logits);
            logits_capacity_ = n_logit_rows;
        }
    }
    // Prompts of many lengths would each keep a pass; past a bound the least recently used
    // goes.
    if (compiled_.size() >= kMaxCompiledPasses) {
        auto oldest = compiled_.begin();
        for (auto it = compiled_.begin(); it != compiled_.end(); ++it) {
            if (it->second->last_used < oldest->second->last_used) oldest = it;
        }
        compiled_.erase(oldest);
    }

    auto compiled = std::make_unique<Compiled>();
    const std::vector<backend::Buffer*> buffers = buffer_table();
    compiled->executable = device_.compile(built.graph, buffers);
    for (const backend::Tensor& tensor : built.graph.tensors) {
        if (tensor.buffer != model_->weight_buffers().size()) continue;  // not an input
        if (tensor.name == "tokens") compiled->tokens = tensor;
        if (tensor.name == "positions") compiled->positions = tensor;
        if (tensor.name == "kept_rows") {
            compiled->kept_rows = tensor;
            compiled->has_kept_rows = true;
        }
        if (tensor.name == "drafts") compiled->drafts = tensor;
        if (tensor.name == "draft_probs") compiled->draft_probs = tensor;
        if (tensor.name == "parents") compiled->parents = tensor;
        if (tensor.name == "attention_mask") compiled->attention_mask = tensor;
        if (tensor.name == "window_attention_mask") {
            compiled->window_attention_mask = tensor;
            compiled->has_window_attention_mask = true;
        }
    }
    compiled->n_logit_rows = n_logit_rows;
    return *compiled_.emplace(key, std::move(compiled)).first->second;
}

void Context::write_input(const backend::Tensor& tensor, std::span<const uint8_t> bytes) {
    write_input_at(tensor, 0, bytes);
}

void Context::write_input_at(const backend::Tensor& tensor, uint64_t byte_offset,
                             std::span<const uint8_t> bytes) {
    const uint64_t offset = tensor.offset + byte_offset;
    if (void* host = inputs_->host_data()) {
        std::memcpy(static_cast<uint8_t*>(host) + offset, bytes.data(), bytes.size());
    } else {
        device_.upload(*inputs_, offset, bytes);
    }
}

void Context::write_input(const backend::Tensor& tensor, std::span<const int32_t> values) {
    write_input(tensor, {reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes()});
}

void Context::run_pass(Compiled& compiled, std::span<const int32_t> tokens, uint64_t seed,
                       std::span<const int32_t> positions) {
    const auto m = static_cast<uint32_t>(tokens.size());
    compiled.last_used = ++n_runs_;
    const uint32_t start = cache_.n_filled();

    write_input(compiled.tokens, tokens);
    if (positions.empty()) {
        std::vector<int32_t> consecutive(m);
        for (uint32_t j = 0; j < m; ++j) consecutive[j] = static_cast<int32_t>(start + j);
        write_input(compiled.positions, consecutive);
    } else {
        write_input(compiled.positions, positions);
    }
    if (compiled.has_kept_rows) {
        const int32_t last_row = static_cast<int32_t>(m - 1);
        write_input(compiled.kept_rows, {&last_row, 1});
    }

    backend::StepValues step;
    step.position = static_cast<int32_t>(start);
    step.n_kv = static_cast<int32_t>(start + m);
    step.seed = seed;
    queue_->submit(*compiled.executable, step);
    queue_->wait();
    cache_.advance(m);
}

std::span<const float> Context::run_batch(std::span<const int32_t> tokens, bool all_logits) {
    Compiled& compiled = compiled_for(static_cast<uint32_t>(tokens.size()),
                                      all_logits ? PassKind::AllLogits : PassKind::LastLogits);
    run_pass(compiled, tokens, 0);

    if (keep_hidden_) {
        const size_t n_hidden = size_t{model_->hparams().n_embd} * compiled.n_logit_rows;
        const size_t kept = hidden_rows_.size();
        hidden_rows_.resize(kept + n_hidden);
        device_.download(
            *hidden_, 0,
            {reinterpret_cast<uint8_t*>(hidden_rows_.data() + kept), n_hidden * sizeof(float)});
    }
    const size_t n_floats = size_t{n_vocab()} * compiled.n_logit_rows;
    if (const void* host = logits_->host_data()) {
        return {static_cast<const float*>(host), n_floats};
    }
    downloaded_.resize(n_floats);
    device_.download(*logits_, 0,
                     {reinterpret_cast<uint8_t*>(downloaded_.data()), n_floats * sizeof(float)});
    return downloaded_;
}

void Context::check_tokens(std::span<const int32_t> tokens, const char* what) const {
    const uint32_t vocabulary = n_vocab();
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i] < 0 || static_cast<uint32_t>(tokens[i]) >= vocabulary) {
            throw Error(std::string(what) + ": token id " + std::to_string(tokens[i]) +
                        " (at index " + std::to_string(i) + ") is outside the vocabulary of " +
                        std::to_string(vocabulary) + " tokens");
        }
    }
}

std::span<const float> Context::decode(std::span<const int32_t> tokens, Logits logits) {
    if (tokens.empty()) throw Error("decode: no tokens given");
    const uint32_t vocabulary = n_vocab();
    check_tokens(tokens, "decode");
    cache_.check_room(tokens.size());

    const bool all_logits = logits == Logits::All;
    const bool several_batches = tokens.size() > n_batch_;
    if (all_logits && several_batches) {
        gathered_.clear();
        gathered_.reserve(size_t{vocabulary} * tokens.size());
    }
    std::span<const float> result;
    hidden_rows_.clear();
    hidden_view_ = {};
    for (size_t first = 0; first < tokens.size(); first += n_batch_) {
        // Logits::Last keeps only the last batch's row (and its hidden state).
        if (!all_logits) hidden_rows_.clear();
        const size_t n = std::min<size_t>(n_batch_, tokens.size() - first);
        result = run_batch(tokens.subspan(first, n), all_logits);
        if (all_logits && several_batches)
            gathered_.insert(gathered_.end(), result.begin(), result.end());
    }
    hidden_view_ = hidden_rows_;
    if (all_logits && several_batches) return gathered_;
    return result;
}

Verdict Context::verify(int32_t last_token, std::span<const int32_t> drafts,
                        const backend::VerifyParams& params, uint64_t seed,
                        std::span<const float> draft_probs) {
    const size_t k = drafts.size();
    if (k == 0) throw Error("verify: no draft tokens given");
    if (k + 1 > n_batch_) {
        throw Error("verify: " + std::to_string(k) + " drafts and the last token do not fit in a " +
                    "pass of n_batch = " + std::to_string(n_batch_) + " tokens");
    }
    check_tokens({&last_token, 1}, "verify (last token)");
    check_tokens(drafts, "verify (drafts)");
    if (!draft_probs.empty() && draft_probs.size() != k * n_vocab()) {
        throw Error("verify: draft_probs holds " + std::to_string(draft_probs.size()) +
                    " floats; " + std::to_string(k) + " drafts need " +
                    std::to_string(k * n_vocab()));
    }
    cache_.check_room(k + 1);
    use_verify_params(params);
    const auto m = static_cast<uint32_t>(k + 1);
    Compiled& compiled =
        compiled_for(m, draft_probs.empty() ? PassKind::Verify : PassKind::VerifyWithDraftProbs);

    std::vector<int32_t> tokens;
    tokens.reserve(m);
    tokens.push_back(last_token);
    tokens.insert(tokens.end(), drafts.begin(), drafts.end());
    write_input(compiled.drafts, drafts);
    if (!draft_probs.empty()) {
        write_input(compiled.draft_probs, {reinterpret_cast<const uint8_t*>(draft_probs.data()),
                                           draft_probs.size_bytes()});
    }
    const uint32_t start = cache_.n_filled();
    run_pass(compiled, tokens, seed);

    const std::vector<int32_t> result = download_verdict(2);
    Verdict verdict{result[0], result[1]};
    if (verdict.n_accepted < 0 || static_cast<size_t>(verdict.n_accepted) > k ||
        verdict.next_token < 0 || static_cast<uint32_t>(verdict.next_token) >= n_vocab()) {
        cache_.truncate(start);
        throw Error("verify: the device returned an impossible verdict (" +
                    std::to_string(verdict.n_accepted) + " accepted, next token " +
                    std::to_string(verdict.next_token) + ")");
    }
    // The rejected drafts' cache columns are forgotten: the sequence continues after the last
    // accepted one, as if the rest had never been decoded.
    const auto n_kept = static_cast<uint32_t>(1 + verdict.n_accepted);
    cache_.truncate(start + n_kept);
    hidden_rows_.clear();
    hidden_view_ = {};
    if (keep_hidden_) {
        hidden_rows_.resize(size_t{model_->hparams().n_embd} * n_kept);
        device_.download(
            *hidden_, 0,
            {reinterpret_cast<uint8_t*>(hidden_rows_.data()), hidden_rows_.size() * sizeof(float)});
        hidden_view_ = hidden_rows_;
    }
    return verdict;
}

TreeVerdict Context::verify_tree(int32_t last_token, std::span<const int32_t> tokens,
                                 std::span<const int32_t> parents,
                                 const backend::VerifyParams& params, uint64_t seed) {
    const size_t k = tokens.size();
    if (k == 0) throw Error("verify_tree: the tree has no nodes");
    if (parents.size() != k) {
        throw Error("verify_tree: " + std::to_string(k) + " tokens but " +
                    std::to_string(parents.size()) + " parents; each node needs one");
    }
    if (k + 1 > n_batch_) {
        throw Error("verify_tree: " + std::to_string(k) + " nodes and the last token do not fit " +
                    "in a pass of n_batch = " + std::to_string(n_batch_) + " tokens");
    }
    if (k + 2 > n_vocab()) {
        throw Error("verify_tree: " + std::to_string(k) + " nodes make a verdict larger than the " +
                    "logits row of " + std::to_string(n_vocab()) + " it is returned in");
    }
    check_tokens({&last_token, 1}, "verify_tree (last token)");
    check_tokens(tokens, "verify_tree (nodes)");
    const uint32_t start = cache_.n_filled();
    // Row 0 is the root at `start`; node j (row j + 1) sits one position below its parent.
    std::vector<int32_t> positions(k + 1);
    positions[0] = static_cast<int32_t>(start);
    for (size_t j = 0; j < k; ++j) {
        if (parents[j] < -1 || parents[j] >= static_cast<int32_t>(j)) {
            throw Error("verify_tree: node " + std::to_string(j) + " has parent " +
                        std::to_string(parents[j]) + "; a parent is -1 (the root) or an " +
                        "earlier node");
        }
        positions[j + 1] = positions[static_cast<size_t>(parents[j] + 1)] + 1;
    }
    cache_.check_room(k + 1);
    use_verify_params(params);
    const auto m = static_cast<uint32_t>(k + 1);
    Compiled& compiled = compiled_for(m, PassKind::VerifyTree);

    std::vector<int32_t> pass_tokens;
    pass_tokens.reserve(m);
    pass_tokens.push_back(last_token);
    pass_tokens.insert(pass_tokens.end(), tokens.begin(), tokens.end());
    write_input(compiled.drafts, tokens);
    write_input(compiled.parents, parents);
    write_tree_masks(compiled, parents, positions);
    run_pass(compiled, pass_tokens, seed, positions);

    const std::vector<int32_t> result = download_verdict(k + 2);
    TreeVerdict verdict;
    verdict.n_accepted = result[0];
    verdict.next_token = result[1];
    bool possible = verdict.n_accepted >= 0 && static_cast<size_t>(verdict.n_accepted) <= k &&
                    verdict.next_token >= 0 &&
                    static_cast<uint32_t>(verdict.next_token) < n_vocab();
    // The accepted nodes form a path from the root down.
    int32_t parent = -1;
    for (int32_t i = 0; possible && i < verdict.n_accepted; ++i) {
        const int32_t node = result[2 + static_cast<size_t>(i)];
        possible = node >= 0 && static_cast<size_t>(node) < k && parents[node] == parent;
        verdict.accepted_nodes.push_back(node);
        parent = node;
    }
    if (!possible) {
        cache_.truncate(start);
        throw Error("verify_tree: the device returned an impossible verdict (" +
                    std::to_string(verdict.n_accepted) + " accepted, next token " +
                    std::to_string(verdict.next_token) + ")");
    }
    try {
        compact_tree_columns(start, verdict.accepted_nodes);
    } catch (...) {
        // Half-moved columns hold no sequence: the context goes back to before the pass.
        cache_.truncate(start);
        throw;
    }
    const auto n_kept = static_cast<uint32_t>(1 + verdict.n_accepted);
    cache_.truncate(start + n_kept);

    hidden_rows_.clear();
    hidden_view_ = {};
    if (keep_hidden_) {
        // The root's row and the accepted nodes' rows, in path order.
        const size_t n_embd = model_->hparams().n_embd;
        hidden_rows_.resize(n_embd * n_kept);
        const uint64_t row_bytes = n_embd * sizeof(float);
        for (uint32_t i = 0; i < n_kept; ++i) {
            const uint64_t row =
                i == 0 ? 0 : static_cast<uint64_t>(verdict.accepted_nodes[i - 1]) + 1;
            device_.download(
                *hidden_, row * row_bytes,
                {reinterpret_cast<uint8_t*>(hidden_rows_.data() + i * n_embd), row_bytes});
        }
        hidden_view_ = hidden_rows_;
    }
    return verdict;
}

bool Context::has_window_layers() const {
    const HParams& hp = model_->hparams();
    if (hp.n_swa == 0) return false;
    for (uint32_t layer = 0; layer < hp.n_layer; ++layer) {
        if (hp.is_swa(layer)) return true;
    }
    return false;
}

void Context::use_verify_params(const backend::VerifyParams& params) {
    const auto same = [](const backend::VerifyParams& a, const backend::VerifyParams& b) {
        return a.temperature == b.temperature && a.top_k == b.top_k && a.top_p == b.top_p &&
               a.min_p == b.min_p && a.acceptance == b.acceptance &&
               a.typical_epsilon == b.typical_epsilon && a.typical_delta == b.typical_delta;
    };
    if (same(params, verify_params_)) return;
    std::erase_if(compiled_, [](const auto& entry) {
        const PassKind kind = entry.first.second;
        return kind == PassKind::Verify || kind == PassKind::VerifyWithDraftProbs ||
               kind == PassKind::VerifyTree;
    });
    verify_params_ = params;
}

std::vector<int32_t> Context::download_verdict(size_t n_values) {
    std::vector<int32_t> result(n_values);
    const size_t n_bytes = n_values * sizeof(int32_t);
    if (const void* host = logits_->host_data()) {
        std::memcpy(result.data(), host, n_bytes);
    } else {
        device_.download(*logits_, 0, {reinterpret_cast<uint8_t*>(result.data()), n_bytes});
    }
    return result;
}

void Context::write_tree_masks(const Compiled& compiled, std::span<const int32_t> parents,
                               std::span<const int32_t> positions) {
    const auto m = static_cast<uint32_t>(positions.size());
    const uint32_t start = cache_.n_filled();
    const uint32_t n_kv = start + m;  // FLASH_ATTN reads only these columns of each row
    const uint64_t row_stride = uint64_t{cache_.n_ctx()} * sizeof(float);
    const float hidden = -std::numeric_limits<float>::infinity();
    const auto window = static_cast<int64_t>(model_->hparams().n_swa);

    // sees[c]: whether the current row's token may attend to pass column c (its ancestors,
    // the root and itself).
    std::vector<uint8_t> sees(m);
    std::vector<float> row(n_kv);
    for (uint32_t r = 0; r < m; ++r) {
        std::fill(sees.begin(), sees.end(), uint8_t{0});
        sees[0] = 1;
        for (int32_t node = static_cast<int32_t>(r) - 1; node >= 0; node = parents[node]) {
            sees[static_cast<size_t>(node) + 1] = 1;
        }
        // Column c holds position c before the pass, and positions[c - start] within it.
        const auto position_of = [&](uint32_t c) -> int64_t {
            return c < start ? int64_t{c} : int64_t{positions[c - start]};
        };
        const auto seen = [&](uint32_t c) { return c < start || sees[c - start] != 0; };
        for (uint32_t c = 0; c < n_kv; ++c) row[c] = seen(c) ? 0.0f : hidden;
        const auto bytes = [&] {
            return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(row.data()),
                                            row.size() * sizeof(float));
        };
        write_input_at(compiled.attention_mask, r * row_stride, bytes());
        if (compiled.has_window_attention_mask) {
            // A sliding-window query at position p sees positions p - window + 1 .. p.
            const int64_t first_seen = int64_t{positions[r]} - window + 1;
            for (uint32_t c = 0; c < n_kv; ++c) {
                if (position_of(c) < first_seen) row[c] = hidden;
            }
            write_input_at(compiled.window_attention_mask, r * row_stride, bytes());
        }
    }
}

void Context::compact_tree_columns(uint32_t root_column, std::span<const int32_t> accepted_nodes) {
    // Accepted node i of the path sits in column root_column + 1 + accepted_nodes[i] and belongs
    // in column root_column + 1 + i. Node indices grow down the path, so every move is to a lower
    // column and the moves in path order never overwrite a column still to be read; consecutive
    // nodes move together in one copy per layer and K or V.
    const uint64_t column_bytes = quant::row_bytes(quant::type_info(cache_.type()),
                                                   static_cast<uint64_t>(cache_.row_elements()));
    const auto n_accepted = static_cast<uint32_t>(accepted_nodes.size());
    uint32_t i = 0;
    while (i < n_accepted) {
        const auto from = static_cast<uint32_t>(accepted_nodes[i]);
        uint32_t run = 1;
        while (i + run < n_accepted &&
               static_cast<uint32_t>(accepted_nodes[i + run]) == from + run) {
            ++run;
        }
        if (from != i) {
            const uint64_t source = (uint64_t{root_column} + 1 + from) * column_bytes;
            const uint64_t target = (uint64_t{root_column} + 1 + i) * column_bytes;
            for (uint32_t layer = 0; layer < cache_.n_layer(); ++layer) {
                device_.copy(cache_.keys(layer), source, cache_.keys(layer), target,
                             run * column_bytes);
                device_.copy(cache_.values(layer), source, cache_.values(layer), target,
                             run * column_bytes);
            }
        }
        i += run;
    }
}

void Context::reset() {
    cache_.reset();
    hidden_rows_.clear();
    hidden_view_ = {};
}

void Context::truncate(uint32_t n_keep) {
    cache_.truncate(n_keep);
}

}  // namespace tessera
