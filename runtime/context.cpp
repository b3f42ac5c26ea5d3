#include "runtime/context.h"

#include <algorithm>
#include <cstring>
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
    const TensorId verdict =
        g.draft_verify(logits, drafts, draft_probs, TensorId{}, verify_params_, "verdict");
    g.place(verdict, logits_index, 0);
    return g.finish();
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
    }
    compiled->n_logit_rows = n_logit_rows;
    return *compiled_.emplace(key, std::move(compiled)).first->second;
}

void Context::write_input(const backend::Tensor& tensor, std::span<const uint8_t> bytes) {
    if (void* host = inputs_->host_data()) {
        std::memcpy(static_cast<uint8_t*>(host) + tensor.offset, bytes.data(), bytes.size());
    } else {
        device_.upload(*inputs_, tensor.offset, bytes);
    }
}

void Context::write_input(const backend::Tensor& tensor, std::span<const int32_t> values) {
    write_input(tensor, {reinterpret_cast<const uint8_t*>(values.data()), values.size_bytes()});
}

void Context::run_pass(Compiled& compiled, std::span<const int32_t> tokens, uint64_t seed) {
    const auto m = static_cast<uint32_t>(tokens.size());
    compiled.last_used = ++n_runs_;
    const uint32_t start = cache_.n_filled();

    std::vector<int32_t> positions(m);
    for (uint32_t j = 0; j < m; ++j) positions[j] = static_cast<int32_t>(start + j);
    write_input(compiled.tokens, tokens);
    write_input(compiled.positions, positions);
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
    // Passes are compiled with their sampling parameters: new parameters drop the old passes.
    const auto same = [](const backend::VerifyParams& a, const backend::VerifyParams& b) {
        return a.temperature == b.temperature && a.top_k == b.top_k && a.top_p == b.top_p &&
               a.min_p == b.min_p && a.acceptance == b.acceptance &&
               a.typical_epsilon == b.typical_epsilon && a.typical_delta == b.typical_delta;
    };
    if (!same(params, verify_params_)) {
        std::erase_if(compiled_, [](const auto& entry) {
            return entry.first.second == PassKind::Verify ||
                   entry.first.second == PassKind::VerifyWithDraftProbs;
        });
        verify_params_ = params;
    }
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

    std::vector<int32_t> result(2);
    if (const void* host = logits_->host_data()) {
        std::memcpy(result.data(), host, 2 * sizeof(int32_t));
    } else {
        device_.download(*logits_, 0, {reinterpret_cast<uint8_t*>(result.data()), 8});
    }
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

void Context::reset() {
    cache_.reset();
    hidden_rows_.clear();
    hidden_view_ = {};
}

void Context::truncate(uint32_t n_keep) {
    cache_.truncate(n_keep);
}

}  // namespace tessera
