// `tessera quantize`: the per-tensor mix against llama.cpp's choices (hand-derived tables for a
// llama-shaped model, and the real Gemma 3 270M Q4_K_M file llama.cpp's quantizer made), --pure
// against llama-quantize --pure's files byte for byte, requantization of quantized files, no
// output left by a failed run, and the command's errors and exit statuses.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "formats/gguf/writer.h"
#include "formats/quant/codec.h"
#include "runtime/default_model.h"
#include "runtime/quant_mix.h"
#include "runtime/quantize_model.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using quant::TensorType;

// ---------------------------------------------------------------------------------------------
// Targets

TEST(QuantTargets, ParseNamesAliasesAndNumbersCaseInsensitively) {
    EXPECT_EQ(parse_quant_target("Q4_K_M").file_type, FileType::MOSTLY_Q4_K_M);
    EXPECT_EQ(parse_quant_target("q4_k_m").base_type, TensorType::Q4_K);
    EXPECT_EQ(parse_quant_target("q4_k").file_type, FileType::MOSTLY_Q4_K_M);
    EXPECT_EQ(parse_quant_target("Q3_K").file_type, FileType::MOSTLY_Q3_K_M);
    EXPECT_EQ(parse_quant_target("Q5_k").file_type, FileType::MOSTLY_Q5_K_M);
    EXPECT_EQ(parse_quant_target("bf16").file_type, FileType::MOSTLY_BF16);
    EXPECT_EQ(parse_quant_target("f32").base_type, TensorType::F32);
    EXPECT_EQ(parse_quant_target("7").file_type, FileType::MOSTLY_Q8_0);
    EXPECT_EQ(parse_quant_target("Q2_K_S").base_type, TensorType::Q2_K);
    // llama.cpp's llama_ftype numbers.
    EXPECT_EQ(static_cast<uint32_t>(parse_quant_target("Q5_0").file_type), 8u);
    EXPECT_EQ(static_cast<uint32_t>(parse_quant_target("Q6_K").file_type), 18u);
    EXPECT_EQ(static_cast<uint32_t>(parse_quant_target("Q2_K_S").file_type), 21u);
    EXPECT_EQ(static_cast<uint32_t>(parse_quant_target("BF16").file_type), 32u);
    EXPECT_EQ(quant_targets().size(), 18u);
}

TEST(QuantTargets, UnknownNameListsTheKnownOnes) {
    EXPECT_EQ(find_quant_target("Q4_K_X"), nullptr);
    EXPECT_EQ(find_quant_target("IQ4_NL"), nullptr);  // no codec, not offered
    EXPECT_EQ(find_quant_target("99"), nullptr);
    EXPECT_EQ(find_quant_target(""), nullptr);
    try {
        parse_quant_target("Q4_K_X");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("'Q4_K_X'"), std::string::npos) << message;
        EXPECT_NE(message.find("Q4_K_M"), std::string::npos) << message;
        EXPECT_NE(message.find("Q8_0"), std::string::npos) << message;
    }
}

// ---------------------------------------------------------------------------------------------
// The mix on a synthetic llama-shaped model

gguf::TensorInfo tensor(std::string name, std::vector<uint64_t> shape,
                        TensorType type = TensorType::F32) {
    gguf::TensorInfo info;
    info.name = std::move(name);
    info.shape = std::move(shape);
    info.type = type;
    info.n_elements = 1;
    for (uint64_t d : info.shape) info.n_elements *= d;
    info.n_bytes =
        info.n_elements / quant::type_info(type).block_size * quant::type_info(type).block_bytes;
    return info;
}

// A llama-shaped model of 8 layers: 8 query heads sharing 2 kv heads (n_gqa 4), rows of
// `n_embd`, in the order a converter writes them (not llama.cpp's order).
std::vector<gguf::TensorInfo> llama_tensors(int n_layers, uint64_t n_embd, bool with_output) {
    const uint64_t n_ff = 2 * n_embd;
    const uint64_t n_kv = n_embd / 4;
    std::vector<gguf::TensorInfo> tensors;
    tensors.push_back(tensor("token_embd.weight", {n_embd, 1000}));
    for (int i = 0; i < n_layers; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        tensors.push_back(tensor(p + "attn_norm.weight", {n_embd}));
        tensors.push_back(tensor(p + "attn_q.weight", {n_embd, n_embd}));
        tensors.push_back(tensor(p + "attn_k.weight", {n_embd, n_kv}));
        tensors.push_back(tensor(p + "attn_v.weight", {n_embd, n_kv}));
        tensors.push_back(tensor(p + "attn_output.weight", {n_embd, n_embd}));
        tensors.push_back(tensor(p + "ffn_norm.weight", {n_embd, 1}));  // 1-D with a trailing 1
        tensors.push_back(tensor(p + "ffn_gate.weight", {n_embd, n_ff}));
        tensors.push_back(tensor(p + "ffn_up.weight", {n_embd, n_ff}));
        tensors.push_back(tensor(p + "ffn_down.weight", {n_ff, n_embd}));
    }
    tensors.push_back(tensor("output_norm.weight", {n_embd}));
    if (with_output) tensors.push_back(tensor("output.weight", {n_embd, 1000}));
    return tensors;
}

