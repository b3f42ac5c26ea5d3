// The speculative draft heads stored in a model file (runtime/speculative/draft_heads.h) against
// the numpy reference of tests/refgen/make_speculative_models.py: tiny random llama, qwen2, qwen3
// and gemma3 models with one next-n block and Medusa heads (tests/fixtures/speculative/), and
// the float64 logits the DeepSeek-V3 report (section 2.2) and the Medusa paper define for them
// on a fixed token sequence. The reference's base model is a numpy forward pass the script
// first checks against transformers' logits of tests/fixtures/tiny/, so nothing here rests on
// tessera.
//
// The error measure, per row: ||ours - ref||_inf / ||ref||_inf, at most 1e-3, the bar
// tests/reference_logits_test.cpp holds the main model to (an F16 KV cache rounds keys, values
// and queries to half precision; the next-n block has a cache of its own). Greedy
// draft tokens must equal the reference's argmax wherever its top two logits are further apart
// than the logits may err.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/error.h"
#include "formats/gguf/file.h"
#include "formats/gguf/writer.h"
#include "runtime/context.h"
#include "runtime/graph_builder.h"
#include "runtime/model.h"
#include "runtime/speculative/draft_heads.h"
#include "tests/speculative_fixtures.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

constexpr double kTolerance = 1e-3;

std::string fixture_dir() {
    return test::source_dir() + "/tests/fixtures/speculative";
}

// A fixture's description and reference arrays.
struct Fixture {
    std::string arch;
    std::string gguf_path;
    std::vector<int32_t> tokens;
    uint32_t n_vocab = 0;
    uint32_t n_embd = 0;
    uint32_t n_layer = 0;
    uint32_t n_medusa = 0;
    std::vector<float> logits;  // [T][n_vocab]
    std::vector<float> hidden;  // [T][n_embd]
    // Per next-n depth d: [T-1-d][n_vocab].
    std::vector<std::vector<float>> next_n_logits;
    std::vector<float> medusa_logits;  // [K][T][n_vocab]
};

Fixture load_fixture(const std::string& arch) {
    Fixture fixture;
    fixture.arch = arch;
    std::ifstream description_file(fixture_dir() + "/" + arch + ".draft.json");
    const nlohmann::json description = nlohmann::json::parse(description_file);
    fixture.gguf_path = fixture_dir() + "/" + description.at("gguf").get<std::string>();
    fixture.tokens = description.at("tokens").get<std::vector<int32_t>>();
    fixture.n_vocab = description.at("n_vocab").get<uint32_t>();
    fixture.n_embd = description.at("n_embd").get<uint32_t>();
    fixture.n_layer = description.at("n_layer").get<uint32_t>();
    fixture.n_medusa = description.at("medusa_head_count").get<uint32_t>();
    const std::string data_path = fixture_dir() + "/" + description.at("data").get<std::string>();
    std::ifstream data(data_path, std::ios::binary);
    std::vector<float> all((fs::file_size(data_path)) / sizeof(float));
    data.read(reinterpret_cast<char*>(all.data()), static_cast<std::streamsize>(all.size() * 4));
    const auto section = [&](const char* name) {
        const nlohmann::json& s = description.at("sections").at(name);
        size_t n = 1;
        for (const auto& extent : s.at("shape")) n *= extent.get<size_t>();
        const auto offset = s.at("offset").get<size_t>();
        return std::vector<float>(all.begin() + static_cast<std::ptrdiff_t>(offset),
                                  all.begin() + static_cast<std::ptrdiff_t>(offset + n));
    };
    fixture.logits = section("logits");
    fixture.hidden = section("hidden");
    const auto n_nextn = description.at("nextn_predict_layers").get<uint32_t>();
    for (uint32_t depth = 0; depth < n_nextn; ++depth) {
        fixture.next_n_logits.push_back(
            section(("next_n_logits_" + std::to_string(depth)).c_str()));
    }
    fixture.medusa_logits = section("medusa_logits");
    return fixture;
}

