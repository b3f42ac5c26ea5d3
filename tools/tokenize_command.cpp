// `tessera tokenize`: the tokens of a text as the model's own tokenizer makes them, printed as
// llama.cpp's llama-tokenize prints them. Only the vocabulary is read, so a vocabulary-only GGUF
// file serves as well as a whole model.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"

namespace tessera::tools {

namespace {

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the file");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(path + ": cannot read the file");
    return text;
}

}  // namespace

int run_tokenize(const Args& args) {
    std::string model, prompt, text_file;
    bool ids_only = false, no_bos = false, special = false;
    ArgParser parser("tessera tokenize",
                     "Print the tokens of a text, one per line as ID -> 'piece' (the way "
                     "llama-tokenize lists them), or only their ids.\n"
                     "Reads only the vocabulary: a vocabulary-only GGUF file is enough.");
    parser.option("-m, --model", &model, "FILE", "the GGUF file (default: the default model)");
    parser.option("-p, --prompt", &prompt, "TEXT", "the text to tokenize");
    parser.option("-f, --file", &text_file, "FILE", "read the text from a file instead");
    parser.flag("--ids", &ids_only, "print only the ids, on one line, separated by spaces");
    parser.flag("--no-bos", &no_bos,
                "add no BOS (nor EOS) even where the vocabulary asks for them");
    parser.flag("--special", &special,
                "take the text of control tokens (\"<start_of_turn>\") as those tokens");
    if (!parser.parse(args)) return 0;
    if (!prompt.empty() && !text_file.empty()) throw UsageError("give the text once, -p or -f");
    if (prompt.empty() && text_file.empty()) {
        throw UsageError("no text: give -p TEXT or -f FILE");
    }

    const gguf::File file = gguf::File::open(model_or_default(model));
    const Tokenizer tokenizer = Tokenizer::from_gguf(file);
    const std::string text = text_file.empty() ? prompt : read_text_file(text_file);
    EncodeOptions options;
    options.add_special = !no_bos;
    options.parse_special = special;
    const std::vector<int32_t> ids = tokenizer.encode(text, options);

    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (ids_only) {
            if (i > 0) out += ' ';
            out += std::to_string(ids[i]);
            continue;
        }
        char number[16];
        std::snprintf(number, sizeof number, "%6d", ids[i]);
        out.append(number).append(" -> '").append(tokenizer.token_to_piece(ids[i], true));
        out += "'\n";
    }
    if (ids_only) out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

}  // namespace tessera::tools
