// Hostile GGUF files: every fault is rejected with an error naming the file, the byte and the
// fault, from memory and from disk (mapped and read), and nothing a file says makes the reader
// allocate much more than the file's size.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <new>
#include <optional>
#include <set>
#include <span>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "formats/gguf/writer.h"
#include "tests/hostile_gguf.h"
#include "tests/test_paths.h"

namespace tessera::test {
namespace {

using gguf::File;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

std::string write_file(const std::string& dir, const std::string& name,
                       const std::vector<uint8_t>& bytes) {
    const std::string path = dir + "/" + name + ".gguf";
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) ADD_FAILURE() << "cannot write " << path;
    return path;
}

// The ways a file reaches the reader.
struct Loader {
    std::string mode;
    std::function<File(const std::vector<uint8_t>&, const std::string& name)> load;
    std::string name_prefix;  // the error names the file as name_prefix + name + name_suffix
    std::string name_suffix;
};

std::vector<Loader> loaders(const std::string& dir) {
    auto from_disk = [dir](bool use_mmap) {
        return [dir, use_mmap](const std::vector<uint8_t>& bytes, const std::string& name) {
            return File::open(write_file(dir, name, bytes), {.use_mmap = use_mmap});
        };
    };
    return {
        {"parse", [](const auto& bytes, const auto& name) { return File::parse(bytes, name); }, "",
         ""},
        {"open-mmap", from_disk(true), dir + "/", ".gguf"},
        {"open-read", from_disk(false), dir + "/", ".gguf"},
    };
}

// The offset in "NAME: at byte OFFSET: WHAT", or nothing when the message is not in that form.
std::optional<uint64_t> reported_offset(const std::string& message, const std::string& name) {
    const std::string head = name + ": at byte ";
    if (message.rfind(head, 0) != 0) return std::nullopt;
    size_t end = head.size();
    uint64_t offset = 0;
    while (end < message.size() && message[end] >= '0' && message[end] <= '9') {
        offset = offset * 10 + static_cast<uint64_t>(message[end++] - '0');
    }
    if (end == head.size() || message.compare(end, 2, ": ") != 0) return std::nullopt;
    return offset;
}

// How a load ended: rejected with a tessera::Error and its message, or not, and why not.
struct Outcome {
    bool rejected = false;
    std::string message;
};

Outcome attempt(const std::function<void()>& load) {
    try {
        load();
    } catch (const Error& e) {
        return {true, e.what()};
    } catch (const std::exception& e) {
        return {false, std::string("threw a non-tessera exception: ") + e.what()};
    }
    return {false, "was accepted"};
}

// `run` throws a tessera::Error that says `text`.
::testing::AssertionResult fails_with(const std::function<void()>& run, const std::string& text) {
    const Outcome outcome = attempt(run);
    if (!outcome.rejected) return ::testing::AssertionFailure() << outcome.message;
    if (outcome.message.find(text) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "'" << outcome.message << "' lacks '" << text << "'";
    }
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult rejected_as(const Outcome& outcome, const std::string& name,
                                       const std::string& fault, uint64_t offset) {
    if (!outcome.rejected) return ::testing::AssertionFailure() << outcome.message;
    const auto at = reported_offset(outcome.message, name);
    if (!at) {
        return ::testing::AssertionFailure()
               << "'" << outcome.message << "' does not start with '" << name << ": at byte N: '";
    }
    if (*at != offset) {
        return ::testing::AssertionFailure()
               << "'" << outcome.message << "' names byte " << *at << ", expected " << offset;
    }
    if (outcome.message.find(fault) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "'" << outcome.message << "' does not say '" << fault << "'";
    }
    return ::testing::AssertionSuccess();
}

TEST(GgufHostile, ValidBuilderFileParses) {
    const GgufImage image = valid_builder().build();
    const File file = File::parse(image.bytes, "valid.gguf");
    EXPECT_EQ(file.version(), 3u);
    EXPECT_EQ(file.alignment(), 32u);
    EXPECT_EQ(file.data_offset(), image.layout.data_section);
    EXPECT_EQ(file.metadata().size(), valid_builder().metadata.size());
    EXPECT_EQ(file.get_string("general.architecture"), "llama");
    EXPECT_EQ(file.get_uint("llama.context_length"), 128u);
    EXPECT_EQ(file.get_float("llama.rope.freq_base"), 10000.0);
    EXPECT_TRUE(file.get_bool("general.quantized"));
    EXPECT_EQ(file.get_uint("test.u64"), uint64_t{1} << 40);
    EXPECT_EQ(file.get_int("test.i32"), -5);
    const auto& tokens = file.get("tokenizer.ggml.tokens").as_string_array("tokens");
    EXPECT_EQ(tokens, (std::vector<std::string>{"<s>", "</s>", "a", ""}));
    EXPECT_EQ(file.get("tokenizer.ggml.scores").as_float_array("scores"),
              (std::vector<float>{0, -1, -2.5f, -3}));
    const auto& nested = file.get("test.nested").as_array_array("nested");
    ASSERT_EQ(nested.size(), 3u);
    EXPECT_EQ(nested[0].as_int_array("nested[0]"), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(nested[2].as_array_array("nested[2]").at(0).array_size(), 1u);
    EXPECT_EQ(file.get("test.empty").array_size(), 0u);

    ASSERT_EQ(file.tensors().size(), 4u);
    const std::vector<uint64_t> sizes = {8 * 4 * 4, 2 * 2 * 18, 3 * 34, 8 * 2};
    for (size_t i = 0; i < sizes.size(); ++i) {
        const gguf::TensorInfo& t = file.tensors()[i];
        EXPECT_EQ(t.name, valid_builder().tensors[i].name);
        EXPECT_EQ(t.n_bytes, sizes[i]) << t.name;
        const auto data = file.tensor_data(t);
        const uint64_t at = image.layout.data_section + image.layout.tensors[i].data_offset;
        ASSERT_EQ(data.data(), file.bytes().data() + at) << t.name;
        for (size_t b = 0; b < data.size(); ++b) {
            ASSERT_EQ(data[b], static_cast<uint8_t>(b * 31 + i * 7 + 1)) << t.name << " byte " << b;
        }
    }
    EXPECT_EQ(file.tensors().back().offset + file.tensors().back().n_bytes + file.data_offset(),
              image.bytes.size());
}

TEST(GgufHostile, ValidNeighboursOfTheFaultsParse) {
    const std::string dir = temp_dir();
    for (const ValidCase& c : valid_corpus()) {
        for (const Loader& loader : loaders(dir)) {
            const Outcome outcome = attempt([&] { loader.load(c.bytes, c.name); });
            EXPECT_EQ(outcome.message, "was accepted")
                << c.name << " (" << loader.mode << "): " << outcome.message;
        }
    }
}

TEST(GgufHostile, CorpusCoversEveryFaultOnce) {
    const auto corpus = hostile_corpus();
    std::set<std::string> names;
    for (const HostileCase& c : corpus) {
        EXPECT_TRUE(names.insert(c.name).second) << "two cases are named " << c.name;
        EXPECT_FALSE(c.fault.empty()) << c.name;
    }
    EXPECT_GE(corpus.size(), 50u);
}

TEST(GgufHostile, EveryCaseIsRejectedWithFileOffsetAndFault) {
    const std::string dir = temp_dir();
    for (const HostileCase& c : hostile_corpus()) {
        for (const Loader& loader : loaders(dir)) {
            const Outcome outcome = attempt([&] { loader.load(c.bytes, c.name); });
            EXPECT_TRUE(rejected_as(outcome, loader.name_prefix + c.name + loader.name_suffix,
                                    c.fault, c.offset))
                << c.name << " (" << loader.mode << ")";
        }
    }
}

// The message of a truncated file names a byte inside the prefix and says why it stopped.
::testing::AssertionResult truncation_rejected(const Outcome& outcome, const std::string& name,
                                               size_t length) {
    // The phrases a truncation error may use, depending on which field the cut lands in.
    static const std::vector<std::string> phrases = {
        "truncated", "larger than the rest of the file", "past the end of the file",
        "the file is empty"};
    if (!outcome.rejected) return ::testing::AssertionFailure() << outcome.message;
    const auto at = reported_offset(outcome.message, name);
    if (!at || *at > length) {
        return ::testing::AssertionFailure()
               << "'" << outcome.message << "' does not name a byte of the " << length
               << "-byte prefix";
    }
    for (const auto& phrase : phrases) {
        if (outcome.message.find(phrase) != std::string::npos) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "'" << outcome.message << "' does not say truncated";
}

TEST(GgufHostile, EveryTruncationIsRejected) {
    const std::vector<uint8_t> valid = valid_builder().build().bytes;
    ASSERT_GT(valid.size(), 500u);
    for (size_t length = 0; length < valid.size(); ++length) {
        const std::string name = "cut-" + std::to_string(length);
        const std::span<const uint8_t> prefix(valid.data(), length);
        const Outcome outcome = attempt([&] { File::parse(prefix, name); });
        ASSERT_TRUE(truncation_rejected(outcome, name, length)) << name;
    }
}

// The same from disk, shrinking one file a byte at a time (creating a file per prefix is slow on
// some file systems).
TEST(GgufHostile, EveryTruncatedFileIsRejected) {
    const std::vector<uint8_t> valid = valid_builder().build().bytes;
    const std::string path = write_file(temp_dir(), "cut", valid);
    for (size_t length = valid.size(); length-- > 0;) {
        ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(length)), 0)
            << "cannot truncate " << path;
        for (const bool use_mmap : {true, false}) {
            const Outcome outcome = attempt([&] { File::open(path, {.use_mmap = use_mmap}); });
            ASSERT_TRUE(truncation_rejected(outcome, path, length))
                << length << " bytes, " << (use_mmap ? "mapped" : "read");
        }
    }
}

// Empty arrays nested in one array: 12 bytes each on disk, a whole Value each in memory. Enough
// of them need more than the reader's metadata budget (8x the file plus 1 MiB, see file.cpp).
std::optional<HostileCase> budget_bomb() {
    constexpr uint64_t kDiskBytes = 12;
    constexpr uint64_t kFactor = 8;
    if (sizeof(gguf::Value) <= kDiskBytes * kFactor + 8) return std::nullopt;
    const uint64_t n = 2 * (uint64_t{1} << 20) / (sizeof(gguf::Value) - kDiskBytes * kFactor);
    GgufBuilder b;
    const auto array = static_cast<uint32_t>(gguf::ValueType::ARRAY);
    b.add("bomb", GgufValue::array(array, std::vector<GgufValue>(n, GgufValue::nested(1))));
    GgufImage image = b.build();
    return HostileCase{"budget-bomb", std::move(image.bytes),
                       "metadata would need more memory than 8x the file's size",
                       image.layout.kvs[0].value_at + 4};
}

TEST(GgufHostile, MetadataMemoryIsBudgeted) {
    const auto bomb = budget_bomb();
    if (!bomb) {
        GTEST_SKIP() << "sizeof(gguf::Value) is " << sizeof(gguf::Value)
                     << " bytes, too small for nested empty arrays to exceed the budget";
    }
    const Outcome outcome = attempt([&] { File::parse(bomb->bytes, bomb->name); });
    EXPECT_TRUE(rejected_as(outcome, bomb->name, bomb->fault, bomb->offset));
}

// Counts that would make a naive reader allocate gigabytes. In a child process limited to a
// little more address space than it has, each is rejected with a tessera::Error, not with
// std::bad_alloc, and quickly.
TEST(GgufHostile, CountsDoNotDriveAllocation) {
    std::vector<HostileCase> cases = hostile_corpus();
    if (auto bomb = budget_bomb()) cases.push_back(std::move(*bomb));
    const auto started = std::chrono::steady_clock::now();
    for (const HostileCase& c : cases) {
        const Outcome outcome = attempt([&] { File::parse(c.bytes, c.name); });
        EXPECT_TRUE(outcome.rejected) << c.name << ": " << outcome.message;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_LT(seconds, 10.0) << "the hostile corpus took " << seconds << " s to reject";

    if (kAddressSanitizer) {
        GTEST_SKIP() << "the address-space limit is not checked under AddressSanitizer, whose "
                        "shadow memory needs terabytes of address space";
    }
    std::ifstream statm("/proc/self/statm");
    uint64_t vm_pages = 0;
    ASSERT_TRUE(statm >> vm_pages) << "cannot read /proc/self/statm";
    constexpr uint64_t kHeadroom = 256 << 20;
    const rlim_t limit = vm_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) + kHeadroom;

    std::fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0) << "fork failed";
    if (child == 0) {
        const rlimit address_space{limit, limit};
        if (setrlimit(RLIMIT_AS, &address_space) != 0) _exit(3);
        for (const HostileCase& c : cases) {
            try {
                File::parse(c.bytes, c.name);
            } catch (const Error&) {
                continue;
            } catch (const std::bad_alloc&) {
                std::fprintf(stderr, "%s: std::bad_alloc under the address-space limit\n",
                             c.name.c_str());
                _exit(2);
            } catch (...) {
                _exit(4);
            }
        }
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "the child died with status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "2: a case needed more than 256 MiB (named above); 3: setrlimit failed; 4: a "
           "non-tessera exception";
}

// Keys whose value is not of the type the caller assumes, like the tokenizer's tokens stored as
// integers: every typed read throws a tessera::Error that says which key and what it holds.
TEST(GgufHostile, MistypedValuesThrowErrors) {
    using V = GgufValue;
    GgufBuilder b = valid_builder();
    const auto uint64 = static_cast<uint32_t>(gguf::ValueType::UINT64);
    b.value("tokenizer.ggml.tokens") = V::array(uint64, {V::u64(1), V::u64(2)});
    b.value("general.name") = V::u32(7);
    b.value("test.u64") = V::u64(uint64_t{1} << 63);
    const File file = File::parse(b.build().bytes, "mistyped.gguf");

    const gguf::Value& tokens = file.get("tokenizer.ggml.tokens");
    EXPECT_TRUE(fails_with([&] { tokens.as_string_array("tokenizer.ggml.tokens"); },
                           "'tokenizer.ggml.tokens' is array of uint64, expected array of string"));
    EXPECT_TRUE(fails_with([&] { tokens.as_array_array("tokenizer.ggml.tokens"); },
                           "expected array of array"));
    EXPECT_TRUE(fails_with([&] { tokens.element(2); }, "array element 2 is out of range"));
    EXPECT_TRUE(fails_with([&] { file.get("tokenizer.ggml.scores").as_int_array("scores"); },
                           "expected array of integers"));
    EXPECT_TRUE(fails_with([&] { file.get("test.flags").as_float_array("flags"); },
                           "expected array of numbers"));
    EXPECT_TRUE(
        fails_with([&] { file.get_string("general.name"); },
                   "mistyped.gguf: metadata key 'general.name' is uint32, expected string"));
    EXPECT_TRUE(fails_with([&] { file.get_uint("test.i32"); },
                           "mistyped.gguf: metadata key 'test.i32' is negative"));
    EXPECT_TRUE(fails_with([&] { file.get_int("test.u64"); }, "does not fit in int64"));
    EXPECT_TRUE(fails_with([&] { file.get_bool("llama.context_length"); }, "expected bool"));
    EXPECT_TRUE(fails_with([&] { file.get_float("general.architecture"); }, "expected a number"));
    EXPECT_TRUE(fails_with([&] { file.get_uint("tokenizer.ggml.tokens"); },
                           "is array of uint64, expected an unsigned integer"));
    EXPECT_TRUE(fails_with([&] { file.get_uint("no.such.key"); },
                           "mistyped.gguf: metadata key 'no.such.key' is missing"));
    EXPECT_TRUE(fails_with([&] { file.tensor("no.such.tensor"); },
                           "mistyped.gguf: tensor 'no.such.tensor' is missing"));
}

// The writer refuses to make what the reader would refuse, or would misread.
TEST(GgufHostile, WriterRefusesInconsistentFiles) {
    using gguf::Value;
    using gguf::ValueType;
    using gguf::Writer;
    const std::string dir = temp_dir();
    EXPECT_TRUE(
        fails_with([&] { Writer(dir + "/a.gguf", 3); }, "alignment 3 must be a power of two"));
    EXPECT_TRUE(fails_with(
        [&] {
            Writer writer(dir + "/a.gguf");
            writer.add("general.alignment", Value::from_uint(ValueType::UINT32, 64));
        },
        "general.alignment 64 differs from the writer's alignment 32"));
    EXPECT_TRUE(fails_with(
        [&] {
            Writer writer(dir + "/a.gguf", 64);
            writer.add("general.alignment", Value::from_string("64"));
        },
        "differs from the writer's alignment 64"));
    EXPECT_TRUE(fails_with(
        [] {
            Writer::tensor_bytes({"t", {4}, static_cast<quant::TensorType>(4)});
        },
        "tensor 't' has unknown type 4"));
    EXPECT_TRUE(fails_with(
        [] {
            Writer::tensor_bytes({"t", {uint64_t{1} << 62}, quant::TensorType::F32});
        },
        "its size in bytes overflows"));
    EXPECT_TRUE(fails_with(
        [] {
            Writer::tensor_bytes({"t", {33}, quant::TensorType::Q4_0});
        },
        "row length 33 is not a whole number of q4_0 blocks"));

    // Copying general.alignment from another file's metadata, as converters do, is harmless.
    const std::string path = dir + "/copied.gguf";
    Writer writer(path, 64);
    writer.add("general.alignment", Value::from_uint(ValueType::UINT32, 64));
    writer.add_tensor({"t", {8}, quant::TensorType::F32});
    writer.write_header();
    const std::vector<uint8_t> data(32, 1);
    writer.write_tensor_data(data);
    writer.finish();
    const File file = File::open(path);
    EXPECT_EQ(file.alignment(), 64u);
    EXPECT_EQ(file.metadata().size(), 1u);
    EXPECT_EQ(file.data_offset() % 64, 0u);
}

}  // namespace
}  // namespace tessera::test
