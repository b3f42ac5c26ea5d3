// `tessera verify FILE`: checks that a GGUF file is whole and sound. Opening it checks the
// structure; then every tensor is decoded to check that it holds finite numbers, and the
// stored digests (if any) are recomputed and compared.
#include <cmath>
#include <cstdio>
#include <vector>

#include "formats/digest/digest.h"
#include "formats/gguf/file.h"
#include "formats/quant/codec.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"
#include "tools/format.h"
#include "tools/progress.h"

namespace tessera::tools {

namespace {

// Rows decoded at a time: bounds the scratch memory whatever the tensor's size.
constexpr uint64_t kDecodeChunkElements = 1 << 20;

// The number of non-finite values in a tensor, or -1 when its type has no decoder.
int64_t count_non_finite(const gguf::File& file, const gguf::TensorInfo& t) {
    const quant::TypeInfo& info = quant::type_info(t.type);
    if (!info.has_codec) return -1;
    const auto data = file.tensor_data(t);
    const uint64_t chunk = kDecodeChunkElements / info.block_size * info.block_size;
    std::vector<float> values(static_cast<size_t>(std::min(chunk, t.n_elements)));
    int64_t bad = 0;
    for (uint64_t at = 0; at < t.n_elements; at += chunk) {
        const uint64_t n = std::min(chunk, t.n_elements - at);
        quant::dequantize_row(t.type, data.data() + at / info.block_size * info.block_bytes,
                              values.data(), static_cast<int64_t>(n));
        for (uint64_t i = 0; i < n; ++i) bad += std::isfinite(values[i]) ? 0 : 1;
    }
    return bad;
}

}  // namespace

int run_verify(const Args& args) {
    std::string path;
    bool skip_values = false, quiet = false;
    ArgParser parser("tessera verify",
                     "Check a GGUF file: its structure (every bound, offset and size), that every "
                     "tensor decodes to finite numbers, and its stored xxHash64 digests (written "
                     "by 'tessera digest'). Exit status 0 when all is well, 1 otherwise.");
    parser.positional("FILE", &path, "the GGUF file (default: the default model)", false);
    parser.flag("--no-values", &skip_values, "skip decoding the tensors");
    parser.flag("-q, --quiet", &quiet, "print only problems");
    if (!parser.parse(args)) return 0;

    const gguf::File file = gguf::File::open(model_or_default(path));
    if (!quiet) {
        std::printf("%s: structure ok (GGUF v%u, %zu tensors, %s)\n", file.path().c_str(),
                    file.version(), file.tensors().size(), human_bytes(file.file_size()).c_str());
    }
    int problems = 0;

    if (!skip_values) {
        Progress progress("decoding");
        uint64_t total = 0, done = 0, undecodable = 0;
        for (const gguf::TensorInfo& t : file.tensors()) total += t.n_bytes;
        for (const gguf::TensorInfo& t : file.tensors()) {
            const int64_t bad = count_non_finite(file, t);
            if (bad < 0) ++undecodable;
            if (bad > 0) {
                std::printf("%s: tensor '%s' (%s) has %lld non-finite values\n",
                            file.path().c_str(), t.name.c_str(),
                            std::string(quant::type_info(t.type).name).c_str(),
                            static_cast<long long>(bad));
                ++problems;
            }
            done += t.n_bytes;
            progress.update(done, total);
        }
        if (!quiet) {
            std::printf("%s: values ok in %zu tensors", file.path().c_str(),
                        file.tensors().size() - undecodable - static_cast<size_t>(problems));
            if (undecodable > 0) {
                std::printf(" (%llu in types tessera cannot decode were not checked)",
                            static_cast<unsigned long long>(undecodable));
            }
            std::printf("\n");
        }
    }

    const std::optional<digest::Digests> expected = digest::stored(file);
    Progress progress("hashing");
    const digest::Digests actual =
        digest::compute(file, [&](uint64_t done, uint64_t total) { progress.update(done, total); });
    if (!expected) {
        if (!quiet) {
            std::printf(
                "%s: no stored digests ('tessera digest' adds them); xxh64 of all tensor "
                "data: %s\n",
                file.path().c_str(), digest::hex(actual.all).c_str());
        }
    } else {
        int mismatched = 0;
        for (size_t i = 0; i < actual.tensors.size(); ++i) {
            if (actual.tensors[i] != expected->tensors[i]) {
                std::printf("%s: tensor '%s' does not match its digest (stored %s, computed %s)\n",
                            file.path().c_str(), file.tensors()[i].name.c_str(),
                            digest::hex(expected->tensors[i]).c_str(),
                            digest::hex(actual.tensors[i]).c_str());
                ++mismatched;
            }
        }
        if (actual.all != expected->all) {
            std::printf(
                "%s: the digest of all tensor data does not match (stored %s, computed "
                "%s)\n",
                file.path().c_str(), digest::hex(expected->all).c_str(),
                digest::hex(actual.all).c_str());
            ++mismatched;
        }
        if (mismatched == 0 && !quiet) {
            std::printf("%s: digests ok (%zu tensors, all data %s)\n", file.path().c_str(),
                        actual.tensors.size(), digest::hex(actual.all).c_str());
        }
        problems += mismatched;
    }
    return problems == 0 ? 0 : 1;
}

}  // namespace tessera::tools