// Largest row error ||ours - ref||_inf / ||ref||_inf over rows of `row` elements; checks the
// greedy choice of each row where the reference's margin allows.
double compare_rows(std::span<const float> ours, std::span<const float> ref, size_t row,
                    std::span<const int32_t> tokens, const std::string& what) {
    EXPECT_EQ(ours.size(), ref.size()) << what;
    if (ours.size() != ref.size()) return INFINITY;
    double worst = 0.0;
    const size_t n_rows = ref.size() / row;
    for (size_t r = 0; r < n_rows; ++r) {
        double error = 0.0;
        double norm = 0.0;
        size_t best = 0;
        for (size_t i = 0; i < row; ++i) {
            const double d = std::abs(double(ours[r * row + i]) - double(ref[r * row + i]));
            error = std::isnan(d) ? INFINITY : std::max(error, d);
            norm = std::max(norm, std::abs(double(ref[r * row + i])));
            if (ref[r * row + i] > ref[r * row + best]) best = i;
        }
        const double rel = error / norm;
        worst = std::max(worst, rel);
        EXPECT_LE(rel, kTolerance) << what << ": row " << r;
        if (tokens.empty()) continue;
        double second = -INFINITY;
        for (size_t i = 0; i < row; ++i) {
            if (i != best) second = std::max(second, double(ref[r * row + i]));
        }
        if (double(ref[r * row + best]) - second > 2 * kTolerance * norm) {
            EXPECT_EQ(tokens[r], static_cast<int32_t>(best))
                << what << ": greedy token of row " << r;
        }
    }
    return worst;
}

struct Case {
    std::string arch;
    std::string backend;
};

std::vector<Case> cases() {
    std::vector<std::string> backends;
    for (const backend::DeviceInfo& info : backend::list_devices()) {
        if (std::find(backends.begin(), backends.end(), info.backend) == backends.end()) {
            backends.push_back(info.backend);
        }
    }
    std::vector<Case> out;
    for (const std::string& backend : backends) {
        for (const char* arch : test::kSpeculativeArchitectures) out.push_back({arch, backend});
    }
    return out;
}

void PrintTo(const Case& c, std::ostream* out) {
    *out << c.arch << " on " << c.backend;
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
    return info.param.arch + "_" + info.param.backend;
}

class SpeculativeHeads : public testing::TestWithParam<Case> {
  protected:
    void SetUp() override {
        fixture_ = load_fixture(GetParam().arch);
        ModelOptions options;
        options.backend = GetParam().backend;
        model_ = Model::load(fixture_.gguf_path, options);
    }

    // The main model over the whole sequence: every position's logits and hidden states.
    void run_main(std::vector<float>& logits, std::vector<float>& hidden) const {
        ContextOptions options;
        options.n_ctx = 64;
        options.n_threads = 2;
        options.keep_hidden_states = true;
        Context context(model_, options);
        const auto out = context.decode(fixture_.tokens, Logits::All);
        logits.assign(out.begin(), out.end());
        hidden.assign(context.hidden_states().begin(), context.hidden_states().end());
    }

    DraftHeadsOptions draft_options() const {
        DraftHeadsOptions options;
        options.n_ctx = 64;
        options.n_threads = 2;
        return options;
    }

    void report(const char* what, double worst) const {
        std::printf("[ measured ] %-7s %-6s %-14s max rel error %.3e (tolerance %.0e)\n",
                    GetParam().arch.c_str(), GetParam().backend.c_str(), what, worst, kTolerance);
    }

    Fixture fixture_;
    std::shared_ptr<const Model> model_;
};

