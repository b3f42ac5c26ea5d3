// The Vulkan backend beyond the conformance suite (which runs every op on every device of every
// backend, lavapipe included):
//   - every test of this binary runs Vulkan under the Khronos validation layer: this file sets
//     TESSERA_VULKAN_VALIDATION=1 before main unless the environment says otherwise, so that
//     each Vulkan device records the layer's messages and any message fails the transfer,
//     compile or wait() after it; a device torn down after work leaves no message behind;
//   - failures are clear errors and leave the process and the device usable: a missing device,
//     an impossible allocation, a row id out of range (at wait()), a step refused at submit;
//   - end to end: the tiny reference models (tests/fixtures/tiny) give the CPU's logits, and a
//     greedy run of Gemma 3 270M agrees with the CPU token for token up to near-ties.
// Tests skip, saying why, where no Vulkan device exists (a build without the backend, or a
// machine without a driver).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/default_model.h"
#include "runtime/model.h"
#include "tests/test_paths.h"

#ifdef TESSERA_BUILD_VULKAN
#include "backends/vulkan/vulkan_api.h"
#include "backends/vulkan/vulkan_backend.h"
#endif

namespace tessera {
namespace {

// Before main (and before any device opens): validation on, unless the caller chose.
const bool kValidationAsked = [] {
    return setenv("TESSERA_VULKAN_VALIDATION", "1", /*overwrite=*/0) == 0;
}();

bool has_vulkan_device() {
    for (const backend::DeviceInfo& device : backend::list_devices()) {
        if (device.backend == "vulkan") return true;
    }
    return false;
}

#define SKIP_WITHOUT_VULKAN()                                                                \
    do {                                                                                     \
        if (!has_vulkan_device()) {                                                          \
            std::printf("[ SKIPPED ] no Vulkan device (backend not built, or no driver)\n"); \
            GTEST_SKIP() << "no Vulkan device";                                              \
        }                                                                                    \
    } while (false)

std::vector<std::string> validation_messages(backend::Device& device) {
#ifdef TESSERA_BUILD_VULKAN
    return backend::vulkan::take_validation_messages(device);
#else
    (void)device;
    return {};
#endif
}

// A graph of one GET_ROWS over a 4x3 table, with its buffers on `device`.
struct GetRowsGraph {
    backend::Graph graph;
    std::vector<std::unique_ptr<backend::Buffer>> buffers;
    std::vector<backend::Buffer*> pointers;

    GetRowsGraph(backend::Device& device, const std::vector<int32_t>& ids) {
        backend::Tensor table;
        table.shape = {4, 3, 1, 1};
        table.name = "table";
        backend::Tensor id_tensor;
        id_tensor.type = quant::TensorType::I32;
        id_tensor.shape = {static_cast<int64_t>(ids.size()), 1, 1, 1};
        id_tensor.buffer = 1;
        id_tensor.name = "ids";
        backend::Tensor rows;
        rows.shape = {4, static_cast<int64_t>(ids.size()), 1, 1};
        rows.buffer = 2;
        rows.name = "rows";
        graph.tensors = {table, id_tensor, rows};
        graph.nodes.push_back({backend::Op::GET_ROWS, {0, 1, -1, -1}, 2, {}});
        std::vector<float> values(12);
        for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
        for (const backend::Tensor& t : graph.tensors) {
            buffers.push_back(device.allocate(t.n_bytes(), backend::MemoryKind::DeviceLocal));
            pointers.push_back(buffers.back().get());
        }
        device.upload(*buffers[0], 0,
                      {reinterpret_cast<const uint8_t*>(values.data()), values.size() * 4});
        device.upload(*buffers[1], 0,
                      {reinterpret_cast<const uint8_t*>(ids.data()), ids.size() * 4});
    }
    std::vector<float> rows(backend::Device& device) {
        std::vector<float> out(buffers[2]->size() / 4);
        device.download(*buffers[2], 0, {reinterpret_cast<uint8_t*>(out.data()), out.size() * 4});
        return out;
    }
};

TEST(VulkanBackend, TestsRunUnderTheValidationLayer) {
    SKIP_WITHOUT_VULKAN();
    ASSERT_TRUE(kValidationAsked);
    const char* value = std::getenv("TESSERA_VULKAN_VALIDATION");
    if (value == nullptr || std::string(value) == "0") {
        GTEST_SKIP() << "TESSERA_VULKAN_VALIDATION=0 in the environment turned validation off";
    }
    // A device that did real work, then torn down: nothing reported at any point.
    auto device = backend::open_device("vulkan", 0);
    {
        GetRowsGraph test(*device, {2, 0});
        const auto executable = device->compile(test.graph, test.pointers);
        const auto queue = device->create_queue({});
        queue->submit(*executable, {});
        queue->wait();
        EXPECT_EQ(test.rows(*device), (std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3}));
    }
    const auto messages = validation_messages(*device);
    EXPECT_TRUE(messages.empty()) << messages.front();
}

TEST(VulkanBackend, AMissingDeviceIsAClearError) {
    SKIP_WITHOUT_VULKAN();
    try {
        (void)backend::open_device("vulkan", 99);
        FAIL() << "device 99 opened";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("no device 99"), std::string::npos)
            << error.what();
    }
    // The process goes on, and the real device still opens.
    EXPECT_NO_THROW((void)backend::open_device("vulkan", 0));
}