ModelShape llama_shape(int n_layers) {
    return {"llama", static_cast<uint32_t>(n_layers), 8, 2, 0};
}

std::map<std::string, TensorType> plan_types(const ModelShape& model,
                                             const std::vector<gguf::TensorInfo>& tensors,
                                             std::string_view target, bool pure = false) {
    std::map<std::string, TensorType> types;
    for (const TensorChoice& c :
         choose_tensor_types(model, tensors, parse_quant_target(target), pure)) {
        types[c.name] = c.to;
    }
    return types;
}

// What llama.cpp picks for each tensor of an 8-layer llama model, derived by hand from
// llama_tensor_get_type: per role, the type of layers 0..7, plus token_embd and output.
struct ExpectedMix {
    std::string_view target;
    TensorType token_embd, output;
    TensorType attn_q, attn_k, attn_output, ffn_gate_up;
    std::array<TensorType, 8> attn_v, ffn_down;
};

constexpr TensorType Q2 = TensorType::Q2_K, Q3 = TensorType::Q3_K, Q4 = TensorType::Q4_K,
                     Q5 = TensorType::Q5_K, Q6 = TensorType::Q6_K, Q8 = TensorType::Q8_0;

// With 8 layers, use_more_bits picks layers 0 (< 8/8), 7 (>= 7*8/8) and 3 and 6 ((i-1)%3 == 2).
const ExpectedMix kLlamaMixes[] = {
    {"Q4_K_M",
     Q4,
     Q6,
     Q4,
     Q4,
     Q4,
     Q4,
     {Q6, Q4, Q4, Q6, Q4, Q4, Q6, Q6},
     {Q6, Q4, Q4, Q6, Q4, Q4, Q6, Q6}},
    {"Q5_K_M",
     Q5,
     Q6,
     Q5,
     Q5,
     Q5,
     Q5,
     {Q6, Q5, Q5, Q6, Q5, Q5, Q6, Q6},
     {Q6, Q5, Q5, Q6, Q5, Q5, Q6, Q6}},
    // attn_v: the first two Q5_K; ffn_down: Q5_K below 8/16 = 0 layers, then Q4_K.
    {"Q3_K_M",
     Q3,
     Q6,
     Q3,
     Q3,
     Q4,
     Q3,
     {Q5, Q5, Q4, Q4, Q4, Q4, Q4, Q4},
     {Q4, Q4, Q4, Q4, Q4, Q4, Q4, Q4}},
    {"Q3_K_L",
     Q3,
     Q6,
     Q3,
     Q3,
     Q5,
     Q3,
     {Q5, Q5, Q5, Q5, Q5, Q5, Q5, Q5},
     {Q5, Q5, Q5, Q5, Q5, Q5, Q5, Q5}},
    {"Q3_K_S",
     Q3,
     Q6,
     Q3,
     Q3,
     Q3,
     Q3,
     {Q3, Q3, Q3, Q3, Q3, Q3, Q3, Q3},
     {Q3, Q3, Q3, Q3, Q3, Q3, Q3, Q3}},
    // n_gqa = 4: attn_v in Q4_K.
    {"Q2_K",
     Q2,
     Q6,
     Q2,
     Q2,
     Q3,
     Q2,
     {Q4, Q4, Q4, Q4, Q4, Q4, Q4, Q4},
     {Q3, Q3, Q3, Q3, Q3, Q3, Q3, Q3}},
    {"Q2_K_S",
     Q2,
     Q6,
     Q2,
     Q2,
     Q2,
     Q2,
     {Q4, Q4, Q4, Q4, Q4, Q4, Q4, Q4},
     {Q4, Q2, Q2, Q2, Q2, Q2, Q2, Q2}},
    // attn_v: the first four Q5_K; ffn_down: Q5_K below 8/8 = 1 layer.
    {"Q4_K_S",
     Q4,
     Q6,
     Q4,
     Q4,
     Q4,
     Q4,
     {Q5, Q5, Q5, Q5, Q4, Q4, Q4, Q4},
     {Q5, Q4, Q4, Q4, Q4, Q4, Q4, Q4}},
    {"Q5_K_S",
     Q5,
     Q6,
     Q5,
     Q5,
     Q5,
     Q5,
     {Q5, Q5, Q5, Q5, Q5, Q5, Q5, Q5},
     {Q5, Q5, Q5, Q5, Q5, Q5, Q5, Q5}},
    {"Q6_K",
     Q6,
     Q6,
     Q6,
     Q6,
     Q6,
     Q6,
     {Q6, Q6, Q6, Q6, Q6, Q6, Q6, Q6},
     {Q6, Q6, Q6, Q6, Q6, Q6, Q6, Q6}},
    // Q8_0 keeps the output in Q8_0.
    {"Q8_0",
     Q8,
     Q8,
     Q8,
     Q8,
     Q8,
     Q8,
     {Q8, Q8, Q8, Q8, Q8, Q8, Q8, Q8},
     {Q8, Q8, Q8, Q8, Q8, Q8, Q8, Q8}},
    // The legacy types get a Q6_K output too.
    {"Q4_0",
     TensorType::Q4_0,
     Q6,
     TensorType::Q4_0,
     TensorType::Q4_0,
     TensorType::Q4_0,
     TensorType::Q4_0,
     {TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0,
      TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0},
     {TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0,
      TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0}},
};

