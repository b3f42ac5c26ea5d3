#include "runtime/tokenizer/tokenizer.h"

#include <bitset>
#include <cctype>
#include <limits>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "runtime/tokenizer/bpe_tokenizer.h"
#include "runtime/tokenizer/pre_tokenizer.h"
#include "runtime/tokenizer/spm_tokenizer.h"
#include "runtime/tokenizer/vocab.h"

namespace tessera {

namespace {

// A stretch of the input: plain text to tokenize, or a special token cut out of it.
struct Fragment {
    size_t offset = 0;
    size_t length = 0;
    int32_t token = -1;  // -1: text
};

bool is_c_space(char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// The bytes and byte pairs a text contains: a special token whose text has one that the text
// lacks cannot occur in it, which rules out nearly all of a large vocabulary's thousands of
// special tokens (Gemma's <unusedN>) without searching the text for each.
class BytePairs {
  public:
    explicit BytePairs(std::string_view text) {
        for (size_t i = 0; i < text.size(); ++i) {
            bytes_.set(static_cast<uint8_t>(text[i]));
            if (i + 1 < text.size()) pairs_.set(pair(text[i], text[i + 1]));
        }
    }
    bool may_contain(std::string_view needle) const {
        for (size_t i = 0; i < needle.size(); ++i) {
            if (!bytes_.test(static_cast<uint8_t>(needle[i]))) return false;
            if (i + 1 < needle.size() && !pairs_.test(pair(needle[i], needle[i + 1]))) return false;
        }
        return true;
    }

  private:
    static size_t pair(char a, char b) {
        return static_cast<size_t>(static_cast<uint8_t>(a)) << 8 | static_cast<uint8_t>(b);
    }
    std::bitset<256> bytes_;
    std::bitset<65536> pairs_;
};

// Cuts the text of special tokens out of `text`, as llama.cpp's tokenizer_st_partition does:
// token by token, longest text first, each occurrence in the text left so far. Control and
// unknown tokens are cut only with `parse_special`; user-defined tokens always are. A token's
// lstrip and rstrip attributes take the whitespace beside it along.
std::vector<Fragment> partition(const Vocab& vocab, std::string_view text, bool parse_special) {
    std::vector<Fragment> fragments;
    if (text.empty()) return fragments;
    fragments.push_back({0, text.size(), -1});
    const auto present = std::make_unique<BytePairs>(text);
    std::vector<Fragment> next;
    for (const int32_t id : vocab.special_tokens) {
        if (!parse_special && vocab.has(id, token_attr::kControl | token_attr::kUnknown)) continue;
        const std::string_view special = vocab.tokens[id];
        if (!present->may_contain(special) || text.find(special) == std::string_view::npos) {
            continue;
        }
        next.clear();
        for (const Fragment& fragment : fragments) {
            if (fragment.token >= 0) {
                next.push_back(fragment);
                continue;
            }
            size_t begin = fragment.offset;
            const size_t end = fragment.offset + fragment.length;
            while (true) {
                const size_t match = text.substr(0, end).find(special, begin);
                if (match == std::string_view::npos) {
                    if (end > begin) next.push_back({begin, end - begin, -1});
                    break;
                }
                size_t left_end = match;
                if (vocab.has(id, token_attr::kLstrip)) {
                    while (left_end > begin && is_c_space(text[left_end - 1])) --left_end;
                }
                if (left_end > begin) next.push_back({begin, left_end - begin, -1});
                next.push_back({match, special.size(), id});
                begin = match + special.size();
                if (vocab.has(id, token_attr::kRstrip)) {
                    while (begin < end && is_c_space(text[begin])) ++begin;
                }
            }
        }
        fragments.swap(next);
    }
    return fragments;
}

std::string replace_escaped_spaces(std::string_view text) {
    static constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (text.substr(i, kEscapedSpace.size()) == kEscapedSpace) {
            out.push_back(' ');
            i += kEscapedSpace.size();
        } else {
            out.push_back(text[i++]);
        }
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

}  // namespace

struct Tokenizer::Impl {
    explicit Impl(Vocab&& v) : vocab(std::move(v)) {}

    // The vocabulary outlives the tokenizers that refer to it: they are members after it, and
    // an Impl never moves.
    Vocab vocab;
    std::optional<SpmTokenizer> spm;
    std::optional<PreTokenizer> pre_tokenizer;
    std::optional<BpeTokenizer> bpe;

    void check(int32_t id) const {
        if (!vocab.contains(id)) {
            throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " +
                        std::to_string(vocab.size()) + " tokens");
        }
    }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_gguf(const gguf::File& file) {
    auto impl = std::make_unique<Impl>(Vocab::read(file));
    const Vocab& vocab = impl->vocab;
    if (vocab.family == VocabFamily::SentencePiece) {
        impl->spm.emplace(vocab);
    } else {
        try {
            impl->pre_tokenizer.emplace(PreTokenizer::for_name(vocab.pre));
        } catch (const Error& e) {
            throw Error(file.path() + ": metadata key 'tokenizer.ggml.pre': " + e.what());
        }
        try {
            impl->bpe.emplace(vocab.tokens, vocab.merges, vocab.ignore_merges);
        } catch (const Error& e) {
            throw Error(file.path() + ": metadata key 'tokenizer.ggml.merges': " + e.what());
        }
    }
    return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
    const Vocab& vocab = impl_->vocab;
    // Symbols and offsets are 32-bit inside the tokenizers.
    if (text.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 4)) {
        throw Error("a text of " + std::to_string(text.size()) +
                    " bytes is more than tessera tokenizes at once");
    }
    const std::vector<Fragment> fragments = partition(vocab, text, options.parse_special);
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 2);
    if (options.add_special && adds_bos()) ids.push_back(vocab.bos);
    if (impl_->spm) {
        // SentencePiece puts a space in front of the text, and llama.cpp again after every
        // special token.
        bool after_special = true;
        for (const Fragment& fragment : fragments) {
            if (fragment.token >= 0) {
                ids.push_back(fragment.token);
                after_special = true;
            } else {
                impl_->spm->encode(text.substr(fragment.offset, fragment.length),
                                   vocab.add_space_prefix && after_special, ids);
                after_special = false;
            }
        }
    } else {
        for (const Fragment& fragment : fragments) {
            if (fragment.token >= 0) {
                ids.push_back(fragment.token);
                continue;
            }
            for (const std::string_view word :
                 impl_->pre_tokenizer->split(text.substr(fragment.offset, fragment.length))) {
                impl_->bpe->encode_word(word, ids);
            }
        }
    }
    if (options.add_special && adds_eos()) ids.push_back(vocab.eos);
    return ids;
}

std::string Tokenizer::token_to_piece(int32_t id, bool special) const {
    impl_->check(id);
    const Vocab& vocab = impl_->vocab;
    const std::string& text = vocab.tokens[id];
    if (vocab.has(id, token_attr::kControl | token_attr::kUnknown)) return special ? text : "";
    if (vocab.has(id, token_attr::kUserDefined)) return text;
    if (vocab.has(id, token_attr::kNormal)) {
        return impl_->spm ? replace_escaped_spaces(text) : BpeTokenizer::token_bytes(text);
    }
    if (vocab.has(id, token_attr::kByte)) {
        // The loader checked the text is <0xNN>.
        return std::string(1, static_cast<char>(hex_value(text[3]) * 16 + hex_value(text[4])));
    }
    return "";  // unused tokens print nothing
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool special) const {
    std::string text;
    bool strip_space = adds_space_prefix();
    for (const int32_t id : ids) {
        std::string piece = token_to_piece(id, special);
        if (piece.empty()) continue;
        if (strip_space && piece.front() == ' ') piece.erase(0, 1);
        strip_space = false;
        text += piece;
    }
    return text;
}

uint32_t Tokenizer::n_vocab() const {
    return impl_->vocab.size();
}

const std::string& Tokenizer::token_text(int32_t id) const {
    impl_->check(id);
    return impl_->vocab.tokens[id];
}

TokenKind Tokenizer::kind(int32_t id) const {
    impl_->check(id);
    return impl_->vocab.kinds[id];
}

std::optional<int32_t> Tokenizer::find(std::string_view text) const {
    return impl_->vocab.find(text);
}

std::string_view Tokenizer::model_name() const {
    return impl_->vocab.model;
}
std::string_view Tokenizer::pre_name() const {
    return impl_->vocab.pre;
}
int32_t Tokenizer::bos() const {
    return impl_->vocab.bos;
}
int32_t Tokenizer::eos() const {
    return impl_->vocab.eos;
}
int32_t Tokenizer::eot() const {
    return impl_->vocab.eot;
}
bool Tokenizer::adds_bos() const {
    return impl_->vocab.add_bos && impl_->vocab.bos >= 0;
}
bool Tokenizer::adds_eos() const {
    return impl_->vocab.add_eos && impl_->vocab.eos >= 0;
}
bool Tokenizer::adds_space_prefix() const {
    return impl_->vocab.add_space_prefix;
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
    return impl_->vocab.contains(id) && impl_->vocab.has(id, token_attr::kEndOfGeneration);
}

}  // namespace tessera
