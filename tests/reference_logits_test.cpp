// The forward pass against independent references: tiny random llama, qwen2, qwen3 and gemma3
// models made with Hugging Face transformers, converted to F32 GGUF the way llama.cpp's
// convert_hf_to_gguf.py does, and transformers' float64 logits for every position of three
// fixed token sequences (7, 20 and 40 tokens; 40 spans gemma3's sliding window of 8 five times).
// tests/refgen/make_tiny_models.py makes the fixtures in tests/fixtures/tiny/ (see
// tests/refgen/README.md); this test needs no Python.
//
// The error measure, per sequence and run:
//     rel = max over positions p of ||ours_p - ref_p||_inf / ||ref_p||_inf
// with ref_p the n_vocab logits of position p. The target is 1e-3 with F32 weights. Every
// sequence is run three ways on the CPU backend: the whole sequence in one batch with every
// position's logits, token by token (each step's last-token logits), and in batches of 6 (the
// context splitting the input, the cache carried between batches). Greedy choices must agree
// at every position where the reference's top two logits are further apart than the logits
// may err (2 * tol * ||ref_p||_inf); where they are closer, ours must pick one of the
// near-tied tokens.
//
// The KV cache. The target assumes an F32 cache; where the runtime offers none, the cache is
// F16 and keys, values (and, in the attention kernel, queries) are rounded to half precision.
// The fixtures record what that rounding alone costs in transformers ("f16_qkv_rel_error": the
// same float64 model with q, k, v rounded to float16; 3.2e-4 to 4.9e-4 here), and with an F16
// cache the tolerance is max(1e-3, 1.5 x that): 1e-3 for these fixtures.
//
// Quantized weights: each fixture requantized to Q8_0 (--pure, through the runtime's
// quantize_model, as `tessera quantize IN OUT Q8_0 --pure` does) is held to 1.5 x the error
// transformers shows when made to do ggml's arithmetic ("q8_0_sim_rel_error": Q8_0 weights,
// Q8_0 activations into every weight product, an F16 cache; 1.9e-2 to 2.9e-2 here), and greedy
// choices to the same rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/quant_mix.h"
#include "runtime/quantize_model.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

constexpr double kTargetRelError = 1e-3;  // the bar, F32 weights
// Over what the F16 cache or Q8_0 arithmetic costs transformers doing the same: room for the
// order of operations (the runtime measured within 1% of those predictions).
constexpr double kMargin = 1.5;
constexpr uint32_t kBatchSplit = 6;

const char* const kArchitectures[] = {"llama", "qwen2", "qwen3", "gemma3"};

struct Sequence {
    std::vector<int32_t> tokens;
    std::vector<float> logits;  // tokens.size() rows of n_vocab
};

struct Fixture {
    std::string arch;
    std::string gguf_path;
    uint32_t n_vocab = 0;
    double f16_qkv_rel_error = 0.0;
    double q8_0_sim_rel_error = 0.0;
    std::vector<Sequence> sequences;
};

// tests/fixtures/tiny, or $TESSERA_TINY_FIXTURES (fixtures regenerated elsewhere).
fs::path fixture_dir() {
    if (const char* dir = std::getenv("TESSERA_TINY_FIXTURES"); dir != nullptr && *dir != 0) {
        return dir;
    }
    return fs::path(test::source_dir()) / "tests" / "fixtures" / "tiny";
}

Fixture load_fixture(const std::string& arch) {
    const fs::path dir = fixture_dir();
    std::ifstream json_file(dir / (arch + ".logits.json"));
    if (!json_file) throw Error("cannot open " + (dir / (arch + ".logits.json")).string());
    const nlohmann::json description = nlohmann::json::parse(json_file);

    Fixture fixture;
    fixture.arch = arch;
    fixture.gguf_path = (dir / description.at("gguf").get<std::string>()).string();
    fixture.n_vocab = description.at("n_vocab").get<uint32_t>();
    fixture.f16_qkv_rel_error = description.at("f16_qkv_rel_error").get<double>();
    fixture.q8_0_sim_rel_error = description.at("q8_0_sim_rel_error").get<double>();
    if (description.at("dtype").get<std::string>() != "float32") {
        throw Error(arch + ": the logits are not float32");
    }

    const fs::path bin_path = dir / description.at("logits").get<std::string>();
    std::ifstream bin(bin_path, std::ios::binary);
    if (!bin) throw Error("cannot open " + bin_path.string());
    std::vector<float> all(fs::file_size(bin_path) / sizeof(float));
    bin.read(reinterpret_cast<char*>(all.data()),
             static_cast<std::streamsize>(all.size() * sizeof(float)));
    if (!bin) throw Error("cannot read " + bin_path.string());

    for (const auto& entry : description.at("sequences")) {
        Sequence sequence;
        sequence.tokens = entry.at("tokens").get<std::vector<int32_t>>();
        const auto shape = entry.at("shape").get<std::vector<size_t>>();
        const size_t offset = entry.at("offset").get<size_t>();
        if (shape.size() != 2 || shape[0] != sequence.tokens.size() ||
            shape[1] != fixture.n_vocab || offset + shape[0] * shape[1] > all.size()) {
            throw Error(arch + ": a sequence's shape or offset does not fit " + bin_path.string());
        }
        sequence.logits.assign(
            all.begin() + static_cast<std::ptrdiff_t>(offset),
            all.begin() + static_cast<std::ptrdiff_t>(offset + shape[0] * shape[1]));
        fixture.sequences.push_back(std::move(sequence));
    }
    if (fixture.sequences.empty()) throw Error(arch + ": no sequences");
    return fixture;
}

