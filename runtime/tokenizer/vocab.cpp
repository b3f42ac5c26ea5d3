#include "runtime/tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "runtime/tokenizer/utf8.h"

namespace tessera {

namespace {

constexpr const char* kModelKey = "tokenizer.ggml.model";
constexpr const char* kPreKey = "tokenizer.ggml.pre";
constexpr const char* kTokensKey = "tokenizer.ggml.tokens";
constexpr const char* kScoresKey = "tokenizer.ggml.scores";
constexpr const char* kTokenTypeKey = "tokenizer.ggml.token_type";
constexpr const char* kMergesKey = "tokenizer.ggml.merges";

[[noreturn]] void fail(const gguf::File& file, std::string_view key, const std::string& what) {
    throw Error(file.path() + ": metadata key '" + std::string(key) + "' " + what);
}

// Runs a typed read of a value, naming the file in the error the read throws (the value's own
// errors name only the key).
template <typename Read>
auto read_value(const gguf::File& file, Read&& read) {
    try {
        return read();
    } catch (const Error& e) {
        throw Error(file.path() + ": " + e.what());
    }
}

std::optional<std::string> read_optional_string(const gguf::File& file, const char* key) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return std::nullopt;
    return read_value(file, [&] { return value->as_string(key); });
}

void read_optional_bool(const gguf::File& file, const char* key, bool& out) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return;
    out = read_value(file, [&] { return value->as_bool(key); });
}

// A token id key; out of the vocabulary's range is an error, as is any other type than an
// integer.
int32_t read_token_id(const gguf::File& file, const char* key, uint32_t n_vocab, int32_t fallback) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return fallback;
    const int64_t id = read_value(file, [&] { return value->as_int(key); });
    if (id < 0 || id >= static_cast<int64_t>(n_vocab)) {
        fail(file, key,
             "is " + std::to_string(id) + ", outside the vocabulary of " + std::to_string(n_vocab) +
                 " tokens");
    }
    return static_cast<int32_t>(id);
}

// The little-endian scalars of an array of `type`, checked to be that and `n` long.
const std::vector<uint8_t>& read_scalar_array(const gguf::File& file, const char* key,
                                              const gguf::Value& value, gguf::ValueType type,
                                              size_t n) {
    if (value.type() != gguf::ValueType::ARRAY || value.element_type() != type) {
        std::string stored(gguf::value_type_name(value.type()));
        if (value.type() == gguf::ValueType::ARRAY) {
            stored += " of " + std::string(gguf::value_type_name(value.element_type()));
        }
        fail(file, key,
             "is " + stored + ", expected array of " + std::string(gguf::value_type_name(type)));
    }
    if (value.array_size() != n) {
        fail(file, key,
             "has " + std::to_string(value.array_size()) + " values for " + std::to_string(n) +
                 " tokens");
    }
    return value.raw_scalars();
}

uint32_t load_u32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

