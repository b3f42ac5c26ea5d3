#include "tests/op_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <numeric>
#include <string>

#include "formats/error.h"
#include "formats/quant/blocks.h"
#include "formats/quant/codec.h"
#include "formats/quant/half.h"
#include "formats/quant/legacy_codec.h"

namespace tessera::test {

namespace {

using backend::Node;
using backend::Op;
using backend::OpParams;
using backend::Tensor;
using quant::TensorType;

int64_t n_rows(const Tensor& t) {
    return t.shape[1] * t.shape[2] * t.shape[3];
}

// Every element of a tensor as doubles.
std::vector<double> values_of(const Tensor& t, const std::vector<uint8_t>& bytes) {
    std::vector<double> values;
    values.reserve(static_cast<size_t>(t.n_elements()));
    for (int64_t row = 0; row < n_rows(t); ++row) {
        const std::vector<double> decoded =
            dequantize_to_double(t.type, bytes.data() + row * t.row_bytes(), t.shape[0]);
        values.insert(values.end(), decoded.begin(), decoded.end());
    }
    return values;
}

std::vector<float> floats_of(const Tensor& t, const std::vector<uint8_t>& bytes) {
    std::vector<float> values(static_cast<size_t>(t.n_elements()));
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
    return values;
}

double silu(double x) {
    return x / (1.0 + std::exp(-x));
}
double gelu_erf(double x) {
    return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2));
}
double gelu_tanh(double x) {
    const double sqrt_two_over_pi = std::sqrt(2.0 / std::numbers::pi);
    return 0.5 * x * (1.0 + std::tanh(sqrt_two_over_pi * (x + 0.044715 * x * x * x)));
}

class Reference {
  public:
    Reference(const backend::Graph& graph, const Node& node,
              const std::vector<std::vector<uint8_t>>& bytes, const backend::StepValues& step,
              const ReferenceOptions& options)
        : graph_(graph), node_(node), bytes_(bytes), step_(step), options_(options) {}

    std::vector<double> run() const {
        switch (node_.op) {
            case Op::GET_ROWS:
                return get_rows();
            case Op::MUL_MAT:
                return mul_mat();
            case Op::ADD:
            case Op::MUL:
                return binary();
            case Op::SCALE:
                return unary([&](double x) { return x * params().scale; });
            case Op::RMS_NORM:
                return rms_norm();
            case Op::ROPE:
                return rope();
            case Op::SILU:
                return unary(silu);
            case Op::GELU:
                return unary(gelu_erf);
            case Op::GELU_TANH:
                return unary(gelu_tanh);
            case Op::SOFTCAP: {
                const double cap = params().softcap;
                return unary([cap](double x) { return cap * std::tanh(x / cap); });
            }
            case Op::SWIGLU:
                return gated(silu);
            case Op::GEGLU:
                return gated(gelu_tanh);
            case Op::SOFTMAX:
                return softmax();
            case Op::KV_STORE:
                return kv_store();
            case Op::FLASH_ATTN:
                return flash_attn();
            case Op::ARGMAX:
                return argmax();
            case Op::TOP_K:
                return top_k();
            case Op::DRAFT_VERIFY:
                return draft_verify();
            case Op::MTP_HEAD:
                return params().mtp_style == backend::MtpStyle::NextN ? next_n_head()
                                                                      : medusa_head();
            default:
                throw Error(std::string("no reference for op ") + backend::op_name(node_.op));
        }
    }

  private:
    const OpParams& params() const { return node_.params; }
    const Tensor& src(int i) const {
        return graph_.tensors[static_cast<size_t>(node_.src[static_cast<size_t>(i)])];
    }
    const std::vector<uint8_t>& src_bytes(int i) const {
        return bytes_[static_cast<size_t>(node_.src[static_cast<size_t>(i)])];
    }
    const Tensor& dst() const { return graph_.tensors[static_cast<size_t>(node_.dst)]; }