// The worst position of one run against the reference, and the greedy disagreements.
struct Comparison {
    double rel = 0.0;  // max over positions of ||ours - ref||_inf / ||ref||_inf
    size_t position = 0;
    size_t index = 0;  // the vocabulary entry of the largest difference there
    float ours = 0.0f, ref = 0.0f;
    double ref_inf = 0.0;
    size_t greedy_checked = 0;  // positions where the reference's top two are clearly apart
    std::vector<std::string> greedy_failures;
};

Comparison compare(std::span<const float> ours, std::span<const float> ref, uint32_t n_vocab,
                   double tolerance) {
    Comparison result;
    const size_t n_positions = ref.size() / n_vocab;
    for (size_t p = 0; p < n_positions; ++p) {
        const auto o = ours.subspan(p * n_vocab, n_vocab);
        const auto r = ref.subspan(p * n_vocab, n_vocab);
        double ref_inf = 0.0, diff_inf = 0.0;
        size_t worst = 0;
        for (size_t i = 0; i < n_vocab; ++i) {
            ref_inf = std::max(ref_inf, std::fabs(static_cast<double>(r[i])));
            double diff = std::fabs(static_cast<double>(o[i]) - static_cast<double>(r[i]));
            if (std::isnan(diff)) diff = INFINITY;  // NaN counts as the worst
            if (diff > diff_inf || i == 0) {
                diff_inf = diff;
                worst = i;
            }
        }
        const double rel = diff_inf / ref_inf;
        if (rel > result.rel || p == 0) {
            result.rel = rel;
            result.position = p;
            result.index = worst;
            result.ours = o[worst];
            result.ref = r[worst];
            result.ref_inf = ref_inf;
        }

        const size_t ours_top =
            static_cast<size_t>(std::max_element(o.begin(), o.end()) - o.begin());
        const size_t ref_top =
            static_cast<size_t>(std::max_element(r.begin(), r.end()) - r.begin());
        float runner_up = -INFINITY;
        for (size_t i = 0; i < n_vocab; ++i) {
            if (i != ref_top) runner_up = std::max(runner_up, r[i]);
        }
        const double allowed = 2.0 * tolerance * ref_inf;
        if (static_cast<double>(r[ref_top]) - static_cast<double>(runner_up) > allowed) {
            ++result.greedy_checked;
        }
        if (ours_top != ref_top &&
            static_cast<double>(r[ref_top]) - static_cast<double>(r[ours_top]) > allowed) {
            std::ostringstream message;
            message << "position " << p << ": ours picks token " << ours_top << " (ref logit "
                    << r[ours_top] << ", ours " << o[ours_top] << "), the reference token "
                    << ref_top << " (ref logit " << r[ref_top] << ", ours " << o[ref_top] << ")";
            result.greedy_failures.push_back(message.str());
        }
    }
    return result;
}

// An F32 cache where the runtime has one; else F16, saying so once.
quant::TensorType cache_type(const std::shared_ptr<const Model>& model) {
    static const quant::TensorType chosen = [&] {
        ContextOptions options;
        options.n_ctx = 8;
        options.kv_type = quant::TensorType::F32;
        try {
            Context probe(model, options);
            return quant::TensorType::F32;
        } catch (const Error& e) {
            std::printf(
                "[ note     ] no F32 KV cache (%s): running with an F16 cache and the "
                "tolerance max(%.0e, %.1f x the fixture's f16_qkv_rel_error)\n",
                e.what(), kTargetRelError, kMargin);
            return quant::TensorType::F16;
        }
    }();
    return chosen;
}

double tolerance_for(const Fixture& fixture, quant::TensorType kv_type) {
    if (kv_type == quant::TensorType::F32) return kTargetRelError;
    return std::max(kTargetRelError, kMargin * fixture.f16_qkv_rel_error);
}

enum class Mode { Batch, TokenByToken, Split };

const char* mode_name(Mode mode) {
    switch (mode) {
        case Mode::Batch:
            return "one batch";
        case Mode::TokenByToken:
            return "token by token";
        case Mode::Split:
            return "batches of 6";
    }
    return "?";
}

