#include "runtime/speculative/draft_heads.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "formats/error.h"
#include "runtime/graph_builder.h"
#include "runtime/memory_planner.h"
#include "runtime/models/forward.h"
#include "runtime/speculative/head_weights.h"

namespace tessera {

namespace {

constexpr uint64_t kMinBufferBytes = 256;
// Compiled passes kept (one per kind, depth and column count met).
constexpr size_t kMaxCompiledPasses = 16;

uint64_t align_up(uint64_t bytes) {
    return (bytes + kActivationAlignment - 1) / kActivationAlignment * kActivationAlignment;
}

// The logits of normed hidden states: the head's own matrix when the file has one, else the
// model's output (with its bias when it has one); then the model's final softcap, if any, as
// its own logits get.
TensorId head_logits(Forward& f, TensorId normed, const std::string& own_head,
                     const std::string& name) {
    GraphBuilder& g = f.graph();
    TensorId logits;
    if (f.has_weight(own_head)) {
        logits = g.mul_mat(f.weight(own_head), normed, name);
    } else {
        logits = g.mul_mat(f.output_weight(), normed, name);
        if (f.has_weight("output.bias")) {
            logits = g.add(logits, f.weight("output.bias"), name + "+bias");
        }
    }
    const float cap = f.hparams().final_logit_softcap;
    if (cap > 0.0f) logits = g.softcap(logits, cap, name + ".softcapped");
    return logits;
}

}  // namespace

// A compiled draft pass with the buffers it runs in and where its inputs and outputs are.
struct DraftHeads::Compiled {
    std::unique_ptr<backend::Executable> executable;
    std::unique_ptr<backend::Buffer> inputs;
    std::unique_ptr<backend::Buffer> activations;
    std::unique_ptr<backend::Buffer> outputs;
    backend::Tensor tokens_input;
    backend::Tensor positions_input;
    backend::Tensor hidden_input;
    bool reads_tokens = false;
    uint64_t n_rows = 0;  // logits rows
    uint64_t tokens_offset = 0;
    uint64_t hidden_offset = 0;
    uint64_t n_hidden = 0;  // floats of output hidden states
    uint64_t last_used = 0;
};

DraftHeads::DraftHeads(std::shared_ptr<const Model> model, const DraftHeadsOptions& options)
    : model_(std::move(model)), device_(model_->device()) {
    const HParams& hp = model_->hparams();
    if (hp.n_nextn_layer == 0 && hp.n_medusa_head == 0) {
        throw Error(model_->file().path() +
                    ": the model has no speculative draft heads (no next-n blocks, no Medusa "
                    "heads)");
    }
    if (options.n_threads < 0) throw Error("draft heads: n_threads must be >= 0");
    const uint32_t n_ctx = options.n_ctx != 0 ? options.n_ctx : hp.n_ctx_train;
    for (uint32_t depth = 0; depth < hp.n_nextn_layer; ++depth) {
        caches_.push_back(std::make_unique<KvCache>(
            device_, 1, int64_t{hp.head_dim_k} * hp.n_head_kv, n_ctx, options.kv_type));
    }
    backend::QueueOptions queue_options;
    queue_options.n_threads = options.n_threads;
    queue_ = device_.create_queue(queue_options);
}

DraftHeads::~DraftHeads() = default;

uint32_t DraftHeads::position(uint32_t depth) const {
    if (depth >= caches_.size()) {
        throw Error("draft heads: next-n depth " + std::to_string(depth) + " but the model has " +
                    std::to_string(caches_.size()));
    }
    return caches_[depth]->n_filled();
}

void DraftHeads::truncate(uint32_t n_keep) {
    for (auto& cache : caches_) cache->truncate(n_keep);
}

void DraftHeads::reset() {
    for (auto& cache : caches_) cache->reset();
}

std::unique_ptr<DraftHeads::Compiled> DraftHeads::build(Kind kind, uint32_t depth,
                                                        uint32_t n_columns) {
    const HParams& hp = model_->hparams();
    const auto n_weight_buffers = static_cast<uint32_t>(model_->weight_buffers().size());
    const uint32_t inputs_index = n_weight_buffers;
    const uint32_t activations_index = n_weight_buffers + 1;
    const uint32_t outputs_index = n_weight_buffers + 2;
    const uint32_t cache_index = n_weight_buffers + 3;
    const int64_t m = n_columns;
    const int64_t n_embd = hp.n_embd;
    const int64_t n_vocab = hp.n_vocab;

    GraphBuilder g(inputs_index, activations_index);
    ForwardInputs inputs;
    inputs.n_tokens = m;
    inputs.tokens = g.input("tokens", quant::TensorType::I32, {m, 1, 1, 1});
    inputs.positions = g.input("positions", quant::TensorType::I32, {m, 1, 1, 1});
    const TensorId hidden = g.input("hidden", quant::TensorType::F32, {n_embd, m, 1, 1});
    const uint32_t n_block = hp.n_layer + hp.n_nextn_layer;
    std::vector<TensorId> k_cache(n_block);
    std::vector<TensorId> v_cache(n_block);
    if (kind == Kind::NextN) {
        const KvCache& cache = *caches_[depth];
        const Shape cache_shape = {cache.row_elements(), cache.n_ctx(), 1, 1};
        const std::string suffix = "." + std::to_string(depth);
        k_cache[hp.n_layer + depth] =
            g.external("nextn_cache_k" + suffix, cache.type(), cache_shape, cache_index, 0);
        v_cache[hp.n_layer + depth] =
            g.external("nextn_cache_v" + suffix, cache.type(), cache_shape, cache_index + 1, 0);
    }
    inputs.k_cache = k_cache;
    inputs.v_cache = v_cache;
    Forward f(g, *model_, inputs);

    auto compiled = std::make_unique<Compiled>();
    std::vector<TensorId> logits;
    std::vector<TensorId> tokens;
    TensorId block_output;
    if (kind == Kind::NextN) {
        const uint32_t b = hp.n_layer + depth;
        const std::string embed = next_n_weight_name(b, "embed_tokens");
        const TensorId table = f.weight(f.has_weight(embed) ? embed : "token_embd.weight");
        const TensorId e = g.get_rows(table, inputs.tokens, "nextn.embd");
        TensorId x = g.mtp_next_n(e, hidden, f.weight(next_n_weight_name(b, "enorm")),
                                  f.weight(next_n_weight_name(b, "hnorm")), hp.rms_eps, "nextn.eh");
        x = g.mul_mat(f.weight(next_n_weight_name(b, "eh_proj")), x, "nextn.eh_proj");
        block_output = model_->architecture().block(f, b, x);
        const std::string head_norm = next_n_weight_name(b, "shared_head_norm");
        const TensorId normed =
            f.norm(block_output, f.has_weight(head_norm) ? head_norm : "output_norm.weight",
                   "nextn.head_norm");
        logits.push_back(
            head_logits(f, normed, next_n_weight_name(b, "shared_head_head"), "nextn.logits"));
        compiled->reads_tokens = true;
    } else {
        for (uint32_t k = 0; k < hp.n_medusa_head; ++k) {
            const std::string head = "medusa." + std::to_string(k);
            TensorId x = hidden;
            for (uint32_t l = 0; l < hp.n_medusa_layer; ++l) {
                const std::string layer = head + "." + std::to_string(l);
                const TensorId z =
                    g.mul_mat(f.weight(medusa_weight_name(k, l)), x, layer + ".proj");
                const std::string bias_name = medusa_bias_name(k, l);
                const TensorId bias = f.has_weight(bias_name) ? f.weight(bias_name) : TensorId{};
                x = g.mtp_medusa(x, z, bias, layer + ".block");
            }
            logits.push_back(head_logits(f, x, medusa_output_name(k), head + ".logits"));
        }
    }
    for (size_t i = 0; i < logits.size(); ++i) {
        tokens.push_back(g.argmax(logits[i], "draft_tokens." + std::to_string(i)));
    }

    // Outputs: every head's logits one after the other, then their tokens, then the hidden
    // states of a next-n block.
    const auto n_rows = static_cast<uint64_t>(m) * logits.size();
    const uint64_t logits_bytes = n_rows * static_cast<uint64_t>(n_vocab) * sizeof(float);
    const uint64_t tokens_offset = align_up(logits_bytes);
    const uint64_t hidden_offset = tokens_offset + align_up(n_rows * sizeof(int32_t));
    const uint64_t n_hidden = block_output.valid() ? static_cast<uint64_t>(m * n_embd) : 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        g.place(logits[i], outputs_index, i * static_cast<uint64_t>(m * n_vocab) * sizeof(float));
        g.place(tokens[i], outputs_index, tokens_offset + i * static_cast<uint64_t>(m) * 4);
    }
    if (block_output.valid()) g.place(block_output, outputs_index, hidden_offset);
    BuiltGraph built = g.finish();