    std::vector<double> get_rows() const {
        const Tensor& table = src(0);
        const std::vector<double> ids = values_of(src(1), src_bytes(1));
        const int64_t length = table.shape[0];
        std::vector<double> out;
        for (double id : ids) {
            if (id < 0 || id >= static_cast<double>(n_rows(table))) {
                throw Error("GET_ROWS: row id " + std::to_string(static_cast<int64_t>(id)) +
                            " out of range");
            }
            const auto row = static_cast<int64_t>(id);
            const std::vector<double> decoded = dequantize_to_double(
                table.type, src_bytes(0).data() + row * table.row_bytes(), length);
            out.insert(out.end(), decoded.begin(), decoded.end());
        }
        return out;
    }

    std::vector<double> mul_mat() const {
        const Tensor& weights = src(0);
        const int64_t k = weights.shape[0];
        const int64_t n = weights.shape[1];
        const int64_t m = n_rows(src(1));
        const std::vector<double> w = values_of(weights, src_bytes(0));
        std::vector<float> x = floats_of(src(1), src_bytes(1));
        if (options_.mul_mat_activation_type == TensorType::Q8_1 &&
            (weights.type == TensorType::Q4_1 || weights.type == TensorType::Q5_1)) {
            return mul_mat_with_q8_1_sums(x);
        }
        if (options_.mul_mat_activation_type)
            x = round_trip(*options_.mul_mat_activation_type, x, k);
        std::vector<double> out(static_cast<size_t>(n * m));
        for (int64_t j = 0; j < m; ++j) {
            for (int64_t i = 0; i < n; ++i) {
                double sum = 0.0;
                for (int64_t l = 0; l < k; ++l) {
                    sum += w[static_cast<size_t>(i * k + l)] *
                           static_cast<double>(x[static_cast<size_t>(j * k + l)]);
                }
                out[static_cast<size_t>(j * n + i)] = sum;
            }
        }
        return out;
    }

    // Weights with a minimum (Q4_1, Q5_1: w = d q + m per block) against Q8_1 activations: the
    // minimum's share of a block, m * sum(x), uses the block sum the Q8_1 block stores (d times
    // the sum of its quants, rounded to F16), as the format is defined to be used.
    std::vector<double> mul_mat_with_q8_1_sums(const std::vector<float>& input) const {
        const Tensor& weights = src(0);
        const int64_t k = weights.shape[0];
        const int64_t n = weights.shape[1];
        const int64_t m = n_rows(src(1));
        const int64_t n_blocks = k / quant::kLegacyBlock;
        const uint64_t block_bytes = quant::type_info(weights.type).block_bytes;

        std::vector<quant::BlockQ8_1> activations(static_cast<size_t>(n_blocks * m));
        for (int64_t j = 0; j < m; ++j) {
            quant::quantize_row_q8_1(input.data() + j * k, activations.data() + j * n_blocks, k);
        }
        std::vector<double> out(static_cast<size_t>(n * m));
        for (int64_t i = 0; i < n; ++i) {
            for (int64_t b = 0; b < n_blocks; ++b) {
                // The block's d * q part: the block decoded with its minimum (bytes 2-3) zeroed.
                const uint8_t* block =
                    src_bytes(0).data() + i * weights.row_bytes() + b * block_bytes;
                std::vector<uint8_t> without_min(block, block + block_bytes);
                uint16_t min_bits = 0;
                std::memcpy(&min_bits, block + 2, sizeof(min_bits));
                without_min[2] = without_min[3] = 0;
                float scaled[quant::kLegacyBlock];
                quant::dequantize_row(weights.type, without_min.data(), scaled,
                                      quant::kLegacyBlock);
                const double minimum = quant::fp16_to_fp32(min_bits);
                for (int64_t j = 0; j < m; ++j) {
                    const quant::BlockQ8_1& x = activations[static_cast<size_t>(j * n_blocks + b)];
                    const double x_scale = quant::fp16_to_fp32(x.d);
                    double sum = minimum * quant::fp16_to_fp32(x.s);
                    for (int l = 0; l < quant::kLegacyBlock; ++l) {
                        sum += static_cast<double>(scaled[l]) * x_scale * x.qs[l];
                    }
                    out[static_cast<size_t>(j * n + i)] += sum;
                }
            }
        }
        return out;
    }

