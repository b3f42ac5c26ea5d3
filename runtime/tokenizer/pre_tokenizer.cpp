#include "runtime/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "formats/error.h"

namespace tessera {

namespace {

// The patterns, as the models' tokenizer.json files spell them. Non-ASCII characters are PCRE2
// escapes so that no editor's Unicode normalization can change a pattern.

// GPT-2's own, built into the ByteLevel pre-tokenizer (use_regex: true).
constexpr std::string_view kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";
// The same without the final `\s+`, as llama.cpp and Chameleon write it. Whitespace that only
// `\s+` would take is left between matches and becomes a word of its own all the same.
constexpr std::string_view kGpt2Short =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";
// tiktoken's cl100k (Llama 3, DBRX, ...).
constexpr std::string_view kLlama3 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})re"
    R"re(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kJais2 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})re"
    R"re(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S))re"
    R"re(|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1})re";
constexpr std::string_view kQwen2 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})re"
    R"re(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kQwen35 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N})re"
    R"re(| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// tiktoken's o200k (GPT-4o, Llama 4, ...).
constexpr std::string_view kO200k =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)re"
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)?)re"
    R"re(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)re"
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)?)re"
    R"re(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kTekken =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)re"
    R"re(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)re"
    R"re(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kSeedCoder =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1})re"
    R"re(| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kBailing = R"re('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N})re"
                                      R"re(| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)re";
constexpr std::string_view kExaoneMoe =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+)re"
    R"re(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+)re";
constexpr std::string_view kMinicpm5 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+)re"
    R"re(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// BLOOM's: a word is anything but whitespace and a few punctuation marks (the parentheses and
// the bar are inside the class, as in the original).
constexpr std::string_view kBloom =
    R"re( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)re";
constexpr std::string_view kDeepseekLlmLetters =
    R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})re"
    R"re(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})re"
    R"re(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})re"
    R"re(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})re"
    R"re(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})re"
    R"re(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D})re"
    R"re(\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})re"
    R"re(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})re"
    R"re(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})re"
    R"re(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})re"
    R"re(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})re"
    R"re(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})re"
    R"re(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})re"
    R"re(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3})re"
    R"re(\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})re"
    R"re(\x{1E900}-\x{1E943}]+)re";
constexpr std::string_view kDeepseekLlmPunctuation =
    R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re";
constexpr std::string_view kDeepseekCjk =
    R"re([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";
constexpr std::string_view kDeepseekV3Cjk =
    R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re";
constexpr std::string_view kDeepseekV3 =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+)re"
    R"re(|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// A pre-tokenizer: the names it goes by and its patterns, applied in order (each one splits the
// words the previous ones made).
struct Recipe {
    std::vector<std::string_view> names;
    std::vector<std::string_view> patterns;
};

const std::vector<Recipe>& recipes() {
    static const std::vector<Recipe> table = {
        // No tokenizer.json: what llama.cpp runs for a file that names no pre-tokenizer.
        {{"default"},
         {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2Short, R"re(\p{N}+)re", "[0-9][0-9][0-9]"}},
        {{"gpt-2", "phi-2", "mpt", "olmo", "jais", "gigachat", "exaone4", "trillion",
          "granite-docling", "roberta-bpe", "modern-bert", "mellum"},
         {kGpt2}},
        // Digits(individual_digits) then ByteLevel's own pattern.
        {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b",
          "mellum2"},
         {R"re(\p{N})re", kGpt2}},
        // Punctuation (Unicode's and ASCII's), ByteLevel's pattern, then runs of three digits.
        // Falcon's tokenizer.json also has Digits between the last two, but after ByteLevel it
        // cuts byte characters (inside UTF-8 characters), and none of Falcon's merges crosses
        // such a cut: leaving it out changes no token.
        {{"falcon"}, {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, "[0-9][0-9][0-9]"}},
        {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
          "dbrx", "smaug-bpe", "chatglm-bpe", "glm4"},
         {kLlama3}},
        {{"jais-2"}, {kJais2}},
        {{"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "hunyuan", "solar-open", "kormo",
          "grok-2"},
         {kQwen2}},
        {{"qwen35"}, {kQwen35}},
        {{"deepseek-llm"},
         {R"re([\r\n])re", kDeepseekLlmLetters, kDeepseekLlmPunctuation, R"re(\s+$)re",
          kDeepseekCjk, R"re(\p{N}+)re"}},
        {{"deepseek-coder"},
         {R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kDeepseekCjk, R"re(\p{N})re"}},
        {{"deepseek-v3", "hunyuan-dense", "joyai-llm"},
         {R"re(\p{N}{1,3})re", kDeepseekV3Cjk, kDeepseekV3}},
        {{"poro-chat", "bloom", "gpt3-finnish"}, {kBloom}},
        {{"viking"}, {kBloom, R"re(\p{N})re"}},
        {{"gpt-4o", "llama4", "minimax-m2", "kanana2"}, {kO200k}},
        {{"tekken"}, {kTekken}},
        {{"tiny_aya", "cohere2moe"}, {R"re(\d{1,3}(?=(?:\d{3})*\b))re", kO200k}},
        {{"seed-coder"}, {kSeedCoder}},
        {{"bailingmoe", "bailingmoe2", "llada-moe"}, {kBailing}},
        {{"exaone-moe"}, {kExaoneMoe}},
        {{"minicpm5"}, {R"re(\p{N}{1,3})re", kMinicpm5}},
        {{"chameleon"},
         {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
          R"re(\p{N})re", R"re([\p{P}!-/:-@\[-`{-~])re", kGpt2Short}},
    };
    return table;
}