TEST_P(SpeculativeHeads, FileLoadsWithItsHeadsAndTheMainModelIsUnchanged) {
    const HParams& hp = model_->hparams();
    EXPECT_EQ(hp.n_layer, fixture_.n_layer);  // block_count less the next-n block
    EXPECT_EQ(hp.n_nextn_layer, fixture_.next_n_logits.size());
    EXPECT_EQ(hp.n_medusa_head, fixture_.n_medusa);
    std::vector<float> logits;
    std::vector<float> hidden;
    run_main(logits, hidden);
    report("main logits", compare_rows(logits, fixture_.logits, fixture_.n_vocab, {}, "logits"));
    report("main hidden", compare_rows(hidden, fixture_.hidden, fixture_.n_embd, {}, "hidden"));
}

TEST_P(SpeculativeHeads, NextNLogitsMatchTheNumpyReference) {
    std::vector<float> logits;
    std::vector<float> hidden;
    run_main(logits, hidden);
    const size_t n = fixture_.tokens.size() - 1;
    const std::span<const int32_t> next_tokens = std::span(fixture_.tokens).subspan(1, n);
    const std::span<const float> states = std::span(hidden).first(n * fixture_.n_embd);
    DraftHeads heads(model_, draft_options());
    ASSERT_EQ(heads.n_next_n(), fixture_.next_n_logits.size());

    // All indices in one pass, depth after depth: depth d reads depth d-1's block outputs and
    // the tokens one further on.
    std::vector<float> depth_states(states.begin(), states.end());
    for (uint32_t depth = 0; depth < heads.n_next_n(); ++depth) {
        const size_t count = n - depth;
        const DraftOutput out =
            heads.next_n(depth, std::span(depth_states).first(count * fixture_.n_embd),
                         std::span(fixture_.tokens).subspan(1 + depth, count));
        EXPECT_EQ(out.hidden.size(), count * fixture_.n_embd);
        const std::string what = "next-n depth " + std::to_string(depth);
        report(depth == 0 ? "next-n batch" : "next-n depth 1",
               compare_rows(out.logits, fixture_.next_n_logits[depth], fixture_.n_vocab, out.tokens,
                            what + ", one pass"));
        EXPECT_EQ(heads.position(depth), count);
        depth_states.assign(out.hidden.begin(), out.hidden.end());
    }

    // Rollbacks. Back to index 5: the columns past it still hold the pass above and must not
    // count; indices 5.. then go one at a time through the cache. Then back to 0 and the first
    // five again in one pass.
    constexpr size_t kKept = 5;
    const auto run_range = [&](size_t first, size_t count, std::vector<float>& logits_out,
                               std::vector<int32_t>& tokens_out) {
        const DraftOutput out =
            heads.next_n(0, states.subspan(first * fixture_.n_embd, count * fixture_.n_embd),
                         next_tokens.subspan(first, count));
        logits_out.insert(logits_out.end(), out.logits.begin(), out.logits.end());
        tokens_out.insert(tokens_out.end(), out.tokens.begin(), out.tokens.end());
    };
    heads.truncate(kKept);
    EXPECT_EQ(heads.position(0), kKept);
    std::vector<float> late;
    std::vector<int32_t> late_tokens;
    for (size_t first = kKept; first < n; ++first) run_range(first, 1, late, late_tokens);
    heads.truncate(0);
    std::vector<float> stepped;
    std::vector<int32_t> stepped_tokens;
    run_range(0, kKept, stepped, stepped_tokens);
    stepped.insert(stepped.end(), late.begin(), late.end());
    stepped_tokens.insert(stepped_tokens.end(), late_tokens.begin(), late_tokens.end());
    report("next-n stepped", compare_rows(stepped, fixture_.next_n_logits[0], fixture_.n_vocab,
                                          stepped_tokens, "next-n, after rollbacks"));
}