    compiled->inputs = device_.allocate(std::max(built.input_bytes, kMinBufferBytes),
                                        backend::MemoryKind::HostVisible);
    compiled->activations = device_.allocate(std::max(built.activation_bytes, kMinBufferBytes),
                                             backend::MemoryKind::DeviceLocal);
    compiled->outputs =
        device_.allocate(std::max(hidden_offset + n_hidden * sizeof(float), kMinBufferBytes),
                         backend::MemoryKind::HostVisible);
    std::vector<backend::Buffer*> buffers(model_->weight_buffers().begin(),
                                          model_->weight_buffers().end());
    buffers.push_back(compiled->inputs.get());
    buffers.push_back(compiled->activations.get());
    buffers.push_back(compiled->outputs.get());
    if (kind == Kind::NextN) {
        buffers.push_back(&caches_[depth]->keys(0));
        buffers.push_back(&caches_[depth]->values(0));
    }
    compiled->executable = device_.compile(built.graph, buffers);
    for (const backend::Tensor& tensor : built.graph.tensors) {
        if (tensor.buffer != inputs_index) continue;
        if (tensor.name == "tokens") compiled->tokens_input = tensor;
        if (tensor.name == "positions") compiled->positions_input = tensor;
        if (tensor.name == "hidden") compiled->hidden_input = tensor;
    }
    compiled->n_rows = n_rows;
    compiled->tokens_offset = tokens_offset;
    compiled->hidden_offset = hidden_offset;
    compiled->n_hidden = n_hidden;
    return compiled;
}