bool is_hex_digit(char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

bool is_byte_token_text(std::string_view text) {
    return text.size() == 6 && text.substr(0, 3) == "<0x" && is_hex_digit(text[3]) &&
           is_hex_digit(text[4]) && text[5] == '>';
}

uint16_t attributes_of(TokenKind kind) {
    switch (kind) {
        case TokenKind::Normal:
            return token_attr::kNormal;
        case TokenKind::Unknown:
            return token_attr::kUnknown;
        case TokenKind::Control:
            return token_attr::kControl;
        case TokenKind::UserDefined:
            return token_attr::kUserDefined;
        case TokenKind::Unused:
            return token_attr::kUnused;
        case TokenKind::Byte:
            return token_attr::kByte;
    }
    return 0;
}

// The defaults llama.cpp gives each pre-tokenizer of a byte-level BPE vocabulary, where they
// differ from the family's.
void apply_pre_defaults(Vocab& vocab) {
    static constexpr std::string_view kLlama3Like[] = {"llama3",   "llama-v3",  "llama-bpe",
                                                       "falcon3",  "falcon-h1", "pixtral",
                                                       "midm-2.0", "lfm2",      "jina-v5-nano"};
    const std::string_view pre = vocab.pre;
    if (std::find(std::begin(kLlama3Like), std::end(kLlama3Like), pre) != std::end(kLlama3Like) ||
        pre == "tekken") {
        vocab.ignore_merges = true;
        vocab.add_bos = true;
    } else if (pre == "minicpm5" || pre == "youtu" || pre == "granite-embed-multi-97m") {
        vocab.ignore_merges = true;
    } else if (pre == "chameleon") {
        vocab.add_bos = true;
    } else if (pre == "glm4" || pre == "chatglm-bpe") {
        vocab.bos = -1;
    }
}

// Token texts that llama.cpp takes for a role when the file names no id for it; the token taken
// becomes a control token. Where a vocabulary has several, llama.cpp takes the first its hash
// map yields; tessera takes the first in this list (for Phi-3 both take <|end|>).
constexpr std::string_view kEndOfTurnNames[] = {
    "<|eot_id|>",        "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>",   "<EOT>",      "_<EOT>",  "[EOT]",         "<｜end▁of▁sentence｜>",
    "<end_of_utterance>"};
constexpr std::string_view kEndOfMessageNames[] = {"<|eom_id|>"};
constexpr std::string_view kFimPrefixNames[] = {"<|fim_prefix|>",  "<fim-prefix>", "<fim_prefix>",
                                                "<｜fim▁begin｜>", "<PRE>",        "▁<PRE>",
                                                "<|code_prefix|>", "<|prefix|>"};
constexpr std::string_view kFimSuffixNames[] = {"<|fim_suffix|>",  "<fim-suffix>", "<fim_suffix>",
                                                "<｜fim▁hole｜>",  "<SUF>",        "▁<SUF>",
                                                "<|code_suffix|>", "<|suffix|>"};
constexpr std::string_view kFimMiddleNames[] = {"<|fim_middle|>",  "<fim-middle>", "<fim_middle>",
                                                "<｜fim▁end｜>",   "<MID>",        "▁<MID>",
                                                "<|code_middle|>", "<|middle|>"};
constexpr std::string_view kFimPadNames[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                             "[PAD]"};
constexpr std::string_view kFimRepoNames[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                              "<REPO>", "<reponame>"};
constexpr std::string_view kFimSeparatorNames[] = {"<|file_sep|>"};

// Every token with one of these texts ends generation (llama.cpp decides it by text; the GGUF
// has no per-token flag for it).
constexpr std::string_view kEndOfGenerationNames[] = {"<|eot_id|>",
                                                      "<|im_end|>",
                                                      "<|end|>",
                                                      "<|return|>",
                                                      "<|call|>",
                                                      "<|flush|>",
                                                      "<|calls|>",
                                                      "<end_of_turn>",
                                                      "<|endoftext|>",
                                                      "</s>",
                                                      "<|eom_id|>",
                                                      "<EOT>",
                                                      "_<EOT>",
                                                      "[EOT]",
                                                      "[EOS]",
                                                      "<|end_of_text|>",
                                                      "<end_of_utterance>",
                                                      "<eos>",
                                                      "<turn|>",
                                                      "<|tool_response>",
                                                      "<｜end▁of▁sentence｜>",
                                                      "[e~["};

// gpt-oss's message structure tokens always print, as user-defined ones do.
constexpr std::string_view kAlwaysShownNames[] = {"<|channel|>", "<|message|>", "<|start|>",
                                                  "<|constrain|>"};

// The token with the first of `names` that the vocabulary has, made a control token; `id`
// unchanged when the file named one already.
void detect_role(Vocab& vocab, int32_t& id, std::span<const std::string_view> names) {
    if (id >= 0) return;
    for (std::string_view name : names) {
        if (const std::optional<int32_t> found = vocab.find(name)) {
            id = *found;
            vocab.attributes[id] |= token_attr::kControl;
            return;
        }
    }
}

void mark_end_of_generation(Vocab& vocab, int32_t id) {
    if (id >= 0) vocab.attributes[id] |= token_attr::kEndOfGeneration;
}

std::string lowercase(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

}  // namespace

std::optional<int32_t> Vocab::find(std::string_view text) const {
    const auto it = index_.find(text);
    if (it == index_.end()) return std::nullopt;
    return it->second;
}

Vocab Vocab::read(const gguf::File& file) {
    Vocab vocab;
    vocab.path = file.path();
    vocab.model = file.get_string(kModelKey);
    vocab.pre = read_optional_string(file, kPreKey).value_or("default");
    if (vocab.pre.empty()) vocab.pre = "default";

    // The family's defaults (llama.cpp: the member initialisers and the per-model branches).
    if (vocab.model == "llama") {
        vocab.family = VocabFamily::SentencePiece;
        vocab.bos = 1;
        vocab.eos = 2;
        vocab.unknown = 0;
        vocab.add_space_prefix = true;
        vocab.add_bos = true;
    } else if (vocab.model == "gpt2") {
        vocab.family = VocabFamily::BytePairEncoding;
        vocab.bos = 11;
        vocab.eos = 11;
        apply_pre_defaults(vocab);
    } else {
        fail(file, kModelKey,
             "is '" + vocab.model +
                 "'; tessera reads 'llama' (SentencePiece) and 'gpt2' (byte-level BPE) "
                 "vocabularies");
    }
    read_optional_bool(file, "tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);

    // Tokens, scores and types.
    const gguf::Value& tokens_value = file.get(kTokensKey);
    vocab.tokens = read_value(file, [&] { return tokens_value.as_string_array(kTokensKey); });
    const size_t n_vocab = vocab.tokens.size();
    if (n_vocab == 0) fail(file, kTokensKey, "is empty");
    if (n_vocab > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        fail(file, kTokensKey, "has more tokens than ids can number");
    }
    for (size_t id = 0; id < n_vocab; ++id) {
        if (!utf8::is_valid(vocab.tokens[id])) {
            fail(file, kTokensKey, "token " + std::to_string(id) + " is not valid UTF-8");
        }
    }

    vocab.scores.assign(n_vocab, 0.0f);
    if (const gguf::Value* scores = file.find(kScoresKey)) {
        const std::vector<uint8_t>& raw =
            read_scalar_array(file, kScoresKey, *scores, gguf::ValueType::FLOAT32, n_vocab);
        for (size_t id = 0; id < n_vocab; ++id) {
            const uint32_t bits = load_u32(raw.data() + 4 * id);
            float score;
            std::memcpy(&score, &bits, sizeof score);
            // A NaN would leave the merge order undefined.
            if (std::isnan(score)) {
                fail(file, kScoresKey, "value " + std::to_string(id) + " is NaN");
            }
            vocab.scores[id] = score;
        }
    }

    vocab.kinds.assign(n_vocab, TokenKind::Normal);
    if (const gguf::Value* types = file.find(kTokenTypeKey)) {
        const std::vector<uint8_t>& raw =
            read_scalar_array(file, kTokenTypeKey, *types, gguf::ValueType::INT32, n_vocab);
        for (size_t id = 0; id < n_vocab; ++id) {
            const auto type = static_cast<int32_t>(load_u32(raw.data() + 4 * id));
            if (type < static_cast<int32_t>(TokenKind::Normal) ||
                type > static_cast<int32_t>(TokenKind::Byte)) {
                fail(file, kTokenTypeKey,
                     "value " + std::to_string(id) + " is " + std::to_string(type) +
                         ", not a token type (1 normal, 2 unknown, 3 control, 4 user-defined, "
                         "5 unused, 6 byte)");
            }
            vocab.kinds[id] = static_cast<TokenKind>(type);
            if (vocab.kinds[id] == TokenKind::Byte && !is_byte_token_text(vocab.tokens[id])) {
                fail(file, kTokensKey,
                     "token " + std::to_string(id) +
                         " is a byte token (tokenizer.ggml.token_type 6) but its text is not "
                         "<0xNN>");
            }
        }
    }
    vocab.attributes.resize(n_vocab);
    for (size_t id = 0; id < n_vocab; ++id) vocab.attributes[id] = attributes_of(vocab.kinds[id]);

    // Text to id. An empty text is kept as a token but never matched.
    vocab.index_.reserve(n_vocab);
    for (size_t id = 0; id < n_vocab; ++id) {
        const std::string& text = vocab.tokens[id];
        if (text.empty()) continue;
        const auto [it, inserted] = vocab.index_.emplace(text, static_cast<int32_t>(id));
        if (!inserted) {
            fail(file, kTokensKey,
                 "holds token " + std::to_string(id) + " twice (first as token " +
                     std::to_string(it->second) + ")");
        }
    }

    if (vocab.family == VocabFamily::BytePairEncoding) {
        const gguf::Value& merges = file.get(kMergesKey);
        vocab.merges = read_value(file, [&] { return merges.as_string_array(kMergesKey); });
    }

    // Special ids: a default outside the vocabulary is no token; a key outside it is an error.
    for (int32_t* id : {&vocab.bos, &vocab.eos, &vocab.unknown}) {
        if (!vocab.contains(*id)) *id = -1;
    }
    const uint32_t n = vocab.size();
    vocab.bos = read_token_id(file, "tokenizer.ggml.bos_token_id", n, vocab.bos);
    vocab.eos = read_token_id(file, "tokenizer.ggml.eos_token_id", n, vocab.eos);
    vocab.eot = read_token_id(file, "tokenizer.ggml.eot_token_id", n, -1);
    vocab.unknown = read_token_id(file, "tokenizer.ggml.unknown_token_id", n, vocab.unknown);
    int32_t eom = read_token_id(file, "tokenizer.ggml.eom_token_id", n, -1);
    int32_t fim_prefix = read_token_id(file, "tokenizer.ggml.fim_pre_token_id", n, -1);
    int32_t fim_suffix = read_token_id(file, "tokenizer.ggml.fim_suf_token_id", n, -1);
    int32_t fim_middle = read_token_id(file, "tokenizer.ggml.fim_mid_token_id", n, -1);
    int32_t fim_pad = read_token_id(file, "tokenizer.ggml.fim_pad_token_id", n, -1);
    int32_t fim_repo = read_token_id(file, "tokenizer.ggml.fim_rep_token_id", n, -1);
    int32_t fim_separator = read_token_id(file, "tokenizer.ggml.fim_sep_token_id", n, -1);
    for (const char* key : {"tokenizer.ggml.padding_token_id", "tokenizer.ggml.seperator_token_id",
                            "tokenizer.ggml.mask_token_id"}) {
        read_token_id(file, key, n, -1);
    }
    read_optional_bool(file, "tokenizer.ggml.add_bos_token", vocab.add_bos);
    read_optional_bool(file, "tokenizer.ggml.add_eos_token", vocab.add_eos);

    // Roles found by text, in llama.cpp's order: each found token becomes a control token.
    detect_role(vocab, vocab.eot, kEndOfTurnNames);
    detect_role(vocab, eom, kEndOfMessageNames);
    detect_role(vocab, fim_prefix, kFimPrefixNames);
    detect_role(vocab, fim_suffix, kFimSuffixNames);
    detect_role(vocab, fim_middle, kFimMiddleNames);
    detect_role(vocab, fim_pad, kFimPadNames);
    detect_role(vocab, fim_repo, kFimRepoNames);
    detect_role(vocab, fim_separator, kFimSeparatorNames);
    const auto id_of = [&](std::string_view text) { return vocab.find(text).value_or(-1); };

    // End of generation.
    mark_end_of_generation(vocab, fim_pad);
    mark_end_of_generation(vocab, fim_repo);
    mark_end_of_generation(vocab, fim_separator);
    for (std::string_view name : kEndOfGenerationNames) {
        const int32_t id = id_of(name);
        if (id < 0) continue;
        mark_end_of_generation(vocab, id);
        vocab.attributes[id] |= token_attr::kControl;
    }
    for (std::string_view name : kAlwaysShownNames) {
        const int32_t id = id_of(name);
        if (id >= 0) {
            vocab.attributes[id] = static_cast<uint16_t>(
                token_attr::kUserDefined | (vocab.attributes[id] & token_attr::kEndOfGeneration));
        }
    }
    mark_end_of_generation(vocab, vocab.eos);
    mark_end_of_generation(vocab, vocab.eot);
    mark_end_of_generation(vocab, eom);
    // gpt-oss and solar-open end a message with <|end|> but a turn with <|return|> or <|call|>
    // (<|flush|> and <|calls|>): there <|end|> does not end generation and always prints.
    const auto ends_generation = [&](std::string_view name) {
        const int32_t id = id_of(name);
        return id >= 0 && vocab.has(id, token_attr::kEndOfGeneration);
    };
    if (ends_generation("<|end|>") &&
        ((ends_generation("<|return|>") && ends_generation("<|call|>")) ||
         (ends_generation("<|calls|>") && ends_generation("<|flush|>")))) {
        vocab.attributes[id_of("<|end|>")] = token_attr::kUserDefined;
    }
    // Gemma 4 and PaddleOCR use </s> as text.
    if (ends_generation("<|tool_response>") && ends_generation("</s>")) {
        vocab.attributes[id_of("</s>")] = token_attr::kNormal;
    }

    // The tokens whose text is cut out of the input: longest first, as llama.cpp sorts them.
    for (size_t id = 0; id < n_vocab; ++id) {
        if (vocab.has(static_cast<int32_t>(id),
                      token_attr::kControl | token_attr::kUserDefined | token_attr::kUnknown) &&
            !vocab.tokens[id].empty()) {
            vocab.special_tokens.push_back(static_cast<int32_t>(id));
        }
    }
    std::stable_sort(
        vocab.special_tokens.begin(), vocab.special_tokens.end(),
        [&](int32_t a, int32_t b) { return vocab.tokens[a].size() > vocab.tokens[b].size(); });

    // Phi-3's special tokens swallow the whitespace after them, except <unk>, <s> and
    // <|endoftext|> (llama.cpp recognises the model by its name).
    if (const gguf::Value* name = file.find("general.name");
        name != nullptr && name->type() == gguf::ValueType::STRING) {
        const std::string lowered = lowercase(name->as_string("general.name"));
        if (lowered.find("phi-3") != std::string::npos ||
            lowered.find("phi3") != std::string::npos) {
            for (int32_t id : vocab.special_tokens) vocab.attributes[id] |= token_attr::kRstrip;
            if (const int32_t id = id_of("</s>"); id >= 0) {
                vocab.attributes[id] |= token_attr::kRstrip;
            }
            for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) {
                if (const int32_t id = id_of(text); id >= 0) {
                    vocab.attributes[id] &= static_cast<uint16_t>(~token_attr::kRstrip);
                }
            }
        }
    }

    // Byte fallback.
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (int byte = 0; byte < 256; ++byte) {
        const char text[] = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
        std::optional<int32_t> id = vocab.find(std::string_view(text, sizeof text));
        if (!id) id = vocab.find(std::string(1, static_cast<char>(byte)));
        vocab.byte_tokens[static_cast<size_t>(byte)] = id.value_or(-1);
    }
    return vocab;
}

}  // namespace tessera
