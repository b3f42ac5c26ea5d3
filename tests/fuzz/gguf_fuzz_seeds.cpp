// Writes the seed corpus for gguf_reader_fuzz into a folder: the valid files next to each fault,
// and the hostile corpus, one file each. Seeds are generated at build or CI time, not committed.
//   gguf_fuzz_seeds FOLDER [MAX_BYTES]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/hostile_gguf.h"

namespace {

bool write_seed(const std::filesystem::path& folder, const std::string& name,
                const std::vector<uint8_t>& bytes) {
    std::ofstream out(folder / (name + ".gguf"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s FOLDER [MAX_BYTES]\n", argv[0]);
        return 2;
    }
    const std::filesystem::path folder = argv[1];
    const size_t max_bytes = argc == 3 ? std::strtoull(argv[2], nullptr, 10) : 65536;
    std::error_code error;
    std::filesystem::create_directories(folder, error);
    if (error) {
        std::fprintf(stderr, "%s: cannot create: %s\n", argv[1], error.message().c_str());
        return 1;
    }
    std::vector<std::pair<std::string, std::vector<uint8_t>>> seeds;
    for (auto& c : tessera::test::valid_corpus()) {
        seeds.emplace_back("valid-" + c.name, std::move(c.bytes));
    }
    for (auto& c : tessera::test::hostile_corpus()) {
        seeds.emplace_back("hostile-" + c.name, std::move(c.bytes));
    }
    size_t written = 0;
    bool ok = true;
    for (const auto& [name, bytes] : seeds) {
        // The fuzzer would cut a longer seed at max_len; a cut file is just another truncation.
        if (bytes.size() > max_bytes) continue;
        ok = write_seed(folder, name, bytes) && ok;
        ++written;
    }
    if (!ok) {
        std::fprintf(stderr, "%s: cannot write the seeds\n", argv[1]);
        return 1;
    }
    std::printf("wrote %zu seeds to %s\n", written, argv[1]);
    return 0;
}
