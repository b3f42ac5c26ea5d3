// `tessera digest FILE [-o OUT]`: computes xxHash64 digests of a file's tensors; with -o, writes
// a copy of the file that carries them (see formats/digest/digest.h for the keys).
#include <cstdio>

#include "formats/digest/digest.h"
#include "formats/gguf/file.h"
#include "formats/gguf/writer.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"
#include "tools/format.h"
#include "tools/progress.h"

namespace tessera::tools {

int run_digest(const Args& args) {
    std::string path, out;
    bool per_tensor = false;
    ArgParser parser("tessera digest",
                     "Compute the xxHash64 digest of every tensor and of all tensor data. With -o, "
                     "write a copy of FILE that stores them under the tessera.digest.* keys, for "
                     "'tessera verify'. Other GGUF readers ignore those keys.");
    parser.positional("FILE", &path, "the GGUF file");
    parser.option("-o, --output", &out, "OUT", "write a copy carrying the digests to OUT");
    parser.flag("--tensors", &per_tensor, "print each tensor's digest");
    if (!parser.parse(args)) return 0;

    const gguf::File file = gguf::File::open(path);
    digest::Digests digests;
    {
        Progress progress("hashing");
        digests = digest::compute(
            file, [&](uint64_t done, uint64_t total) { progress.update(done, total); });
    }
    if (per_tensor) {
        for (size_t i = 0; i < digests.tensors.size(); ++i) {
            std::printf("%s  %s\n", digest::hex(digests.tensors[i]).c_str(),
                        file.tensors()[i].name.c_str());
        }
    }
    std::printf("%s  (all tensor data of %s)\n", digest::hex(digests.all).c_str(),
                file.path().c_str());
    if (out.empty()) return 0;

    gguf::Writer writer(out, file.alignment());
    for (const gguf::KeyValue& kv : file.metadata()) {
        // The writer sets the alignment itself; old digests are replaced.
        if (kv.key == "general.alignment" || kv.key.rfind("tessera.digest.", 0) == 0) continue;
        writer.add(kv.key, kv.value);
    }
    for (gguf::KeyValue& kv : digest::to_metadata(digests)) writer.add(kv.key, kv.value);
    for (const gguf::TensorInfo& t : file.tensors()) writer.add_tensor({t.name, t.shape, t.type});
    writer.write_header();
    Progress progress("writing");
    uint64_t done = 0;
    for (const gguf::TensorInfo& t : file.tensors()) {
        writer.write_tensor_data(file.tensor_data(t));
        done += t.n_bytes;
        progress.update(done, file.file_size());
    }
    writer.finish();
    std::printf("wrote %s (%zu tensors, %s)\n", out.c_str(), file.tensors().size(),
                human_bytes(file.file_size()).c_str());
    return 0;
}

}  // namespace tessera::tools
