#include "tools/token_ids.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <limits>

#include "formats/error.h"

namespace tessera::tools {

namespace {

std::optional<int32_t> read_id(const gguf::File& file, const char* key) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return std::nullopt;
    const int64_t id = value->as_int(key);
    if (id < 0 || id > std::numeric_limits<int32_t>::max()) return std::nullopt;
    return static_cast<int32_t>(id);
}

bool is_separator(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == ',';
}

}  // namespace

std::vector<int32_t> parse_token_ids(const std::string& text, const std::string& source) {
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i < text.size()) {
        if (is_separator(text[i])) {
            ++i;
            continue;
        }
        size_t end = i;
        while (end < text.size() && !is_separator(text[end])) ++end;
        int32_t id = 0;
        const char* first = text.data() + i;
        const char* last = text.data() + end;
        const auto [ptr, error] = std::from_chars(first, last, id);
        if (error != std::errc() || ptr != last || id < 0) {
            std::string message = source;
            message.append(": '")
                .append(text, i, std::min<size_t>(end - i, 40))
                .append("' is not a token id (ids are whole numbers from 0, separated by spaces)");
            throw Error(message);
        }
        ids.push_back(id);
        i = end;
    }
    return ids;
}

std::vector<int32_t> read_token_ids_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the file");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(path + ": cannot read the file");
    return parse_token_ids(text, path);
}

void check_token_ids(std::span<const int32_t> ids, uint32_t n_vocab, const std::string& source) {
    for (size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || static_cast<uint32_t>(ids[i]) >= n_vocab) {
            std::string message = source;
            message.append(": token id ")
                .append(std::to_string(ids[i]))
                .append(" (number ")
                .append(std::to_string(i + 1))
                .append(") is outside the model's vocabulary of ")
                .append(std::to_string(n_vocab))
                .append(" tokens");
            throw Error(message);
        }
    }
}

SpecialTokens read_special_tokens(const gguf::File& file) {
    SpecialTokens tokens;
    tokens.bos = read_id(file, "tokenizer.ggml.bos_token_id");
    tokens.eos = read_id(file, "tokenizer.ggml.eos_token_id");
    tokens.eot = read_id(file, "tokenizer.ggml.eot_token_id");
    if (const gguf::Value* add = file.find("tokenizer.ggml.add_bos_token")) {
        tokens.add_bos = add->as_bool("tokenizer.ggml.add_bos_token");
    } else if (const gguf::Value* model = file.find("tokenizer.ggml.model")) {
        const std::string& name = model->as_string("tokenizer.ggml.model");
        tokens.add_bos = name == "llama" || name == "bert";
    }
    tokens.add_bos = tokens.add_bos && tokens.bos.has_value();
    return tokens;
}

}  // namespace tessera::tools