TEST_P(SpeculativeHeads, MedusaLogitsMatchTheNumpyReference) {
    std::vector<float> logits;
    std::vector<float> hidden;
    run_main(logits, hidden);
    DraftHeads heads(model_, draft_options());
    ASSERT_EQ(heads.n_medusa(), fixture_.n_medusa);
    const DraftOutput out = heads.medusa(hidden);
    EXPECT_TRUE(out.hidden.empty());
    report("medusa", compare_rows(out.logits, fixture_.medusa_logits, fixture_.n_vocab, out.tokens,
                                  "medusa"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SpeculativeHeads, testing::ValuesIn(cases()), case_name);

// Kept hidden states follow the rows of logits decode() returns: every row of an input split
// into batches, or the last row only.
TEST(SpeculativeHeadsContext, KeptHiddenStatesFollowTheLogitsRows) {
    const Fixture fixture = load_fixture("gemma3");
    const auto model = Model::load(fixture.gguf_path);
    ContextOptions options;
    options.n_ctx = 64;
    options.n_batch = 5;  // 12 tokens: batches of 5, 5 and 2
    options.n_threads = 2;
    options.keep_hidden_states = true;
    Context context(model, options);
    (void)context.decode(fixture.tokens, Logits::All);
    compare_rows(context.hidden_states(), fixture.hidden, fixture.n_embd, {}, "hidden, batched");
    context.reset();
    EXPECT_TRUE(context.hidden_states().empty());
    (void)context.decode(fixture.tokens, Logits::Last);
    const size_t last = (fixture.tokens.size() - 1) * fixture.n_embd;
    compare_rows(context.hidden_states(), std::span(fixture.hidden).subspan(last), fixture.n_embd,
                 {}, "hidden, last row");
    // Without the option there are none.
    options.keep_hidden_states = false;
    Context plain(model, options);
    (void)plain.decode(fixture.tokens, Logits::All);
    EXPECT_TRUE(plain.hidden_states().empty());
}

// The graph builder checks MTP_HEAD's operands as it adds the node, naming them.
TEST(SpeculativeHeadsGraph, MtpHeadOperandsAreCheckedWhileBuilding) {
    GraphBuilder g(0, 1);
    const TensorId e = g.input("e", quant::TensorType::F32, {32, 3, 1, 1});
    const TensorId h = g.input("h", quant::TensorType::F32, {32, 3, 1, 1});
    const TensorId other = g.input("other", quant::TensorType::F32, {32, 2, 1, 1});
    const TensorId norm = g.input("norm", quant::TensorType::F32, {32, 1, 1, 1});
    const TensorId short_norm = g.input("short_norm", quant::TensorType::F32, {16, 1, 1, 1});
    const TensorId ids = g.input("ids", quant::TensorType::I32, {32, 3, 1, 1});
    const auto message = [](const std::function<void()>& add) {
        try {
            add();
        } catch (const Error& error) {
            return std::string(error.what());
        }
        return std::string("(added)");
    };
    EXPECT_NE(message([&] {
                  (void)g.mtp_next_n(e, other, norm, norm, 1e-5f, "eh");
              }).find("'other' [32, 2]"),
              std::string::npos);
    EXPECT_NE(message([&] {
                  (void)g.mtp_next_n(e, h, norm, short_norm, 1e-5f, "eh");
              }).find("'short_norm'"),
              std::string::npos);
    EXPECT_NE(message([&] { (void)g.mtp_medusa(ids, h, TensorId{}, "medusa"); }).find("'ids'"),
              std::string::npos);
    EXPECT_NE(message([&] { (void)g.mtp_medusa(h, e, short_norm, "medusa"); }).find("MTP_HEAD"),
              std::string::npos);
    const TensorId joined = g.mtp_next_n(e, h, norm, norm, 1e-5f, "eh");
    EXPECT_EQ(g.tensor(joined).shape, (Shape{64, 3, 1, 1}));
    const TensorId medusa = g.mtp_medusa(h, e, TensorId{}, "medusa");
    EXPECT_EQ(g.tensor(medusa).shape, (Shape{32, 3, 1, 1}));
    EXPECT_EQ(g.graph().nodes.back().params.mtp_style, backend::MtpStyle::Medusa);
}

// The comparison can fail: one logit off by more than the tolerance, a wrong greedy token, a NaN.
TEST(SpeculativeHeadsMeasure, CatchesOneLogitOffAndAWrongToken) {
    const std::vector<float> ref = {1.0f, -2.0f, 3.0f, 0.5f};
    std::vector<float> ours = ref;
    const std::vector<int32_t> right = {2};
    const std::vector<int32_t> wrong = {0};
    EXPECT_EQ(compare_rows(ours, ref, 4, right, "exact"), 0.0);
    EXPECT_NONFATAL_FAILURE(compare_rows(ours, ref, 4, wrong, "wrong token"), "greedy token");
    ours[2] += 0.01f;  // 3.3e-3 of the row's largest
    EXPECT_NONFATAL_FAILURE(compare_rows(ours, ref, 4, {}, "one logit off"), "one logit off");
    ours[2] = NAN;
    EXPECT_NONFATAL_FAILURE(compare_rows(ours, ref, 4, {}, "nan"), "nan");
}

// ---------------------------------------------------------------------------------------------
// Loading: files without heads are unaffected; malformed heads are refused by name.

// Rewrites a GGUF file with `edit` applied to its keys and tensors (a tensor's bytes may be
// cut short to match a smaller shape; a tensor with an empty name is dropped).
struct Rewrite {
    std::function<void(std::vector<gguf::KeyValue>&)> keys;
    std::function<void(gguf::TensorSpec&)> tensor;
};

std::string rewrite(const std::string& source, const std::string& name, const Rewrite& edit) {
    const gguf::File file = gguf::File::open(source);
    const std::string path = test::temp_dir() + "/" + name + ".gguf";
    gguf::Writer writer(path);
    std::vector<gguf::KeyValue> keys;
    for (const gguf::KeyValue& kv : file.metadata()) {
        if (kv.key != "general.alignment") keys.push_back(kv);
    }
    if (edit.keys) edit.keys(keys);
    for (gguf::KeyValue& kv : keys) writer.add(kv.key, kv.value);
    std::vector<std::pair<gguf::TensorSpec, const gguf::TensorInfo*>> tensors;
    for (const gguf::TensorInfo& info : file.tensors()) {
        gguf::TensorSpec spec{info.name, info.shape, info.type};
        if (edit.tensor) edit.tensor(spec);
        if (spec.name.empty()) continue;
        writer.add_tensor(spec);
        tensors.emplace_back(spec, &info);
    }
    writer.write_header();
    for (const auto& [spec, info] : tensors) {
        const auto data = file.tensor_data(*info);
        writer.write_tensor_data(data.first(gguf::Writer::tensor_bytes(spec)));
    }
    writer.finish();
    return path;
}

std::string load_error(const std::string& path) {
    try {
        (void)Model::load(path);
    } catch (const Error& error) {
        return error.what();
    }
    return "(loaded)";
}

TEST(SpeculativeHeadsLoading, TheModelsWithoutHeadsHaveNone) {
    const auto model = Model::load(test::source_dir() + "/tests/fixtures/tiny/qwen3.gguf");
    EXPECT_EQ(model->hparams().n_layer, 2u);
    EXPECT_EQ(model->hparams().n_nextn_layer, 0u);
    EXPECT_EQ(model->hparams().n_medusa_head, 0u);
    try {
        DraftHeads heads(model);
        ADD_FAILURE() << "draft heads of a model that has none";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("no speculative draft heads"), std::string::npos)
            << error.what();
    }
}

TEST(SpeculativeHeadsLoading, MalformedHeadsAreRefusedByName) {
    const std::string source = fixture_dir() + "/llama.gguf";
    struct BadFile {
        std::string name;
        Rewrite edit;
        std::string expected;
    };
    const auto drop = [](const std::string& tensor) {
        return Rewrite{nullptr, [tensor](gguf::TensorSpec& spec) {
                           if (spec.name == tensor) spec.name.clear();
                       }};
    };
    const auto halve = [](const std::string& tensor) {
        return Rewrite{nullptr, [tensor](gguf::TensorSpec& spec) {
                           if (spec.name == tensor) spec.shape[0] /= 2;
                       }};
    };
    const auto set_key = [](const std::string& key, uint32_t value) {
        return Rewrite{[key, value](std::vector<gguf::KeyValue>& keys) {
                           for (gguf::KeyValue& kv : keys) {
                               if (kv.key == key) {
                                   kv.value =
                                       gguf::Value::from_uint(gguf::ValueType::UINT32, value);
                               }
                           }
                       },
                       nullptr};
    };
    const std::vector<BadFile> bad = {
        {"no_eh_proj", drop("blk.2.nextn.eh_proj.weight"),
         "'blk.2.nextn.eh_proj.weight' is missing"},
        {"short_hnorm", halve("blk.2.nextn.hnorm.weight"), "'blk.2.nextn.hnorm.weight' has shape"},
        {"no_block_ffn", drop("blk.2.ffn_up.weight"), "'blk.2.ffn_up.weight' is missing"},
        {"short_medusa", halve("medusa.2.0.weight"), "'medusa.2.0.weight' has shape"},
        {"medusa_output", halve("medusa.1.output.weight"), "'medusa.1.output.weight' has shape"},
        {"fewer_heads", set_key("medusa.head_count", 2), "'medusa.2.0."},
        {"zero_heads", set_key("medusa.head_count", 0), "medusa.head_count is 0"},
        {"all_nextn", set_key("llama.nextn_predict_layers", 3), "llama.nextn_predict_layers"},
        {"no_nextn", set_key("llama.nextn_predict_layers", 0), "'blk.2.nextn.eh_proj.weight'"},
    };
    for (const BadFile& file : bad) {
        const std::string message = load_error(rewrite(source, file.name, file.edit));
        EXPECT_NE(message.find(file.expected), std::string::npos) << file.name << ": " << message;
    }
    // Without the optional tensors the file still loads (the heads fall back to the model's).
    const std::string lean = rewrite(
        source, "lean", Rewrite{nullptr, [](gguf::TensorSpec& spec) {
                                    if (spec.name.find("shared_head") != std::string::npos ||
                                        spec.name.find(".output.") != std::string::npos ||
                                        spec.name.find("embed_tokens") != std::string::npos ||
                                        spec.name.find("medusa.0.0.bias") != std::string::npos) {
                                        spec.name.clear();
                                    }
                                }});
    EXPECT_EQ(load_error(lean), "(loaded)");
}

TEST(SpeculativeHeadsLoading, DraftCallsCheckTheirInputs) {
    const auto model = Model::load(fixture_dir() + "/qwen2.gguf");
    DraftHeadsOptions options;
    options.n_ctx = 4;
    options.n_threads = 1;
    DraftHeads heads(model, options);
    const std::vector<float> hidden(model->hparams().n_embd * 5, 0.5f);
    const std::vector<int32_t> tokens = {1, 2, 3, 4, 5};
    EXPECT_THROW(heads.next_n(1, std::span(hidden).first(32), std::span(tokens).first(1)), Error);
    EXPECT_THROW(heads.next_n(0, std::span(hidden).first(31), std::span(tokens).first(1)), Error);
    const std::vector<int32_t> outside = {256};
    EXPECT_THROW(heads.next_n(0, std::span(hidden).first(32), outside), Error);
    EXPECT_THROW(heads.next_n(0, hidden, tokens), Error);  // 5 indices, a cache of 4
    EXPECT_EQ(heads.position(0), 0u);
    EXPECT_THROW(heads.medusa(std::span(hidden).first(33)), Error);
    EXPECT_EQ(heads.medusa(std::span(hidden).first(64)).tokens.size(), 2u * 2u);
}

}  // namespace
}  // namespace tessera