// The length of the well-formed UTF-8 character at `text[at]`, or 0 when the bytes there are not
// one. As strict as PCRE2's own check (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF), because the patterns run with PCRE2_NO_UTF_CHECK, which is undefined on anything
// PCRE2 would reject.
size_t utf8_char_length(std::string_view text, size_t at) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const size_t left = text.size() - at;
    const uint8_t lead = byte(at);
    const auto continuation = [&](size_t i) { return (byte(at + i) & 0xC0) == 0x80; };
    if (lead < 0x80) return 1;
    if (lead < 0xC2) return 0;  // a continuation byte, or an overlong two-byte lead
    if (lead < 0xE0) return left >= 2 && continuation(1) ? 2 : 0;
    if (lead < 0xF0) {
        if (left < 3 || !continuation(1) || !continuation(2)) return 0;
        const uint8_t second = byte(at + 1);
        if (lead == 0xE0 && second < 0xA0) return 0;   // overlong
        if (lead == 0xED && second >= 0xA0) return 0;  // a surrogate
        return 3;
    }
    if (lead < 0xF5) {
        if (left < 4 || !continuation(1) || !continuation(2) || !continuation(3)) return 0;
        const uint8_t second = byte(at + 1);
        if (lead == 0xF0 && second < 0x90) return 0;   // overlong
        if (lead == 0xF4 && second >= 0x90) return 0;  // past U+10FFFF
        return 4;
    }
    return 0;
}

std::string pcre2_message(int code) {
    PCRE2_UCHAR buffer[256];
    const int length = pcre2_get_error_message(code, buffer, sizeof buffer);
    if (length < 0) return "PCRE2 error " + std::to_string(code);
    return std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(length));
}

struct CodeDeleter {
    void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
using Code = std::unique_ptr<pcre2_code, CodeDeleter>;

// What one split() call owns: the match data, and the JIT stack it grows into when a long word
// outruns the 32 KiB that JIT code gets by default. Nothing here is shared between calls, which
// is what makes split() safe to run from many threads at once.
class MatchScratch {
  public:
    explicit MatchScratch(uint32_t max_pairs)
        : match_data_(pcre2_match_data_create(max_pairs, nullptr)) {
        if (match_data_ == nullptr) throw Error("pre-tokenizer: out of memory for match data");
    }
    MatchScratch(const MatchScratch&) = delete;
    MatchScratch& operator=(const MatchScratch&) = delete;
    ~MatchScratch() {
        pcre2_match_data_free(match_data_);
        pcre2_match_context_free(context_);
        pcre2_jit_stack_free(jit_stack_);
    }

    pcre2_match_data* match_data() const { return match_data_; }
    pcre2_match_context* context() const { return context_; }
    bool has_large_stack() const { return jit_stack_ != nullptr; }

    // Gives later matches a JIT stack that grows up to `kMaxJitStack`.
    void use_large_stack() {
        context_ = pcre2_match_context_create(nullptr);
        jit_stack_ = pcre2_jit_stack_create(kStartJitStack, kMaxJitStack, nullptr);
        if (context_ == nullptr || jit_stack_ == nullptr) {
            throw Error("pre-tokenizer: out of memory for a JIT stack");
        }
        pcre2_jit_stack_assign(context_, nullptr, jit_stack_);
    }

  private:
    static constexpr size_t kStartJitStack = 64 * 1024;
    static constexpr size_t kMaxJitStack = 64 * 1024 * 1024;

    pcre2_match_data* match_data_ = nullptr;
    pcre2_match_context* context_ = nullptr;
    pcre2_jit_stack* jit_stack_ = nullptr;
};

}  // namespace

struct PreTokenizer::Impl {
    std::string name;
    std::vector<Code> steps;
    uint32_t max_pairs = 1;  // capture pairs of the pattern with the most groups, plus the match