TEST(QuantMix, LlamaShapedModelGetsLlamaCppsTypes) {
    const auto tensors = llama_tensors(8, 256, true);
    for (const ExpectedMix& mix : kLlamaMixes) {
        SCOPED_TRACE(std::string(mix.target));
        const auto types = plan_types(llama_shape(8), tensors, mix.target);
        ASSERT_EQ(types.size(), tensors.size());
        EXPECT_EQ(types.at("token_embd.weight"), mix.token_embd);
        EXPECT_EQ(types.at("output.weight"), mix.output);
        EXPECT_EQ(types.at("output_norm.weight"), TensorType::F32);
        for (int i = 0; i < 8; ++i) {
            SCOPED_TRACE("layer " + std::to_string(i));
            const std::string p = "blk." + std::to_string(i) + ".";
            EXPECT_EQ(types.at(p + "attn_q.weight"), mix.attn_q);
            EXPECT_EQ(types.at(p + "attn_k.weight"), mix.attn_k);
            EXPECT_EQ(types.at(p + "attn_v.weight"), mix.attn_v[static_cast<size_t>(i)]);
            EXPECT_EQ(types.at(p + "attn_output.weight"), mix.attn_output);
            EXPECT_EQ(types.at(p + "ffn_gate.weight"), mix.ffn_gate_up);
            EXPECT_EQ(types.at(p + "ffn_up.weight"), mix.ffn_gate_up);
            EXPECT_EQ(types.at(p + "ffn_down.weight"), mix.ffn_down[static_cast<size_t>(i)]);
            EXPECT_EQ(types.at(p + "attn_norm.weight"), TensorType::F32);
            EXPECT_EQ(types.at(p + "ffn_norm.weight"), TensorType::F32);
        }
    }
}

TEST(QuantMix, PureAndFloatTargetsPutEveryWeightInTheBaseType) {
    const auto tensors = llama_tensors(8, 256, true);
    for (std::string_view target : {"Q4_K_M", "Q2_K", "Q5_1", "Q6_K"}) {
        const TensorType base = parse_quant_target(target).base_type;
        for (const auto& [name, type] : plan_types(llama_shape(8), tensors, target, true)) {
            const bool norm = name.find("norm") != std::string::npos;
            EXPECT_EQ(type, norm ? TensorType::F32 : base) << target << " " << name;
        }
    }
    for (std::string_view target : {"F16", "BF16"}) {
        const TensorType base = parse_quant_target(target).base_type;
        for (const auto& [name, type] : plan_types(llama_shape(8), tensors, target)) {
            const bool norm = name.find("norm") != std::string::npos;
            EXPECT_EQ(type, norm ? TensorType::F32 : base) << target << " " << name;
        }
    }
}

TEST(QuantMix, TiedEmbeddingsTakeTheOutputRules) {
    const auto tensors = llama_tensors(8, 256, false);
    EXPECT_EQ(plan_types(llama_shape(8), tensors, "Q4_K_M").at("token_embd.weight"), Q6);
    EXPECT_EQ(plan_types(llama_shape(8), tensors, "Q2_K").at("token_embd.weight"), Q6);
    EXPECT_EQ(plan_types(llama_shape(8), tensors, "Q8_0").at("token_embd.weight"), Q8);
    EXPECT_EQ(plan_types(llama_shape(8), tensors, "Q4_K_M", true).at("token_embd.weight"), Q4);
}

