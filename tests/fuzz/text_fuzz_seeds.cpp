// Writes the seed corpora of chat_template_fuzz and tokenizer_fuzz, one file each, into two
// folders. Templates: the shared model templates (alone, and with a message content after a NUL,
// as the fuzz target reads it) and the `template` of every case in
// tests/fixtures/templates/constructs.json. Texts: the strings of the shared vocabularies' test
// files (ggml-vocab-*.gguf.inp), each behind every vocabulary-choosing first byte. Seeds are
// generated at build or CI time, not committed.
//   text_fuzz_seeds SOURCE_DIR TESTDATA_DIR TEMPLATE_FOLDER TOKENIZER_FOLDER
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// How many vocabularies tokenizer_fuzz loads: its first byte modulo this picks one.
constexpr int kVocabularies = 5;
// The separator of the cases in llama.cpp's vocabulary test files.
constexpr std::string_view kCaseSeparator = "\n__ggml_vocab_test__\n";

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    return std::string(std::istreambuf_iterator<char>(in), {});
}

class Folder {
  public:
    explicit Folder(fs::path path) : path_(std::move(path)) { fs::create_directories(path_); }

    void write(const std::string& name, const std::string& bytes) {
        std::ofstream out(path_ / name, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) throw std::runtime_error("cannot write " + (path_ / name).string());
        ++written_;
    }
    size_t written() const { return written_; }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
    size_t written_ = 0;
};

// Sorted, so that the seeds' names do not depend on the order the directory lists them in.
std::vector<fs::path> files_ending(const fs::path& folder, const std::string& suffix) {
    std::vector<fs::path> paths;
    for (const auto& entry : fs::directory_iterator(folder)) {
        const std::string name = entry.path().filename().string();
        if (name.size() > suffix.size() && name.ends_with(suffix)) paths.push_back(entry.path());
    }
    std::sort(paths.begin(), paths.end());
    return paths;
}

void write_template_seeds(const fs::path& source_dir, const fs::path& testdata, Folder& out) {
    for (const fs::path& path : files_ending(testdata / "templates", ".jinja")) {
        const std::string source = read_file(path);
        const std::string stem = path.stem().string();
        out.write("model-" + stem, source);
        // A content that the reasoning templates split and that needs escaping in JSON.
        out.write("model-" + stem + "-content",
                  source + '\0' +
                      "<think>\nhmm\n</think>\n\n\"Quoted\"\t{{ not code }} \xF0\x9F\x99\x82");
    }
    const auto constructs =
        nlohmann::json::parse(read_file(source_dir / "tests/fixtures/templates/constructs.json"));
    for (const auto& c : constructs.at("cases")) {
        out.write("construct-" + c.at("name").get<std::string>(),
                  c.at("template").get<std::string>());
    }
}

void write_tokenizer_seeds(const fs::path& testdata, Folder& out) {
    // The same string appears in several vocabularies' tests; each is written once per vocabulary.
    std::set<std::string> texts;
    for (const fs::path& path : files_ending(testdata / "vocab", ".gguf.inp")) {
        const std::string all = read_file(path);
        for (size_t at = 0; at <= all.size();) {
            size_t end = all.find(kCaseSeparator, at);
            if (end == std::string::npos) end = all.size();
            texts.insert(all.substr(at, end - at));
            at = end + kCaseSeparator.size();
        }
    }
    // Special-token texts of the shared vocabularies, which parse_special turns into tokens.
    for (const char* special :
         {"<s>Hi</s>", "<|endoftext|>Hi<|endoftext|>", "<|user|>\nHi<|end|>\n<|assistant|>",
          "<0x0A> \xE2\x96\x81x", "<｜begin▁of▁sentence｜>Hi<｜end▁of▁sentence｜>"}) {
        texts.insert(special);
    }
    size_t n = 0;
    for (const std::string& text : texts) {
        for (int vocab = 0; vocab < kVocabularies; ++vocab) {
            out.write("text-" + std::to_string(n) + "-vocab" + std::to_string(vocab),
                      static_cast<char>(vocab) + text);
        }
        ++n;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s SOURCE_DIR TESTDATA_DIR TEMPLATE_FOLDER TOKENIZER_FOLDER\n",
                     argv[0]);
        return 2;
    }
    try {
        Folder templates(argv[3]);
        Folder texts(argv[4]);
        write_template_seeds(argv[1], argv[2], templates);
        write_tokenizer_seeds(argv[2], texts);
        std::printf("wrote %zu template seeds to %s and %zu tokenizer seeds to %s\n",
                    templates.written(), argv[3], texts.written(), argv[4]);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "text_fuzz_seeds: %s\n", error.what());
        return 1;
    }
    return 0;
}
