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
    const BuiltGraph largest = build(n_batch_, n_batch_ > 1);
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

BuiltGraph Context::build(uint32_t n_tokens, bool all_logits) const {
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
    g.place(logits, logits_index, 0);
    if (keep_hidden_) {
        if (!forward.final_hidden().valid()) {
            throw Error("forward pass of '" + std::string(model_->architecture().name) +
                        "' has no final norm to keep the hidden states of");
        }
        g.place(forward.final_hidden(), cache_index + 2 * cache_.n_layer(), 0);
    }
    return g.finish();
}

Context::Compiled& Context::compiled_for(uint32_t n_tokens, bool all_logits) {
    if (n_tokens == 1) all_logits = false;  // one token: the same pass either way
    const ShapeKey key{n_tokens, all_logits};
    if (auto it = compiled_.find(key); it != compiled_.end()) return *it->second;

    BuiltGraph built = build(n_tokens, all_logits);
    const uint32_t n_logit_rows = all_logits ? n_tokens : 1;
    // A pass that needs more room than the buffers have gets larger buffers; passes compiled
    // over the old ones are dropped (and compiled again when next needed).
    const bool grow_inputs = built.input_bytes > input_capacity_;
    const bool grow_activations = built.activation_bytes > activation_capacity_;
    const bool grow_logits = n_logit_rows > logits_capacity_;
    // Each new buffer is allocated before the old one goes, so that a failed allocation leaves
    // the context as it was (less its compiled passes).
    if (grow_inputs || grow_activations || grow_logits) compiled_.clear();
    if (grow_inputs) {
        inputs_ = device_.allocate(built.input_bytes, backend::MemoryKind::HostVisible);
        input_capacity_ = built.input_bytes;
    }
    if (grow_activations) {
        activations_ = device_.allocate(built.activation_bytes, backend::MemoryKind::DeviceLocal);
        activation_capacity_ = built.activation_bytes;
    }
    if (grow_logits) {
        // Both buffers are allocated before either replaces its predecessor.
        std::unique_ptr<backend::Buffer> hidden;
        if (keep_hidden_) {
            hidden =
                device_.allocate(uint64_t{model_->hparams().n_embd} * n_logit_rows * sizeof(float),
                                 backend::MemoryKind::HostVisible);
        }
        logits_ = device_.allocate(uint64_t{n_vocab()} * n_logit_rows * sizeof(float),
                                   backend::MemoryKind::HostVisible);
        if (hidden) hidden_ = std::move(hidden);
        logits_capacity_ = n_logit_rows;
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
    }
    compiled->n_logit_rows = n_logit_rows;
    return *compiled_.emplace(key, std::move(compiled)).first->second;
}

void Context::write_input(const backend::Tensor& tensor, std::span<const int32_t> values) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(values.data());
    const size_t size = values.size_bytes();
    if (void* host = inputs_->host_data()) {
        std::memcpy(static_cast<uint8_t*>(host) + tensor.offset, bytes, size);
    } else {
        device_.upload(*inputs_, tensor.offset, {bytes, size});
    }
}

std::span<const float> Context::run_batch(std::span<const int32_t> tokens, bool all_logits) {
    const auto m = static_cast<uint32_t>(tokens.size());
    Compiled& compiled = compiled_for(m, all_logits);
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
    queue_->submit(*compiled.executable, step);
    queue_->wait();
    cache_.advance(m);

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

std::span<const float> Context::decode(std::span<const int32_t> tokens, Logits logits) {
    if (tokens.empty()) throw Error("decode: no tokens given");
    const uint32_t vocabulary = n_vocab();
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i] < 0 || static_cast<uint32_t>(tokens[i]) >= vocabulary) {
            throw Error("decode: token id " + std::to_string(tokens[i]) + " (at index " +
                        std::to_string(i) + ") is outside the vocabulary of " +
                        std::to_string(vocabulary) + " tokens");
        }
    }
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

void Context::reset() {
    cache_.reset();
    hidden_rows_.clear();
    hidden_view_ = {};
}

void Context::truncate(uint32_t n_keep) {
    cache_.truncate(n_keep);
}

}  // namespace tessera