TEST(VulkanBackend, AFailedAllocationLeavesTheDeviceUsable) {
    SKIP_WITHOUT_VULKAN();
    auto device = backend::open_device("vulkan", 0);
    for (const auto kind : {backend::MemoryKind::DeviceLocal, backend::MemoryKind::HostVisible}) {
        const uint64_t too_much = device->info().memory_bytes * 4;
        try {
            (void)device->allocate(too_much, kind);
            FAIL() << "allocating four times the device's memory succeeded";
        } catch (const Error& error) {
            const std::string message = error.what();
            EXPECT_NE(message.find(std::to_string(too_much)), std::string::npos) << message;
            EXPECT_NE(message.find("available"), std::string::npos) << message;
        }
    }
    GetRowsGraph test(*device, {1});
    const auto executable = device->compile(test.graph, test.pointers);
    const auto queue = device->create_queue({});
    queue->submit(*executable, {});
    EXPECT_NO_THROW(queue->wait());
    EXPECT_EQ(test.rows(*device), (std::vector<float>{4, 5, 6, 7}));
}

TEST(VulkanBackend, DeviceErrorsComeAtWaitAndTheQueueGoesOn) {
    SKIP_WITHOUT_VULKAN();
    auto device = backend::open_device("vulkan", 0);
    GetRowsGraph test(*device, {1, 7, -2});
    const auto executable = device->compile(test.graph, test.pointers);
    const auto queue = device->create_queue({});
    queue->submit(*executable, {});
    try {
        queue->wait();
        FAIL() << "ids out of range did not fail";
    } catch (const Error& error) {
        const std::string message = error.what();
        // The first bad id, where it is, and the node.
        EXPECT_NE(message.find("row id 7 at index 1"), std::string::npos) << message;
        EXPECT_NE(message.find("node 0 (GET_ROWS -> rows)"), std::string::npos) << message;
    }
    const int32_t good[] = {0, 1, 2};
    device->upload(*test.buffers[1], 0, {reinterpret_cast<const uint8_t*>(good), sizeof(good)});
    queue->submit(*executable, {});
    EXPECT_NO_THROW(queue->wait());
    EXPECT_EQ(test.rows(*device), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

#ifdef TESSERA_BUILD_VULKAN
// A lost device cannot be brought about on lavapipe (it has no watchdog to reset a hung
// shader), so this checks what every failed call turns a loss into: an Error that names the
// call, what was being done and that the device must be opened again. The queue throws it from
// wait() after waiting for every fence, so the process goes on (see the test above).
TEST(VulkanBackend, ADeviceLossIsAClearError) {
    try {
        backend::vulkan::check(VK_ERROR_DEVICE_LOST, "vkWaitForFences", "waiting for a run");
        FAIL() << "VK_ERROR_DEVICE_LOST did not throw";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("vkWaitForFences failed with VK_ERROR_DEVICE_LOST"),
                  std::string::npos)
            << message;
        EXPECT_NE(message.find("while waiting for a run"), std::string::npos) << message;
        EXPECT_NE(message.find("must be opened again"), std::string::npos) << message;
    }
    EXPECT_NO_THROW(backend::vulkan::check(VK_SUCCESS, "vkWaitForFences", "waiting for a run"));
}

// Device-local memory left unmapped (as on a discrete GPU): every transfer goes through the
// staging buffer, in slices when larger than it, and a copy within one buffer that overlaps
// itself goes through it too; graphs run the same.
TEST(VulkanBackend, StagingTransfersWhereMemoryIsNotMapped) {
    SKIP_WITHOUT_VULKAN();
    backend::vulkan::DeviceOptions options;
    options.map_device_local_memory = false;
    auto device = backend::vulkan::open_device(0, options);
    const size_t size = (40u << 20) + 12;  // more than two staging slices
    std::vector<uint8_t> data(size);
    uint32_t state = 1;
    for (uint8_t& byte : data) {
        state = state * 1664525u + 1013904223u;
        byte = static_cast<uint8_t>(state >> 24);
    }
    const auto buffer = device->allocate(size + 1000, backend::MemoryKind::DeviceLocal);
    ASSERT_EQ(buffer->host_data(), nullptr);
    device->upload(*buffer, 3, data);
    std::vector<uint8_t> back(size);
    device->download(*buffer, 3, back);
    EXPECT_TRUE(back == data);
    // Overlapping moves within the buffer, up and down.
    device->copy(*buffer, 3, *buffer, 503, size);
    device->download(*buffer, 503, back);
    EXPECT_TRUE(back == data);
    device->copy(*buffer, 503, *buffer, 0, size);
    device->download(*buffer, 0, back);
    EXPECT_TRUE(back == data);
    EXPECT_THROW(device->upload(*buffer, size, data), Error);

    GetRowsGraph test(*device, {2, 1});
    const auto executable = device->compile(test.graph, test.pointers);
    const auto queue = device->create_queue({});
    queue->submit(*executable, {});
    queue->wait();
    EXPECT_EQ(test.rows(*device), (std::vector<float>{8, 9, 10, 11, 4, 5, 6, 7}));
    const auto messages = validation_messages(*device);
    EXPECT_TRUE(messages.empty()) << messages.front();
}
#endif

// ---------------------------------------------------------------------------------------------
// The tiny reference models on Vulkan and on the CPU.
//
// Both backends are held to transformers' float64 logits within the same tolerance tol (see
// tests/reference_logits_test.cpp: max(1e-3, 1.5 x the fixture's F16-cache error), relative to
// ||ref_p||_inf per position p). So ||vulkan_p - cpu_p||_inf <= 2 tol ||ref_p||_inf follows
// from the triangle inequality: that is the bound between the two, and greedy choices must
// agree wherever the CPU's top two are further apart than it.

struct TinyFixture {
    std::string gguf;
    uint32_t n_vocab = 0;
    double tolerance = 0.0;
    std::vector<std::vector<int32_t>> sequences;
    std::vector<std::vector<float>> logits;
};

TinyFixture load_tiny(const std::string& arch) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(test::source_dir()) / "tests" / "fixtures" / "tiny";
    std::ifstream json_file(dir / (arch + ".logits.json"));
    const nlohmann::json description = nlohmann::json::parse(json_file);
    TinyFixture fixture;
    fixture.gguf = (dir / description.at("gguf").get<std::string>()).string();
    fixture.n_vocab = description.at("n_vocab").get<uint32_t>();
    fixture.tolerance = std::max(1e-3, 1.5 * description.at("f16_qkv_rel_error").get<double>());
    const fs::path bin_path = dir / description.at("logits").get<std::string>();
    std::vector<float> all(fs::file_size(bin_path) / sizeof(float));
    std::ifstream bin(bin_path, std::ios::binary);
    bin.read(reinterpret_cast<char*>(all.data()),
             static_cast<std::streamsize>(all.size() * sizeof(float)));
    for (const auto& entry : description.at("sequences")) {
        fixture.sequences.push_back(entry.at("tokens").get<std::vector<int32_t>>());
        const size_t offset = entry.at("offset").get<size_t>();
        const size_t n = fixture.sequences.back().size() * fixture.n_vocab;
        fixture.logits.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(offset),
                                    all.begin() + static_cast<std::ptrdiff_t>(offset + n));
    }
    return fixture;
}