std::vector<float> run(Context& context, const Sequence& sequence, Mode mode) {
    context.reset();
    const std::span<const int32_t> tokens(sequence.tokens);
    if (mode != Mode::TokenByToken) {
        const auto logits = context.decode(tokens, Logits::All);
        return {logits.begin(), logits.end()};
    }
    std::vector<float> all;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const auto logits = context.decode(tokens.subspan(i, 1), Logits::Last);
        all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
}

// Runs every sequence every way and checks it; returns the largest error per mode.
void check_model(const Fixture& fixture, const std::string& gguf_path, double tolerance,
                 const std::string& label) {
    ModelOptions model_options;
    model_options.backend = "cpu";
    const auto model = Model::load(gguf_path, model_options);
    ASSERT_EQ(model->hparams().n_vocab, fixture.n_vocab) << label;
    const quant::TensorType kv_type = cache_type(model);

    for (Mode mode : {Mode::Batch, Mode::TokenByToken, Mode::Split}) {
        ContextOptions options;
        options.n_ctx = 64;
        options.n_threads = 2;
        options.kv_type = kv_type;
        if (mode == Mode::Split) options.n_batch = kBatchSplit;
        Context context(model, options);

        double worst = 0.0;
        size_t checked = 0, positions = 0;
        for (size_t s = 0; s < fixture.sequences.size(); ++s) {
            const Sequence& sequence = fixture.sequences[s];
            const std::vector<float> ours = run(context, sequence, mode);
            ASSERT_EQ(ours.size(), sequence.logits.size()) << label << ", " << mode_name(mode);
            const Comparison c = compare(ours, sequence.logits, fixture.n_vocab, tolerance);
            worst = std::max(worst, c.rel);
            checked += c.greedy_checked;
            positions += sequence.tokens.size();
            EXPECT_LE(c.rel, tolerance)
                << label << ", " << mode_name(mode) << ", sequence " << s << " ("
                << sequence.tokens.size() << " tokens): worst at position " << c.position
                << ", vocabulary entry " << c.index << ": ours " << c.ours << ", reference "
                << c.ref << " (||ref||_inf " << c.ref_inf << ")";
            for (const std::string& failure : c.greedy_failures) {
                ADD_FAILURE() << label << ", " << mode_name(mode) << ", sequence " << s
                              << ": greedy choice differs at " << failure;
            }
        }
        std::printf(
            "[ measured ] %-14s %-15s max rel error %.3e (tolerance %.1e, KV cache %s); "
            "greedy checked strictly at %zu of %zu positions (the rest: near-ties)\n",
            label.c_str(), mode_name(mode), worst, tolerance,
            kv_type == quant::TensorType::F32 ? "F32" : "F16", checked, positions);
    }
}

class ReferenceLogits : public ::testing::TestWithParam<const char*> {};

TEST_P(ReferenceLogits, F32WeightsMatchTransformers) {
    const Fixture fixture = load_fixture(GetParam());
    const auto model = Model::load(fixture.gguf_path);
    check_model(fixture, fixture.gguf_path, tolerance_for(fixture, cache_type(model)),
                fixture.arch);
}

TEST_P(ReferenceLogits, Q8_0WeightsStayClose) {
    const Fixture fixture = load_fixture(GetParam());
    const std::string quantized = test::temp_dir() + "/" + fixture.arch + ".q8_0.gguf";
    QuantizeOptions options;
    options.pure = true;
    options.n_threads = 2;
    quantize_model(fixture.gguf_path, quantized, parse_quant_target("Q8_0"), options);
    check_model(fixture, quantized, kMargin * fixture.q8_0_sim_rel_error, fixture.arch + " Q8_0");
}

INSTANTIATE_TEST_SUITE_P(TinyModels, ReferenceLogits, ::testing::ValuesIn(kArchitectures),
                         [](const auto& test_info) { return std::string(test_info.param); });

// The measure can fail: a reference off by more than the tolerance at one position.
TEST(ReferenceLogitsMeasure, CatchesOnePositionOff) {
    const uint32_t n_vocab = 4;
    const std::vector<float> ref = {1.0f, -2.0f, 0.5f, 0.0f, 3.0f, 1.0f, 0.0f, -1.0f};
    std::vector<float> ours = ref;
    EXPECT_EQ(compare(ours, ref, n_vocab, 1e-3).rel, 0.0);
    ours[5] += 0.01f;  // position 1: 0.01 / 3
    const Comparison c = compare(ours, ref, n_vocab, 1e-3);
    EXPECT_NEAR(c.rel, 0.01 / 3.0, 1e-6);
    EXPECT_EQ(c.position, 1u);
    EXPECT_EQ(c.index, 1u);
    EXPECT_TRUE(c.greedy_failures.empty());
    ours[7] = 4.0f;  // position 1 now picks token 3, far below the reference's choice
    EXPECT_EQ(compare(ours, ref, n_vocab, 1e-3).greedy_failures.size(), 1u);
    ours[7] = NAN;
    EXPECT_FALSE(compare(ours, ref, n_vocab, 1e-3).rel <= 1e-3);
}

}  // namespace
}  // namespace tessera