    // Appends the words `step` makes of `piece` (valid UTF-8): each match, and each stretch
    // between matches, is a word.
    void split_piece(size_t step, std::string_view piece, MatchScratch& scratch,
                     std::vector<std::string_view>& out) const {
        const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
        size_t word_start = 0;
        size_t search_from = 0;
        while (search_from < piece.size()) {
            int rc = pcre2_match(steps[step].get(), subject, piece.size(), search_from,
                                 PCRE2_NO_UTF_CHECK | PCRE2_NOTEMPTY, scratch.match_data(),
                                 scratch.context());
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !scratch.has_large_stack()) {
                scratch.use_large_stack();
                rc = pcre2_match(steps[step].get(), subject, piece.size(), search_from,
                                 PCRE2_NO_UTF_CHECK | PCRE2_NOTEMPTY, scratch.match_data(),
                                 scratch.context());
            }
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                throw Error("pre-tokenizer '" + name + "': pattern " + std::to_string(step) +
                            ": matching a word of " + std::to_string(piece.size()) +
                            " bytes failed: " + pcre2_message(rc));
            }
            const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(scratch.match_data());
            const size_t match_start = ovector[0];
            const size_t match_end = ovector[1];
            if (match_start > word_start) {
                out.push_back(piece.substr(word_start, match_start - word_start));
            }
            out.push_back(piece.substr(match_start, match_end - match_start));
            word_start = search_from = match_end;
        }
        if (word_start < piece.size()) out.push_back(piece.substr(word_start));
    }

    // Appends the words of well-formed UTF-8 `text`: every step splits every word of the one
    // before.
    void split_valid(std::string_view text, MatchScratch& scratch,
                     std::vector<std::string_view>& out) const {
        std::vector<std::string_view> pieces{text};
        std::vector<std::string_view> next;
        for (size_t step = 0; step < steps.size(); ++step) {
            next.clear();
            for (std::string_view piece : pieces) split_piece(step, piece, scratch, next);
            pieces.swap(next);
        }
        out.insert(out.end(), pieces.begin(), pieces.end());
    }
};

PreTokenizer::PreTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::supported_names() {
    std::vector<std::string_view> names;
    for (const Recipe& recipe : recipes()) {
        names.insert(names.end(), recipe.names.begin(), recipe.names.end());
    }
    return names;
}

PreTokenizer PreTokenizer::for_name(std::string_view pre) {
    const Recipe* found = nullptr;
    for (const Recipe& recipe : recipes()) {
        for (std::string_view name : recipe.names) {
            if (name == pre) found = &recipe;
        }
    }
    if (found == nullptr) {
        std::string known;
        for (std::string_view name : supported_names()) {
            known += known.empty() ? "" : ", ";
            known += name;
        }
        throw Error("unknown pre-tokenizer '" + std::string(pre) + "' (tokenizer.ggml.pre); " +
                    "supported: " + known);
    }

    auto impl = std::make_unique<Impl>();
    impl->name = std::string(pre);
    for (size_t i = 0; i < found->patterns.size(); ++i) {
        const std::string_view pattern = found->patterns[i];
        int error = 0;
        PCRE2_SIZE error_offset = 0;
        Code code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr));
        if (code == nullptr) {
            throw Error("pre-tokenizer '" + impl->name + "': pattern " + std::to_string(i) +
                        " does not compile at offset " + std::to_string(error_offset) + ": " +
                        pcre2_message(error));
        }
        // Without JIT support (some platforms, some builds), the interpreter runs the same
        // pattern with the same results, only slower.
        pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE);
        uint32_t groups = 0;
        pcre2_pattern_info(code.get(), PCRE2_INFO_CAPTURECOUNT, &groups);
        impl->max_pairs = std::max(impl->max_pairs, groups + 1);
        impl->steps.push_back(std::move(code));
    }
    return PreTokenizer(std::move(impl));
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
    std::vector<std::string_view> words;
    if (text.empty()) return words;
    MatchScratch scratch(impl_->max_pairs);
    // Runs of well-formed UTF-8 go through the patterns; each byte that does not start a
    // well-formed character is a word of its own (byte-level BPE has a token for every byte).
    size_t at = 0;
    while (at < text.size()) {
        size_t valid_end = at;
        while (valid_end < text.size()) {
            const size_t length = utf8_char_length(text, valid_end);
            if (length == 0) break;
            valid_end += length;
        }
        if (valid_end > at) {
            impl_->split_valid(text.substr(at, valid_end - at), scratch, words);
            at = valid_end;
        } else {
            words.push_back(text.substr(at, 1));
            ++at;
        }
    }
    return words;
}

}  // namespace tessera