// Every position's logits: the whole sequence in one batch, or token by token.
std::vector<float> run_sequence(Context& context, const std::vector<int32_t>& tokens,
                                bool one_batch) {
    context.reset();
    if (one_batch) {
        const auto logits = context.decode(tokens, Logits::All);
        return {logits.begin(), logits.end()};
    }
    std::vector<float> all;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const auto logits = context.decode(std::span(tokens).subspan(i, 1));
        all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
}

// max over positions of ||a_p - b_p||_inf / ||ref_p||_inf.
double relative_difference(std::span<const float> a, std::span<const float> b,
                           std::span<const float> ref, uint32_t n_vocab) {
    double worst = 0.0;
    for (size_t p = 0; p < ref.size() / n_vocab; ++p) {
        double ref_inf = 0.0, diff = 0.0;
        for (size_t i = p * n_vocab; i < (p + 1) * n_vocab; ++i) {
            ref_inf = std::max(ref_inf, std::fabs(static_cast<double>(ref[i])));
            const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
            diff = std::isnan(d) ? INFINITY : std::max(diff, d);
        }
        worst = std::max(worst, diff / ref_inf);
    }
    return worst;
}

class VulkanTinyModels : public ::testing::TestWithParam<const char*> {};

TEST_P(VulkanTinyModels, GiveTheCpuLogits) {
    SKIP_WITHOUT_VULKAN();
    const TinyFixture fixture = load_tiny(GetParam());
    ModelOptions on_vulkan;
    on_vulkan.backend = "vulkan";
    const auto vulkan_model = Model::load(fixture.gguf, on_vulkan);
    const auto cpu_model = Model::load(fixture.gguf);
    ContextOptions options;
    options.n_ctx = 64;
    options.n_threads = 2;
    Context vulkan(vulkan_model, options);
    Context cpu(cpu_model, options);

    double worst_vs_cpu = 0.0, worst_vs_reference = 0.0;
    for (size_t s = 0; s < fixture.sequences.size(); ++s) {
        for (const bool one_batch : {true, false}) {
            // Token by token on the longest sequence only: the same kernels, many more runs.
            if (!one_batch && s + 1 != fixture.sequences.size()) continue;
            const std::vector<int32_t>& tokens = fixture.sequences[s];
            const std::vector<float> ours = run_sequence(vulkan, tokens, one_batch);
            const std::vector<float> theirs = run_sequence(cpu, tokens, one_batch);
            const std::vector<float>& ref = fixture.logits[s];
            ASSERT_EQ(ours.size(), ref.size());
            const double vs_reference = relative_difference(ours, ref, ref, fixture.n_vocab);
            const double vs_cpu = relative_difference(ours, theirs, ref, fixture.n_vocab);
            worst_vs_cpu = std::max(worst_vs_cpu, vs_cpu);
            worst_vs_reference = std::max(worst_vs_reference, vs_reference);
            const std::string what = std::string(GetParam()) + " sequence " + std::to_string(s) +
                                     (one_batch ? " in one batch" : " token by token");
            EXPECT_LE(vs_reference, fixture.tolerance) << what << " against transformers";
            EXPECT_LE(vs_cpu, 2 * fixture.tolerance) << what << " against the CPU";
            // Greedy choices agree wherever the CPU's top two are clearly apart.
            for (size_t p = 0; p < tokens.size(); ++p) {
                const auto row = std::span(theirs).subspan(p * fixture.n_vocab, fixture.n_vocab);
                const auto mine = std::span(ours).subspan(p * fixture.n_vocab, fixture.n_vocab);
                const auto ref_row = std::span(ref).subspan(p * fixture.n_vocab, fixture.n_vocab);
                const size_t top = std::max_element(row.begin(), row.end()) - row.begin();
                const size_t my_top = std::max_element(mine.begin(), mine.end()) - mine.begin();
                double ref_inf = 0.0;
                for (float v : ref_row) ref_inf = std::max(ref_inf, std::fabs(double{v}));
                const double gap = static_cast<double>(row[top]) - row[my_top];
                EXPECT_TRUE(top == my_top || gap <= 2 * 2 * fixture.tolerance * ref_inf)
                    << what << ", position " << p << ": Vulkan picks " << my_top << ", the CPU "
                    << top << " with a lead of " << gap;
            }
        }
    }
    std::printf("[ measured ] %-7s Vulkan vs CPU %.3e, vs transformers %.3e (tolerance %.1e)\n",
                GetParam(), worst_vs_cpu, worst_vs_reference, fixture.tolerance);
    const auto messages = validation_messages(vulkan_model->device());
    EXPECT_TRUE(messages.empty()) << messages.front();
}