TEST(QuantMix, RowsThatAreNotWholeBlocksFallBack) {
    // 640-element rows (Gemma 3 270M): not whole 256-element blocks, whole 32-element ones.
    const auto tensors = llama_tensors(8, 640, true);
    const auto q4_k_m = plan_types(llama_shape(8), tensors, "Q4_K_M");
    EXPECT_EQ(q4_k_m.at("blk.1.attn_q.weight"), TensorType::Q5_0);  // Q4_K -> Q5_0
    EXPECT_EQ(q4_k_m.at("blk.0.attn_v.weight"), TensorType::Q8_0);  // Q6_K -> Q8_0
    EXPECT_EQ(q4_k_m.at("blk.1.attn_v.weight"), TensorType::Q5_0);
    EXPECT_EQ(q4_k_m.at("blk.0.ffn_down.weight"), Q6);  // rows of 1280 = 5 blocks
    EXPECT_EQ(q4_k_m.at("output.weight"), Q8);          // the output rule itself picks Q8_0
    const auto q2_k = plan_types(llama_shape(8), tensors, "Q2_K", true);
    EXPECT_EQ(q2_k.at("blk.1.attn_q.weight"), TensorType::Q4_0);
    const auto q3_k = plan_types(llama_shape(8), tensors, "Q3_K_S", true);
    EXPECT_EQ(q3_k.at("blk.1.attn_q.weight"), TensorType::Q4_0);
    const auto q5_k = plan_types(llama_shape(8), tensors, "Q5_K_S", true);
    EXPECT_EQ(q5_k.at("blk.1.attn_q.weight"), TensorType::Q5_1);

    // Rows of 48: not even whole 32-element blocks; the k-quants end in F16, the legacy types
    // have no fallback, as in llama.cpp.
    const std::vector<gguf::TensorInfo> odd = {tensor("blk.0.attn_q.weight", {48, 16})};
    const ModelShape model = llama_shape(1);
    EXPECT_EQ(plan_types(model, odd, "Q4_K_M").at("blk.0.attn_q.weight"), TensorType::F16);
    EXPECT_EQ(plan_types(model, odd, "F16").at("blk.0.attn_q.weight"), TensorType::F16);
    try {
        plan_types(model, odd, "Q8_0");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.weight"), std::string::npos) << e.what();
    }
}

TEST(QuantMix, MixturesOfExpertsUseTheLayerInTheName) {
    ModelShape model{"llama", 8, 8, 2, 8};
    std::vector<gguf::TensorInfo> tensors;
    // Expert tensors listed out of layer order; llama.cpp reads the layer from the name.
    for (int i : {7, 0, 3, 1, 2, 4, 5, 6}) {
        const std::string p = "blk." + std::to_string(i) + ".";
        tensors.push_back(tensor(p + "ffn_down_exps.weight", {512, 256, 8}));
        tensors.push_back(tensor(p + "ffn_gate_inp.weight", {256, 8}));
        tensors.push_back(tensor(p + "attn_v.weight", {256, 64}));
        tensors.push_back(tensor(p + "attn_k.weight", {256, 64}));
        tensors.push_back(tensor(p + "attn_output.weight", {256, 256}));
    }
    tensors.push_back(tensor("output.weight", {256, 1000}));
    const auto types = plan_types(model, tensors, "Q4_K_M");
    const std::array<TensorType, 8> ffn_down = {Q6, Q4, Q4, Q6, Q4, Q4, Q6, Q6};
    for (int i = 0; i < 8; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        EXPECT_EQ(types.at(p + "ffn_down_exps.weight"), ffn_down[static_cast<size_t>(i)]) << i;
        EXPECT_EQ(types.at(p + "ffn_gate_inp.weight"), TensorType::F32);  // routers stay
        EXPECT_EQ(types.at(p + "attn_v.weight"), Q8);  // 8 experts: attn_v and attn_k in Q8_0
        EXPECT_EQ(types.at(p + "attn_k.weight"), Q8);
        EXPECT_EQ(types.at(p + "attn_output.weight"), Q5);
    }
    // A feed-forward tensor outside the blocks cannot be placed.
    tensors.push_back(tensor("ffn_down.weight", {512, 256}));
    EXPECT_THROW(plan_types(model, tensors, "Q4_K_M"), Error);
}

TEST(QuantMix, SeventyBillionLlamaWidensAttnV) {
    std::vector<gguf::TensorInfo> tensors;
    for (int i = 0; i < 80; ++i) {
        tensors.push_back(tensor("blk." + std::to_string(i) + ".attn_v.weight", {256, 32}));
    }
    const ModelShape seventy{"llama", 80, 64, 8, 0};
    const ModelShape sixty_five{"llama", 80, 64, 64, 0};
    // use_more_bits for 80 layers: < 10, >= 70, and (i - 10) % 3 == 2, so 12 but not 11.
    EXPECT_EQ(plan_types(seventy, tensors, "Q4_K_M").at("blk.11.attn_v.weight"), Q5);
    EXPECT_EQ(plan_types(sixty_five, tensors, "Q4_K_M").at("blk.11.attn_v.weight"), Q4);
    EXPECT_EQ(plan_types(seventy, tensors, "Q4_K_M").at("blk.12.attn_v.weight"), Q6);
    EXPECT_EQ(plan_types(seventy, tensors, "Q3_K_S").at("blk.11.attn_v.weight"), Q5);
    EXPECT_EQ(plan_types(sixty_five, tensors, "Q3_K_S").at("blk.11.attn_v.weight"), Q3);
}