    std::vector<double> binary() const {
        const Tensor& a = src(0);
        const Tensor& b = src(1);
        const std::vector<double> x = values_of(a, src_bytes(0));
        const std::vector<double> y = values_of(b, src_bytes(1));
        std::vector<double> out(x.size());
        size_t index = 0;
        for (int64_t i3 = 0; i3 < a.shape[3]; ++i3) {
            for (int64_t i2 = 0; i2 < a.shape[2]; ++i2) {
                for (int64_t i1 = 0; i1 < a.shape[1]; ++i1) {
                    for (int64_t i0 = 0; i0 < a.shape[0]; ++i0, ++index) {
                        // Each dimension of b is a's or 1: index 0 along a dimension of 1.
                        const int64_t j0 = b.shape[0] == 1 ? 0 : i0;
                        const int64_t j1 = b.shape[1] == 1 ? 0 : i1;
                        const int64_t j2 = b.shape[2] == 1 ? 0 : i2;
                        const int64_t j3 = b.shape[3] == 1 ? 0 : i3;
                        const double other = y[static_cast<size_t>(
                            ((j3 * b.shape[2] + j2) * b.shape[1] + j1) * b.shape[0] + j0)];
                        out[index] = node_.op == Op::ADD ? x[index] + other : x[index] * other;
                    }
                }
            }
        }
        return out;
    }

    template <class Function>
    std::vector<double> unary(Function function) const {
        std::vector<double> out = values_of(src(0), src_bytes(0));
        for (double& value : out) value = function(value);
        return out;
    }

    template <class Function>
    std::vector<double> gated(Function activation) const {
        std::vector<double> out = values_of(src(0), src_bytes(0));
        const std::vector<double> up = values_of(src(1), src_bytes(1));
        for (size_t i = 0; i < out.size(); ++i) out[i] = activation(out[i]) * up[i];
        return out;
    }

    // MTP_HEAD, NextN style: per column, [rmsnorm(e) * enorm ; rmsnorm(h) * hnorm].
    std::vector<double> next_n_head() const {
        const std::vector<double> e = values_of(src(0), src_bytes(0));
        const std::vector<double> h = values_of(src(1), src_bytes(1));
        const std::vector<double> e_weight = values_of(src(2), src_bytes(2));
        const std::vector<double> h_weight = values_of(src(3), src_bytes(3));
        const auto n_embd = static_cast<size_t>(src(0).shape[0]);
        const size_t n_columns = e.size() / n_embd;
        std::vector<double> out;
        out.reserve(2 * e.size());
        const auto append_normalised = [&](const std::vector<double>& x, size_t column,
                                           const std::vector<double>& weight) {
            double sum = 0.0;
            for (size_t i = 0; i < n_embd; ++i)
                sum += x[column * n_embd + i] * x[column * n_embd + i];
            const double scale = 1.0 / std::sqrt(sum / static_cast<double>(n_embd) + params().eps);
            for (size_t i = 0; i < n_embd; ++i)
                out.push_back(x[column * n_embd + i] * scale * weight[i]);
        };
        for (size_t column = 0; column < n_columns; ++column) {
            append_normalised(e, column, e_weight);
            append_normalised(h, column, h_weight);
        }
        return out;
    }

    // MTP_HEAD, Medusa style: h + silu(z + b).
    std::vector<double> medusa_head() const {
        std::vector<double> out = values_of(src(0), src_bytes(0));
        const std::vector<double> z = values_of(src(1), src_bytes(1));
        const auto n_embd = static_cast<size_t>(src(0).shape[0]);
        std::vector<double> bias(n_embd, 0.0);
        if (node_.src[2] >= 0) bias = values_of(src(2), src_bytes(2));
        for (size_t i = 0; i < out.size(); ++i) out[i] += silu(z[i] + bias[i % n_embd]);
        return out;
    }