DraftHeads::Compiled& DraftHeads::compiled_for(Kind kind, uint32_t depth, uint32_t n_columns) {
    const ShapeKey key{kind, depth, n_columns};
    if (auto it = compiled_.find(key); it != compiled_.end()) return *it->second;
    std::unique_ptr<Compiled> compiled = build(kind, depth, n_columns);
    if (compiled_.size() >= kMaxCompiledPasses) {
        auto oldest = compiled_.begin();
        for (auto it = compiled_.begin(); it != compiled_.end(); ++it) {
            if (it->second->last_used < oldest->second->last_used) oldest = it;
        }
        compiled_.erase(oldest);
    }
    return *compiled_.emplace(key, std::move(compiled)).first->second;
}

DraftOutput DraftHeads::run(Compiled& compiled, std::span<const float> hidden,
                            std::span<const int32_t> tokens, const backend::StepValues& step,
                            uint32_t depth) {
    compiled.last_used = ++n_runs_;
    const auto write = [&](const backend::Tensor& tensor, const void* data, size_t size) {
        if (void* host = compiled.inputs->host_data()) {
            std::memcpy(static_cast<uint8_t*>(host) + tensor.offset, data, size);
        } else {
            device_.upload(*compiled.inputs, tensor.offset,
                           {static_cast<const uint8_t*>(data), size});
        }
    };
    write(compiled.hidden_input, hidden.data(), hidden.size_bytes());
    if (compiled.reads_tokens) {
        write(compiled.tokens_input, tokens.data(), tokens.size_bytes());
        std::vector<int32_t> positions(tokens.size());
        for (size_t j = 0; j < positions.size(); ++j) {
            // The embedded token's position; attention only sees differences of positions.
            positions[j] = step.position + static_cast<int32_t>(j + 1 + depth);
        }
        write(compiled.positions_input, positions.data(), positions.size() * sizeof(int32_t));
    }
    queue_->submit(*compiled.executable, step);
    queue_->wait();

    const uint64_t n_vocab = model_->hparams().n_vocab;
    logits_.resize(compiled.n_rows * n_vocab);
    tokens_.resize(compiled.n_rows);
    hidden_.resize(compiled.n_hidden);
    device_.download(*compiled.outputs, 0,
                     {reinterpret_cast<uint8_t*>(logits_.data()), logits_.size() * sizeof(float)});
    device_.download(
        *compiled.outputs, compiled.tokens_offset,
        {reinterpret_cast<uint8_t*>(tokens_.data()), tokens_.size() * sizeof(int32_t)});
    if (compiled.n_hidden > 0) {
        device_.download(
            *compiled.outputs, compiled.hidden_offset,
            {reinterpret_cast<uint8_t*>(hidden_.data()), hidden_.size() * sizeof(float)});
    }
    return {logits_, tokens_, hidden_};
}