TEST(QuantMix, OrderIsLlamaCppsBlocksThenNames) {
    std::vector<gguf::TensorInfo> tensors = llama_tensors(12, 256, true);
    const auto choices =
        choose_tensor_types(llama_shape(12), tensors, parse_quant_target("Q4_K_M"), false);
    std::vector<std::string> names;
    for (const TensorChoice& c : choices) names.push_back(c.name);
    EXPECT_EQ(names[0], "output.weight");
    EXPECT_EQ(names[1], "output_norm.weight");
    EXPECT_EQ(names[2], "token_embd.weight");
    EXPECT_EQ(names[3], "blk.0.attn_k.weight");
    EXPECT_EQ(names[4], "blk.0.attn_norm.weight");
    EXPECT_EQ(names[3 + 9 * 9], "blk.9.attn_k.weight");
    EXPECT_EQ(names[3 + 10 * 9], "blk.10.attn_k.weight");  // 10 after 9, not after 1
    // Each choice points back at its tensor; the trailing 1 of ffn_norm is dropped.
    for (const TensorChoice& c : choices) EXPECT_EQ(tensors[c.source_index].name, c.name);
    for (const TensorChoice& c : choices) {
        if (c.name == "blk.0.ffn_norm.weight") {
            EXPECT_EQ(c.shape, std::vector<uint64_t>{256});
        }
    }
}

TEST(QuantMix, MixWithoutHyperParametersIsAnError) {
    const auto tensors = llama_tensors(2, 256, true);
    EXPECT_THROW(plan_types(ModelShape{}, tensors, "Q4_K_M"), Error);
    EXPECT_NO_THROW(plan_types(ModelShape{}, tensors, "Q4_K_M", true));
    EXPECT_NO_THROW(plan_types(ModelShape{}, tensors, "F16"));
}

// ---------------------------------------------------------------------------------------------
// The real Gemma 3 270M Q4_K_M file, made by llama.cpp's quantizer

std::optional<std::string> gemma_path() {
    auto path = find_default_model();
    if (!path) {
        std::printf("skipped: the default model %s is not downloaded (scripts/fetch_model.py)\n",
                    kDefaultModelFile);
    }
    return path;
}

// The file's types are reproduced exactly, all 236 tensors, and so is its order. Gemma ties its
// embeddings (token_embd takes the output rules: Q8_0, since 640 is not whole Q6_K blocks) and
// has 640-element rows, so most Q4_K choices fall back to Q5_0 and the Q6_K ones to Q8_0; the
// attn_output (1024) and ffn_down (2048) rows stay k-quants. The file has no quantize.imatrix.*
// keys, so llama-quantize ran without an importance matrix, as tessera does (for Q4_K_M an
// imatrix would not change the types anyway: llama.cpp consults it only for IQ, Q4_0 and Q5_0).
TEST(QuantMixGemma, Q4KMPlanEqualsTheFilesTypes) {
    const auto path = gemma_path();
    if (!path) GTEST_SKIP() << "default model not downloaded";
    const gguf::File file = gguf::File::open(*path);
    ASSERT_EQ(file.get_uint("general.file_type"), 15u);
    ASSERT_EQ(file.find("quantize.imatrix.file"), nullptr);
    const ModelShape model = ModelShape::from_file(file);
    EXPECT_EQ(model.architecture, "gemma3");
    EXPECT_EQ(model.n_layers, 18u);
    const auto choices =
        choose_tensor_types(model, file.tensors(), parse_quant_target("Q4_K_M"), false);
    ASSERT_EQ(choices.size(), file.tensors().size());
    size_t agree = 0;
    for (size_t i = 0; i < choices.size(); ++i) {
        const gguf::TensorInfo& actual = file.tensors()[i];
        EXPECT_EQ(choices[i].name, actual.name) << "order differs at " << i;
        const gguf::TensorInfo& source = file.tensors()[choices[i].source_index];
        EXPECT_EQ(choices[i].to, source.type)
            << source.name << ": planned " << quant::type_info(choices[i].to).name << ", file has "
            << quant::type_info(source.type).name;
        agree += choices[i].to == source.type;
    }
    EXPECT_EQ(agree, 236u);
    std::map<TensorType, int> counts;
    for (const TensorChoice& c : choices) ++counts[c.to];
    EXPECT_EQ(counts[TensorType::Q8_0], 1 + 9);   // token_embd, attn_v of use_more_bits layers
    EXPECT_EQ(counts[TensorType::Q6_K], 9);       // ffn_down of use_more_bits layers
    EXPECT_EQ(counts[TensorType::Q4_K], 18 + 9);  // attn_output, the other ffn_down
    EXPECT_EQ(counts[TensorType::Q5_0], 18 * 4 + 9);
}

// Requantizing llama.cpp's own Q4_K_M file to Q4_K_M copies every tensor and writes the same
// header: the output is the input, byte for byte.
TEST(QuantMixGemma, Q4KMToQ4KMReproducesTheFile) {
    const auto path = gemma_path();
    if (!path) GTEST_SKIP() << "default model not downloaded";
    const std::string out = test::temp_dir() + "/gemma-q4_k_m.gguf";
    const QuantizeSummary summary = quantize_model(*path, out, parse_quant_target("Q4_K_M"));
    EXPECT_EQ(summary.bytes_in, summary.bytes_out);
    const gguf::File a = gguf::File::open(*path);
    const gguf::File b = gguf::File::open(out);
    ASSERT_EQ(a.file_size(), b.file_size());
    EXPECT_TRUE(std::equal(a.bytes().begin(), a.bytes().end(), b.bytes().begin()));
    fs::remove(out);
}