    std::vector<double> rms_norm() const {
        std::vector<double> out = values_of(src(0), src_bytes(0));
        const auto length = static_cast<size_t>(src(0).shape[0]);
        for (size_t row = 0; row < out.size() / length; ++row) {
            double sum = 0.0;
            for (size_t i = 0; i < length; ++i)
                sum += out[row * length + i] * out[row * length + i];
            const double scale = 1.0 / std::sqrt(sum / static_cast<double>(length) + params().eps);
            for (size_t i = 0; i < length; ++i) out[row * length + i] *= scale;
        }
        return out;
    }

    std::vector<double> rope() const {
        const Tensor& x = src(0);
        std::vector<double> out = values_of(x, src_bytes(0));
        const std::vector<double> positions = values_of(src(1), src_bytes(1));
        const int64_t head_dim = x.shape[0];
        const int64_t n_rot = params().n_rot;
        const bool neox = params().rope_style == backend::RopeStyle::NeoX;
        for (int64_t token = 0; token < x.shape[2]; ++token) {
            for (int64_t head = 0; head < x.shape[1]; ++head) {
                double* v = out.data() + (token * x.shape[1] + head) * head_dim;
                for (int64_t i = 0; i < n_rot / 2; ++i) {
                    const double angle =
                        positions[static_cast<size_t>(token)] * params().freq_scale *
                        std::pow(static_cast<double>(params().freq_base),
                                 -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
                    const int64_t a = neox ? i : 2 * i;
                    const int64_t b = neox ? i + n_rot / 2 : 2 * i + 1;
                    const double x0 = v[a];
                    const double x1 = v[b];
                    v[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
                    v[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
                }
            }
        }
        return out;
    }

    std::vector<double> softmax() const {
        std::vector<double> out = values_of(src(0), src_bytes(0));
        const auto length = static_cast<size_t>(src(0).shape[0]);
        for (size_t row = 0; row < out.size() / length; ++row) {
            double* v = out.data() + row * length;
            double max = -std::numeric_limits<double>::infinity();
            for (size_t i = 0; i < length; ++i) max = std::max(max, v[i] * params().scale);
            double sum = 0.0;
            for (size_t i = 0; i < length; ++i) {
                v[i] = std::exp(v[i] * params().scale - max);
                sum += v[i];
            }
            for (size_t i = 0; i < length; ++i) v[i] /= sum;
        }
        return out;
    }

    std::vector<double> kv_store() const {
        const Tensor& input = src(0);
        const Tensor& cache = dst();
        const int64_t m = n_rows(input);
        if (step_.position < 0 || step_.position + m > n_rows(cache)) {
            throw Error("KV_STORE: position past the cache");
        }
        std::vector<uint8_t> stored = bytes_[static_cast<size_t>(node_.dst)];
        const std::vector<float> x = floats_of(input, src_bytes(0));
        for (int64_t j = 0; j < m; ++j) {
            quant::quantize_row(cache.type, x.data() + j * input.shape[0],
                                stored.data() + (step_.position + j) * cache.row_bytes(),
                                input.shape[0]);
        }
        return values_of(cache, stored);
    }

    std::vector<double> flash_attn() const {
        const Tensor& q_tensor = src(0);
        const int64_t head_dim = q_tensor.shape[0];
        const int64_t n_heads = q_tensor.shape[1];
        const int64_t n_tokens = q_tensor.shape[2];
        const int64_t n_kv_heads = src(1).shape[0] / head_dim;
        const int64_t row = src(1).shape[0];
        std::vector<float> q = floats_of(q_tensor, src_bytes(0));
        if (options_.attention_query_type)
            q = round_trip(*options_.attention_query_type, q, head_dim);
        const std::vector<double> k = values_of(src(1), src_bytes(1));
        const std::vector<double> v = values_of(src(2), src_bytes(2));
        std::vector<double> mask;
        int64_t mask_row = 0;
        if (node_.src[3] >= 0) {
            mask = values_of(src(3), src_bytes(3));
            mask_row = src(3).shape[0];
        }
        std::vector<double> out(static_cast<size_t>(head_dim * n_heads * n_tokens), 0.0);
        for (int64_t j = 0; j < n_tokens; ++j) {
            const int64_t position = step_.position + j;
            for (int64_t h = 0; h < n_heads; ++h) {
                const int64_t kv_head = h / (n_heads / n_kv_heads);
                const float* query = q.data() + (j * n_heads + h) * head_dim;
                std::vector<double> scores;
                std::vector<int64_t> columns;
                for (int64_t c = 0; c < step_.n_kv; ++c) {
                    if (params().causal && c > position) continue;
                    if (params().window > 0 && c <= position - params().window) continue;
                    double s = 0.0;
                    for (int64_t d = 0; d < head_dim; ++d) {
                        s += static_cast<double>(query[d]) *
                             k[static_cast<size_t>(c * row + kv_head * head_dim + d)];
                    }
                    s *= params().scale;
                    if (params().softcap > 0.0f)
                        s = params().softcap * std::tanh(s / params().softcap);
                    if (!mask.empty()) s += mask[static_cast<size_t>(j * mask_row + c)];
                    if (s == -std::numeric_limits<double>::infinity()) continue;
                    scores.push_back(s);
                    columns.push_back(c);
                }
                if (scores.empty()) continue;  // sees nothing: zeros
                const double max = *std::max_element(scores.begin(), scores.end());
                double sum = 0.0;
                for (double& s : scores) {
                    s = std::exp(s - max);
                    sum += s;
                }
                double* o = out.data() + (j * n_heads + h) * head_dim;
                for (size_t i = 0; i < scores.size(); ++i) {
                    for (int64_t d = 0; d < head_dim; ++d) {
                        o[d] += scores[i] / sum *
                                v[static_cast<size_t>(columns[i] * row + kv_head * head_dim + d)];
                    }
                }
            }
        }
        return out;
    }

    std::vector<double> argmax() const {
        const std::vector<double> x = values_of(src(0), src_bytes(0));
        const auto length = static_cast<size_t>(src(0).shape[0]);
        std::vector<double> out;
        for (size_t row = 0; row < x.size() / length; ++row) {
            size_t best = 0;
            for (size_t i = 1; i < length; ++i) {
                if (x[row * length + i] > x[row * length + best]) best = i;
            }
            out.push_back(static_cast<double>(best));
        }
        return out;
    }

    std::vector<double> top_k() const {
        const std::vector<double> x = values_of(src(0), src_bytes(0));
        const auto length = static_cast<size_t>(src(0).shape[0]);
        std::vector<double> out;
        for (size_t row = 0; row < x.size() / length; ++row) {
            std::vector<size_t> order(length);
            std::iota(order.begin(), order.end(), size_t{0});
            const double* v = x.data() + row * length;
            std::stable_sort(order.begin(), order.end(),
                             [v](size_t a, size_t b) { return v[a] > v[b]; });
            for (int32_t i = 0; i < params().k; ++i)
                out.push_back(static_cast<double>(order[static_cast<size_t>(i)]));
        }
        return out;
    }

    // The walk of backends/backend.h with dense distributions over the whole vocabulary.
    std::vector<double> draft_verify() const {
        const std::vector<float> logits = floats_of(src(0), src_bytes(0));
        const auto n_vocab = static_cast<size_t>(src(0).shape[0]);
        const std::vector<double> tokens = values_of(src(1), src_bytes(1));
        const auto k = static_cast<int64_t>(tokens.size());
        const bool has_q = node_.src[2] >= 0;
        const std::vector<float> q = has_q ? floats_of(src(2), src_bytes(2)) : std::vector<float>{};
        const std::vector<double> parents =
            node_.src[3] >= 0 ? values_of(src(3), src_bytes(3)) : std::vector<double>{};
        const backend::VerifyParams& verify = params().verify;
        const bool greedy = !(verify.temperature > 0.0f);
        const auto parent_of = [&](int64_t j) -> int64_t {
            const auto parent =
                parents.empty() ? j - 1 : static_cast<int64_t>(parents[static_cast<size_t>(j)]);
            return parent >= -1 && parent < j ? parent : -2;  // -2: unreachable
        };
        const auto row = [&](int64_t node) {
            return std::vector<float>(logits.begin() + (node + 1) * static_cast<int64_t>(n_vocab),
                                      logits.begin() + (node + 2) * static_cast<int64_t>(n_vocab));
        };
        const auto argmax_of = [](const std::vector<float>& x) {
            size_t best = 0;
            for (size_t i = 1; i < x.size(); ++i) {
                if (x[i] > x[best]) best = i;
            }
            return static_cast<int64_t>(best);
        };
        const auto draw = [](const std::vector<double>& p, double u) -> int64_t {
            double total = 0.0;
            for (double v : p) total += v;
            double cumulative = 0.0;
            for (size_t i = 0; i < p.size(); ++i) {
                cumulative += p[i];
                if (u * total < cumulative) return static_cast<int64_t>(i);
            }
            for (size_t i = p.size(); i-- > 0;) {
                if (p[i] > 0.0) return static_cast<int64_t>(i);
            }
            return 0;
        };

        std::vector<int64_t> path;
        int64_t current = -1;
        int64_t next_token = 0;
        while (true) {
            const std::vector<float> x = row(current);
            std::vector<double> p;
            if (!greedy) p = verify_distribution(x, verify);
            double threshold = 0.0;
            if (!greedy && verify.acceptance == backend::Acceptance::Typical) {
                double entropy = 0.0;
                for (double v : p) {
                    if (v > 0.0) entropy -= v * std::log(v);
                }
                threshold = std::min<double>(verify.typical_epsilon,
                                             verify.typical_delta * std::exp(-entropy));
            }
            int64_t accepted = -1;
            for (int64_t j = 0; j < k && accepted < 0; ++j) {
                if (parent_of(j) != current) continue;
                const auto token = static_cast<int64_t>(tokens[static_cast<size_t>(j)]);
                if (token < 0 || token >= static_cast<int64_t>(n_vocab)) continue;
                if (greedy) {
                    if (token == argmax_of(x)) accepted = j;
                    continue;
                }
                const auto t = static_cast<size_t>(token);
                if (verify.acceptance == backend::Acceptance::Typical) {
                    if (p[t] > threshold) accepted = j;
                    continue;
                }
                std::vector<double> q_j(n_vocab, 0.0);
                if (has_q) {
                    for (size_t i = 0; i < n_vocab; ++i)
                        q_j[i] = q[static_cast<size_t>(j) * n_vocab + i];
                } else {
                    q_j[t] = 1.0;
                }
                if (verify_uniform(step_.seed, static_cast<uint64_t>(2 * j)) * q_j[t] < p[t]) {
                    accepted = j;
                    continue;
                }
                std::vector<double> residual(n_vocab);
                double total = 0.0;
                for (size_t i = 0; i < n_vocab; ++i) {
                    residual[i] = std::max(0.0, p[i] - q_j[i]);
                    total += residual[i];
                }
                if (total > 0.0) {
                    for (size_t i = 0; i < n_vocab; ++i) p[i] = residual[i] / total;
                }
            }
            if (accepted < 0) {
                next_token = greedy ? argmax_of(x)
                                    : draw(p, verify_uniform(step_.seed, 2 * path.size() + 1));
                break;
            }
            path.push_back(accepted);
            current = accepted;
        }
        std::vector<double> out(static_cast<size_t>(k + 2), -1.0);
        out[0] = static_cast<double>(path.size());
        out[1] = static_cast<double>(next_token);
        for (size_t i = 0; i < path.size(); ++i) out[i + 2] = static_cast<double>(path[i]);
        return out;
    }

    const backend::Graph& graph_;
    const Node& node_;
    const std::vector<std::vector<uint8_t>>& bytes_;
    const backend::StepValues& step_;
    const ReferenceOptions& options_;
};

}  // namespace

std::vector<double> dequantize_to_double(TensorType type, const uint8_t* bytes, int64_t n) {
    std::vector<double> out(static_cast<size_t>(n));
    if (type == TensorType::I32) {
        for (int64_t i = 0; i < n; ++i) {
            int32_t value = 0;
            std::memcpy(&value, bytes + i * 4, sizeof(value));
            out[static_cast<size_t>(i)] = value;
        }
        return out;
    }
    std::vector<float> decoded(static_cast<size_t>(n));
    quant::dequantize_row(type, bytes, decoded.data(), n);
    std::copy(decoded.begin(), decoded.end(), out.begin());
    return out;
}

std::vector<float> round_trip(TensorType type, const std::vector<float>& x, int64_t row_length) {
    if (type == TensorType::F32) return x;
    // Q8_1 holds Q8_0's scale and quants (plus their sum, which dequantizing does not use).
    const TensorType codec_type = type == TensorType::Q8_1 ? TensorType::Q8_0 : type;
    const quant::TypeInfo& info = quant::type_info(codec_type);
    std::vector<uint8_t> row(quant::row_bytes(info, static_cast<uint64_t>(row_length)));
    std::vector<float> out(x.size());
    for (size_t begin = 0; begin < x.size(); begin += static_cast<size_t>(row_length)) {
        quant::quantize_row(codec_type, x.data() + begin, row.data(), row_length);
        quant::dequantize_row(codec_type, row.data(), out.data() + begin, row_length);
    }
    return out;
}

double verify_uniform(uint64_t seed, uint64_t index) {
    // splitmix64 (Steele, Lea and Flood 2014) started at `seed`: its (index + 1)-th output.
    uint64_t z = seed + (index + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) / 9007199254740992.0;  // 2^53
}

std::vector<double> verify_distribution(const std::vector<float>& logits,
                                        const backend::VerifyParams& params) {
    const size_t n = logits.size();
    std::vector<double> x(n);
    for (size_t i = 0; i < n; ++i) {
        x[i] = std::isnan(logits[i]) ? -std::numeric_limits<double>::infinity() : logits[i];
    }
    // Ranked by value, the lower index first among equal values (a stable sort).
    std::vector<size_t> ranked(n);
    std::iota(ranked.begin(), ranked.end(), size_t{0});
    std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) { return x[a] > x[b]; });
    size_t kept = n;
    if (params.top_k > 0) kept = std::min(kept, static_cast<size_t>(params.top_k));
    if (params.top_p < 1.0f && kept > 1) {
        double total = 0.0;
        for (size_t r = 0; r < kept; ++r) total += std::exp(x[ranked[r]] - x[ranked[0]]);
        double cumulative = 0.0;
        for (size_t r = 0; r < kept; ++r) {
            cumulative += std::exp(x[ranked[r]] - x[ranked[0]]) / total;
            if (cumulative >= params.top_p) {
                kept = r + 1;
                break;
            }
        }
    }
    std::vector<size_t> chosen(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(kept));
    if (params.min_p > 0.0f && chosen.size() > 1) {
        const double floor = x[chosen[0]] + std::log(static_cast<double>(params.min_p));
        std::erase_if(chosen, [&](size_t i) { return x[i] < floor; });
    }
    // The temperature divides the float logits, as the sampler does.
    std::vector<double> p(n, 0.0);
    double max_scaled = -std::numeric_limits<double>::infinity();
    for (size_t i : chosen) {
        max_scaled = std::max(max_scaled, static_cast<double>(logits[i] / params.temperature));
    }
    double total = 0.0;
    for (size_t i : chosen) {
        p[i] = std::exp(static_cast<double>(logits[i] / params.temperature) - max_scaled);
        total += p[i];
    }
    for (double& v : p) v /= total;
    return p;
}

std::vector<double> reference_output(const backend::Graph& graph, const Node& node,
                                     const std::vector<std::vector<uint8_t>>& tensor_bytes,
                                     const backend::StepValues& step,
                                     const ReferenceOptions& options) {
    return Reference(graph, node, tensor_bytes, step, options).run();
}

}  // namespace tessera::test