DraftOutput DraftHeads::next_n(uint32_t depth, std::span<const float> hidden,
                               std::span<const int32_t> next_tokens) {
    const HParams& hp = model_->hparams();
    const uint32_t start = position(depth);  // checks the depth
    if (next_tokens.empty()) throw Error("draft heads: next_n given no tokens");
    if (hidden.size() != next_tokens.size() * hp.n_embd) {
        throw Error("draft heads: next_n given " + std::to_string(hidden.size()) +
                    " hidden floats for " + std::to_string(next_tokens.size()) +
                    " tokens of n_embd " + std::to_string(hp.n_embd));
    }
    for (size_t j = 0; j < next_tokens.size(); ++j) {
        if (next_tokens[j] < 0 || static_cast<uint32_t>(next_tokens[j]) >= hp.n_vocab) {
            throw Error("draft heads: token id " + std::to_string(next_tokens[j]) + " (at index " +
                        std::to_string(j) + ") is outside the vocabulary of " +
                        std::to_string(hp.n_vocab) + " tokens");
        }
    }
    caches_[depth]->check_room(next_tokens.size());
    Compiled& compiled =
        compiled_for(Kind::NextN, depth, static_cast<uint32_t>(next_tokens.size()));
    backend::StepValues step;
    step.position = static_cast<int32_t>(start);
    step.n_kv = static_cast<int32_t>(start + next_tokens.size());
    DraftOutput output = run(compiled, hidden, next_tokens, step, depth);
    caches_[depth]->advance(static_cast<uint32_t>(next_tokens.size()));
    return output;
}

DraftOutput DraftHeads::medusa(std::span<const float> hidden) {
    const HParams& hp = model_->hparams();
    if (hp.n_medusa_head == 0) {
        throw Error(model_->file().path() + ": the model has no Medusa heads");
    }
    if (hidden.empty() || hidden.size() % hp.n_embd != 0) {
        throw Error("draft heads: medusa given " + std::to_string(hidden.size()) +
                    " hidden floats, not a positive multiple of n_embd " +
                    std::to_string(hp.n_embd));
    }
    const auto m = static_cast<uint32_t>(hidden.size() / hp.n_embd);
    Compiled& compiled = compiled_for(Kind::Medusa, 0, m);
    return run(compiled, hidden, {}, backend::StepValues{}, 0);
}

}  // namespace tessera