// ---------------------------------------------------------------------------------------------
// --pure against llama-quantize --pure

std::string quant_dir() {
    return test::testdata_dir() + "/quant";
}

TEST(QuantizePure, MatchesLlamaQuantizeByteForByte) {
    const std::string source = quant_dir() + "/source-f32.gguf";
    for (std::string_view type :
         {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"}) {
        SCOPED_TRACE(std::string(type));
        const std::string out = test::temp_dir() + "/" + std::string(type) + ".gguf";
        QuantizeOptions options;
        options.pure = true;
        options.n_threads = 3;
        quantize_model(source, out, parse_quant_target(type), options);
        const gguf::File ours = gguf::File::open(out);
        const gguf::File theirs = gguf::File::open(quant_dir() + "/" + std::string(type) + ".gguf");
        ASSERT_EQ(ours.tensors().size(), theirs.tensors().size());
        for (size_t i = 0; i < ours.tensors().size(); ++i) {
            const gguf::TensorInfo& t = theirs.tensors()[i];
            const gguf::TensorInfo& o = ours.tensors()[i];
            ASSERT_EQ(o.name, t.name);
            ASSERT_EQ(o.type, t.type) << t.name;
            ASSERT_EQ(o.shape, t.shape) << t.name;
            const auto a = ours.tensor_data(o);
            const auto b = theirs.tensor_data(t);
            ASSERT_EQ(a.size(), b.size()) << t.name;
            size_t first_difference = a.size();
            for (size_t j = 0; j < a.size() && first_difference == a.size(); ++j) {
                if (a[j] != b[j]) first_difference = j;
            }
            EXPECT_EQ(first_difference, a.size())
                << t.name << ": bytes differ from byte " << first_difference << " of " << a.size();
        }
        // The same metadata, order and padding too: the whole file is llama-quantize's.
        EXPECT_EQ(ours.file_size(), theirs.file_size());
        EXPECT_TRUE(ours.file_size() == theirs.file_size() &&
                    std::equal(ours.bytes().begin(), ours.bytes().end(), theirs.bytes().begin()))
            << "the files differ outside the tensor data";
    }
}

// ---------------------------------------------------------------------------------------------
// Requantizing quantized files

std::vector<float> dequantized(const gguf::File& file, const gguf::TensorInfo& info) {
    std::vector<float> values(info.n_elements);
    const uint64_t row = info.shape[0];
    const uint64_t row_bytes = quant::row_bytes(quant::type_info(info.type), row);
    const auto data = file.tensor_data(info);
    for (uint64_t r = 0; r < info.n_elements / row; ++r) {
        quant::dequantize_row(info.type, data.data() + r * row_bytes, values.data() + r * row,
                              static_cast<int64_t>(row));
    }
    return values;
}

TEST(QuantizeRequantize, Q8ToQ4KToF16ReadsBack) {
    const std::string dir = test::temp_dir();
    const std::string source = quant_dir() + "/source-f32.gguf";
    QuantizeOptions pure;
    pure.pure = true;
    quantize_model(source, dir + "/q8.gguf", parse_quant_target("Q8_0"), pure);
    const QuantizeSummary to_q4 =
        quantize_model(dir + "/q8.gguf", dir + "/q4.gguf", parse_quant_target("Q4_K"), pure);
    const QuantizeSummary to_f16 =
        quantize_model(dir + "/q4.gguf", dir + "/f16.gguf", parse_quant_target("F16"));

    const gguf::File original = gguf::File::open(source);
    const gguf::File q4 = gguf::File::open(dir + "/q4.gguf");
    const gguf::File f16 = gguf::File::open(dir + "/f16.gguf");
    EXPECT_EQ(q4.get_uint("general.file_type"), 15u);
    EXPECT_EQ(q4.get_uint("general.quantization_version"), 2u);
    EXPECT_EQ(f16.get_uint("general.file_type"), 1u);
    EXPECT_EQ(f16.get_string("general.name"), original.get_string("general.name"));
    EXPECT_EQ(to_q4.tensors.size(), original.tensors().size());
    EXPECT_LT(to_q4.bytes_out, to_q4.bytes_in);
    EXPECT_GT(to_f16.bytes_out, to_f16.bytes_in);

    for (const gguf::TensorInfo& t : original.tensors()) {
        SCOPED_TRACE(t.name);
        const gguf::TensorInfo& in_q4 = q4.tensor(t.name);
        const gguf::TensorInfo& in_f16 = f16.tensor(t.name);
        const bool weight = t.shape.size() >= 2;
        EXPECT_EQ(in_q4.type, weight ? TensorType::Q4_K : TensorType::F32);
        EXPECT_EQ(in_f16.type, weight ? TensorType::F16 : TensorType::F32);
        // F16 holds the Q4_K values to F16's precision; Q4_K is near the original.
        const auto a = dequantized(q4, in_q4);
        const auto b = dequantized(f16, in_f16);
        const auto x = dequantized(original, t);
        double max_abs = 0, err = 0, norm = 0;
        for (size_t i = 0; i < a.size(); ++i) {
            ASSERT_NEAR(b[i], a[i], std::fabs(a[i]) * 1e-3 + 1e-7) << i;
            max_abs = std::max(max_abs, std::fabs(static_cast<double>(x[i])));
            err += (a[i] - x[i]) * static_cast<double>(a[i] - x[i]);
            norm += x[i] * static_cast<double>(x[i]);
        }
        if (norm > 0) {
            EXPECT_LT(std::sqrt(err / norm), 0.25) << "relative RMS error";
        }
    }
}

TEST(QuantizeRequantize, ThreadCountDoesNotChangeTheBytes) {
    const std::string dir = test::temp_dir();
    const std::string source = quant_dir() + "/q8_0.gguf";
    QuantizeOptions one, many;
    one.n_threads = 1;
    many.n_threads = 5;
    quantize_model(source, dir + "/one.gguf", parse_quant_target("Q3_K_M"), one);
    quantize_model(source, dir + "/many.gguf", parse_quant_target("Q3_K_M"), many);
    const gguf::File a = gguf::File::open(dir + "/one.gguf");
    const gguf::File b = gguf::File::open(dir + "/many.gguf");
    ASSERT_EQ(a.file_size(), b.file_size());
    EXPECT_TRUE(std::equal(a.bytes().begin(), a.bytes().end(), b.bytes().begin()));
}

// ---------------------------------------------------------------------------------------------
// Failures leave nothing behind

bool only_entry_is(const std::string& dir, const std::string& name) {
    size_t n = 0;
    bool found = false;
    for (const auto& entry : fs::directory_iterator(dir)) {
        ++n;
        found |= entry.path().filename() == name;
    }
    return n == 1 && found;
}

TEST(QuantizeFailure, InterruptedRunLeavesNoOutput) {
    const std::string dir = test::temp_dir();
    const std::string out = dir + "/out.gguf";
    QuantizeOptions options;
    int calls = 0;
    options.on_progress = [&](const QuantizeProgress& p) {
        EXPECT_LE(p.bytes_done, p.bytes_total);
        if (++calls == 3) throw std::runtime_error("interrupted");
    };
    EXPECT_THROW(quantize_model(quant_dir() + "/source-f32.gguf", out, parse_quant_target("Q4_K_M"),
                                options),
                 std::runtime_error);
    EXPECT_FALSE(fs::exists(out));
    EXPECT_TRUE(fs::is_empty(dir)) << "a temporary file was left";

    // An existing file stays as it was.
    std::ofstream(out) << "old";
    calls = 0;
    EXPECT_THROW(quantize_model(quant_dir() + "/source-f32.gguf", out, parse_quant_target("Q4_K_M"),
                                options),
                 std::runtime_error);
    EXPECT_TRUE(only_entry_is(dir, "out.gguf"));
    std::ifstream kept(out);
    const std::string content(std::istreambuf_iterator<char>(kept), {});
    EXPECT_TRUE(content == "old") << "the existing file was replaced";
}

TEST(QuantizeFailure, ProgressReachesTheTotal) {
    QuantizeOptions options;
    QuantizeProgress last;
    options.on_progress = [&](const QuantizeProgress& p) {
        EXPECT_GE(p.bytes_done, last.bytes_done);
        last = p;
        last.tensor = {};
    };
    const std::string out = test::temp_dir() + "/out.gguf";
    quantize_model(quant_dir() + "/source-f32.gguf", out, parse_quant_target("Q6_K"), options);
    EXPECT_EQ(last.bytes_done, last.bytes_total);
    EXPECT_EQ(last.tensors_done, 12u);
    EXPECT_EQ(last.n_tensors, 12u);
}

// A file with an IQ4_NL weight (no codec here) and an I32 table.
std::string write_file_without_codecs(const std::string& dir) {
    const std::string path = dir + "/iq.gguf";
    gguf::Writer writer(path);
    writer.add("general.architecture", gguf::Value::from_string("llama"));
    writer.add("llama.block_count", gguf::Value::from_uint(gguf::ValueType::UINT32, 1));
    writer.add_tensor({"blk.0.attn_q.weight", {256, 4}, TensorType::IQ4_NL});
    writer.add_tensor({"rope_ids", {16}, TensorType::I32});
    writer.write_header();
    std::vector<uint8_t> bytes(8 * 18 * 4, 0);  // 4 rows of 8 blocks of 18 bytes, zero
    writer.write_tensor_data(bytes);
    writer.write_tensor_data(std::vector<uint8_t>(64, 7));
    writer.finish();
    return path;
}

TEST(QuantizeFailure, TypeWithoutCodecIsCopiedOrNamed) {
    const std::string dir = test::temp_dir();
    const std::string in = write_file_without_codecs(dir);
    try {
        quantize_model(in, dir + "/out.gguf", parse_quant_target("Q4_0"));
        FAIL() << "expected an error";
    } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("blk.0.attn_q.weight"), std::string::npos) << message;
        EXPECT_NE(message.find("iq4_nl"), std::string::npos) << message;
    }
    EXPECT_FALSE(fs::exists(dir + "/out.gguf"));

    // The I32 table keeps its type under every target and is copied byte for byte.
    const std::string table_only = dir + "/table.gguf";
    {
        gguf::Writer writer(table_only);
        writer.add("general.architecture", gguf::Value::from_string("llama"));
        writer.add("llama.block_count", gguf::Value::from_uint(gguf::ValueType::UINT32, 1));
        writer.add("tessera.digest.all", gguf::Value::from_uint(gguf::ValueType::UINT64, 1));
        writer.add_tensor({"rope_ids", {16}, TensorType::I32});
        writer.write_header();
        writer.write_tensor_data(std::vector<uint8_t>(64, 7));
        writer.finish();
    }
    quantize_model(table_only, dir + "/out.gguf", parse_quant_target("Q4_K_M"));
    const gguf::File out = gguf::File::open(dir + "/out.gguf");
    EXPECT_EQ(out.tensors()[0].type, TensorType::I32);
    const auto data = out.tensor_data(out.tensors()[0]);
    EXPECT_TRUE(std::all_of(data.begin(), data.end(), [](uint8_t b) { return b == 7; }));
    EXPECT_EQ(out.find("tessera.digest.all"), nullptr) << "stale digests must be dropped";
}