const char* const kTinyArchitectures[] = {"llama", "qwen2", "qwen3", "gemma3"};
INSTANTIATE_TEST_SUITE_P(Fixtures, VulkanTinyModels, ::testing::ValuesIn(kTinyArchitectures),
                         [](const auto& test_info) { return std::string(test_info.param); });

// ---------------------------------------------------------------------------------------------
// Gemma 3 270M, greedy, Vulkan against the CPU on the same file. The margin is
// tests/gemma_reference_test.cpp's: quantized activations make every implementation's logits
// noisy at the scale of a few tenths, so where the CPU's top two are under kNearTie apart either
// token is right and the runs may part there; before that every token must agree.

constexpr double kNearTie = 0.5;
constexpr size_t kGreedyTokens = 8;

int32_t argmax(std::span<const float> logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

TEST(VulkanGemma, GreedyRunAgreesWithTheCpu) {
    SKIP_WITHOUT_VULKAN();
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "runs in the release suite: the whole model under AddressSanitizer on "
                    "lavapipe would take minutes; the tiny models cover the same kernels";
#endif
    const std::optional<std::string> found = find_default_model();
    if (!found) {
        std::printf("[ SKIPPED ] the default model (%s) is not in %s\n", kDefaultModelFile,
                    default_model_dir().c_str());
        GTEST_SKIP() << "the default model is not downloaded; run scripts/fetch_model.py";
    }
    ModelOptions on_vulkan;
    on_vulkan.backend = "vulkan";
    const auto vulkan_model = Model::load(*found, on_vulkan);
    const auto cpu_model = Model::load(*found);
    ContextOptions options;
    options.n_ctx = 256;
    options.n_threads = 2;
    Context vulkan(vulkan_model, options);
    Context cpu(cpu_model, options);

    std::ifstream in(test::source_dir() + "/tests/fixtures/gemma3-270m/greedy.json");
    const nlohmann::json reference = nlohmann::json::parse(in);
    for (const auto& prompt : reference["prompts"]) {
        const std::string name = prompt["name"];
        if (name != "capital" && name != "counting") continue;  // two short prompts
        const auto tokens = prompt["prompt_tokens"].get<std::vector<int32_t>>();
        vulkan.reset();
        cpu.reset();
        auto vulkan_logits = vulkan.decode(tokens);
        auto cpu_logits = cpu.decode(tokens);
        size_t agreed = 0;
        for (size_t i = 0; i < kGreedyTokens; ++i) {
            const int32_t ours = argmax(vulkan_logits);
            const int32_t theirs = argmax(cpu_logits);
            std::vector<float> sorted(cpu_logits.begin(), cpu_logits.end());
            std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(),
                              std::greater<float>());
            const double gap = static_cast<double>(sorted[0]) - sorted[1];
            if (ours != theirs) {
                EXPECT_LT(gap, kNearTie)
                    << name << ": token " << i << " is " << ours << " on Vulkan, " << theirs
                    << " on the CPU, which leads its second by " << gap;
                break;
            }
            ++agreed;
            vulkan_logits = vulkan.decode(std::span(&ours, 1));
            cpu_logits = cpu.decode(std::span(&theirs, 1));
        }
        std::printf("[ measured ] %s: %zu of %zu greedy tokens agree with the CPU\n", name.c_str(),
                    agreed, kGreedyTokens);
    }
    const auto messages = validation_messages(vulkan_model->device());
    EXPECT_TRUE(messages.empty()) << messages.front();
}

}  // namespace
}  // namespace tessera