TEST(QuantizeFailure, Q2KSNeedsAnImportanceMatrix) {
    const std::string out = test::temp_dir() + "/out.gguf";
    try {
        quantize_model(quant_dir() + "/source-f32.gguf", out, parse_quant_target("Q2_K_S"));
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("importance matrix"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(out));
}

// ---------------------------------------------------------------------------------------------
// The command

test::ToolResult tessera_quantize(const std::string& arguments) {
    return test::run_tool("quantize " + arguments);
}

size_t count_lines(const std::string& text) {
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(ToolQuantize, WritesTheFileAndOneSummaryLine) {
    const std::string out = test::temp_dir() + "/out.gguf";
    const test::ToolResult r =
        tessera_quantize("'" + quant_dir() + "/source-f32.gguf' '" + out + "' q4_k --pure -t 2");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(count_lines(r.out), 1u) << r.out;
    EXPECT_EQ(r.out.rfind("wrote " + out + ": 12 tensors, ", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("bits per weight"), std::string::npos) << r.out;
    const gguf::File a = gguf::File::open(out);
    const gguf::File b = gguf::File::open(quant_dir() + "/q4_k.gguf");
    ASSERT_EQ(a.file_size(), b.file_size());
    EXPECT_TRUE(std::equal(a.bytes().begin(), a.bytes().end(), b.bytes().begin()));
}

TEST(ToolQuantize, DryRunPrintsThePlanAndWritesNothing) {
    const std::string dir = test::temp_dir();
    test::ToolResult r = tessera_quantize("--dry-run '" + quant_dir() + "/source-f32.gguf' Q4_K_M");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(count_lines(r.out), 13u) << r.out;
    EXPECT_NE(r.out.find("output.weight"), std::string::npos);
    EXPECT_NE(r.out.find("q6_K"), std::string::npos) << r.out;  // the output rule
    r = tessera_quantize("--dry-run '" + quant_dir() + "/source-f32.gguf' '" + dir +
                         "/out.gguf' Q4_K_M");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(fs::exists(dir + "/out.gguf"));
}

TEST(ToolQuantize, ErrorsAreOneLineWithAnExitStatus) {
    const std::string dir = test::temp_dir();
    const std::string source = "'" + quant_dir() + "/source-f32.gguf'";

    test::ToolResult r = tessera_quantize("--help");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("Q4_K_M"), std::string::npos);

    r = tessera_quantize(source + " " + dir + "/a.gguf Q4_K_X");
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("unknown TYPE 'Q4_K_X'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Q8_0"), std::string::npos) << r.err;

    r = tessera_quantize(source + " " + dir + "/a.gguf");  // no TYPE
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;

    r = tessera_quantize(source + " " + dir + "/a.gguf Q4_0 -t many");
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;

    r = tessera_quantize(dir + "/missing.gguf " + dir + "/a.gguf Q4_0");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("missing.gguf"), std::string::npos) << r.err;

    r = tessera_quantize(source + " " + dir + "/a.gguf Q2_K_S");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;

    r = tessera_quantize(source + " " + dir + "/no-such-dir/a.gguf Q4_0");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;

    EXPECT_FALSE(fs::exists(dir + "/a.gguf"));
}

}  // namespace
}  // namespace tessera
