#!/usr/bin/env python3
"""Reference word splits for every pre-tokenizer tessera supports, made with Hugging Face
`tokenizers`: the committed fixture tests/fixtures/tokenizer/pretokenizer_cases.json, read by
tests/pre_tokenizer_test.cpp.

    make_pretokenizer_cases.py [--out FILE]

For each tokenizer.ggml.pre name, PIPELINES below rebuilds the pre-tokenizer that the model's
tokenizer.json declares, from tokenizers' own building blocks: ByteLevel(use_regex=True) where
the model uses GPT-2's built-in pattern, Digits and Punctuation where it uses those, and
Split(Regex(...), "isolated") for each regular expression it lists, followed by
ByteLevel(use_regex=False), which maps bytes and does not split. tokenizers runs the patterns with
Oniguruma, tessera with PCRE2: the fixture checks tessera's patterns and their order against an
independent engine and against the built-in pre-tokenizers.

pre_tokenize_str() returns each word as byte-level text with its character offsets in the input;
the fixture stores the input's own substrings at those offsets, so that the words read as text and
their concatenation is the input. Names whose words agree on every text share one entry.

Fixture layout:
    {"about": ..., "tokenizers": version,
     "texts": [text, ...],
     "results": [{"names": [pre name, ...], "words": [[word, ...] for each text]}, ...]}

Needs only `tokenizers` (made with 0.23.3); deterministic: the same version gives the same file.
"""

import argparse
import json
import os
import sys

import tokenizers
from tokenizers import Regex
from tokenizers import pre_tokenizers as pt

# The regular expressions, as the models' tokenizer.json files give them.
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
JAIS2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)"
         r"|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN35 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
          r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
O200K = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
         r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
         r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
         r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
         r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
TEKKEN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
          r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
          r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SEED_CODER = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}"
              r"| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+")
BAILING = (r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}"
           r"| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+")
EXAONE_MOE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+"
              r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+")
MINICPM5 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+"
            r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# Non-ASCII characters are written as escapes: an editor's Unicode normalization must not change
# a pattern (the letters of deepseek-llm include precomposed Greek that NFC would rewrite).
BLOOM = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"
DEEPSEEK_LLM_LETTERS = (
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293"
    "\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c"
    "\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5"
    "\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57"
    "\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4"
    "\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc"
    "\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d"
    "\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b"
    "\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f"
    "\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb"
    "\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+")
DEEPSEEK_LLM_PUNCT = "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"
DEEPSEEK_CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
DEEPSEEK_V3_CJK = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
DEEPSEEK_V3 = (r'[!"#$%&' r"'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+"
               r"|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+"
               r"|\s+(?!\S)|\s+")


def split(*patterns):
    return [pt.Split(Regex(p), behavior="isolated") for p in patterns]


def byte_level(use_regex):
    return pt.ByteLevel(add_prefix_space=False, use_regex=use_regex)


def regexes(*patterns):
    """A Sequence of isolated Splits, then the byte mapping (the tiktoken-style models)."""
    return pt.Sequence(split(*patterns) + [byte_level(False)])


# tokenizer.ggml.pre name -> the model's pre-tokenizer. Names that llama.cpp treats alike share
# one pipeline.
def pipelines():
    gpt2 = pt.Sequence([byte_level(True)])
    digits_then_gpt2 = pt.Sequence([pt.Digits(individual_digits=True), byte_level(True)])
    groups = [
        # No tokenizer.json: what llama.cpp runs when a file names no pre-tokenizer.
        (["default"], regexes(r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]")),
        (["gpt-2", "phi-2", "mpt", "olmo", "jais", "gigachat", "exaone4", "trillion",
          "granite-docling", "roberta-bpe", "modern-bert", "mellum"], gpt2),
        (["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b",
          "mellum2"], digits_then_gpt2),
        # Falcon's tokenizer.json has Digits(individual_digits=False) between ByteLevel and the
        # three-digit Split. After ByteLevel it sees byte characters, so it cuts inside
        # characters (the second byte of "\u0432" maps to "\u00b2", a digit). Leaving it out
        # changes no token: none of Falcon's merges joins a digit character to another, so BPE
        # never crosses those cuts. tessera, like llama.cpp, leaves it out; so does this reference.
        (["falcon"], pt.Sequence([pt.Punctuation("contiguous"), byte_level(True),
                                  pt.Split(Regex(r"[0-9][0-9][0-9]"), behavior="isolated")])),
        (["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
          "lfm2", "dbrx", "smaug-bpe", "chatglm-bpe", "glm4"], regexes(LLAMA3)),
        (["jais-2"], regexes(JAIS2)),
        (["qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "hunyuan", "solar-open", "kormo",
          "grok-2"], regexes(QWEN2)),
        (["qwen35"], regexes(QWEN35)),
        (["deepseek-llm"], pt.Sequence(
            split(r"[\r\n]", DEEPSEEK_LLM_LETTERS, DEEPSEEK_LLM_PUNCT, r"\s+$", DEEPSEEK_CJK)
            + [pt.Digits(individual_digits=False), byte_level(False)])),
        (["deepseek-coder"], pt.Sequence(
            split(r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", DEEPSEEK_CJK)
            + [pt.Digits(individual_digits=True), byte_level(False)])),
        (["deepseek-v3", "hunyuan-dense", "joyai-llm"],
         regexes(r"\p{N}{1,3}", DEEPSEEK_V3_CJK, DEEPSEEK_V3)),
        (["poro-chat", "bloom", "gpt3-finnish"], regexes(BLOOM)),
        (["viking"], pt.Sequence(split(BLOOM) + [pt.Digits(individual_digits=True),
                                                 byte_level(False)])),
        (["gpt-4o", "llama4", "minimax-m2", "kanana2"], regexes(O200K)),
        (["tekken"], regexes(TEKKEN)),
        (["tiny_aya", "cohere2moe"], regexes(r"\d{1,3}(?=(?:\d{3})*\b)", O200K)),
        (["seed-coder"], regexes(SEED_CODER)),
        (["bailingmoe", "bailingmoe2", "llada-moe"], regexes(BAILING)),
        (["exaone-moe"], regexes(EXAONE_MOE)),
        (["minicpm5"], regexes(r"\p{N}{1,3}", MINICPM5)),
        (["chameleon"], regexes(r"<sentinel:[0-9]+>", r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                                r"([\t\n]|    |  )", r"\p{N}", r"[\p{P}!-/:-@\[-`{-~]", GPT2)),
    ]
    out = {}
    for names, pipeline in groups:
        for name in names:
            out[name] = pipeline
    return out


TEXTS = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n\n",
    "\t\n",
    "\r\n",
    "Hello world",
    " Hello world",
    "Hello World",
    " Hello World!",
    "Hello, world!",
    "   leading and trailing   ",
    "trailing newlines\n\n",
    "a  b   c    d",
    "a \n b \n\n c",
    "tab\tseparated\t\tvalues\t",
    "line one\r\nline two\r\n\r\nline four",
    "\r\r\n\n\r",
    "   \n  \n \n",
    "mixed \t \n \r\n  \t\t  whitespace",
    # contractions in every case, and a long s, which folds to s
    "I'm sure you're right; we've said it's theirs, they'll know, he'd go.",
    "I'M SURE YOU'RE RIGHT; WE'VE SAID IT'S THEIRS, THEY'LL KNOW, HE'D GO.",
    "'s 'T 're 'Ve 'M 'lL 'D 'x 'S's O'Neil's rock'n'roll",
    "don'ſ 'ſ",
    # numbers
    "1 12 123 1234 12345 123456 1234567 12345678",
    "1234567",
    "3.14159 2,718 1,000,000 -42 +7 1e-10 0x1F 0b1010",
    "v1.2.3 x2y22z222w2222",
    "٣٤٥ १२३४ ½ ² Ⅻ ①②",
    "12345 abc123 1234567.89 9999",
    # multilingual
    "你好，世界！我们在北京。",
    "こんにちは、カタカナとひらがな。漢字もある",
    "안녕하세요 세계",
    "مرحبا بالعالم، كيف حالك؟",
    "नमस्ते दुनिया। यह हिंदी है",
    "Привет, мир! Как дела?",
    "Γειά σου Κόσμε",
    "สวัสดีชาวโลก",
    "Äpfel über Straße, ǅemal ǈudi",
    "Tiếng Việt có dấu",
    "e\u0301 n\u0303 a\u0308b",
    "ℂℍℕ K Ω ﬁne",
    # code
    "def foo(x):\n    return x**2 + 1  # comment\n",
    "int main() { printf(\"%d\\n\", a[i]++); }",
    "if (a <= b && c != d) {\n\treturn;\n}\n",
    "https://example.com/path?q=1&r=2#frag",
    "foo_bar-baz/qux.txt ../a/b",
    "<html><body class=\"x\"></body></html>",
    "$var += @list; ~x ^ y | z `cmd`",
    "    indented\n        more\n",
    # emoji
    "🦙🦙 llama",
    "👨‍👩‍👧‍👦 family",
    "👍🏽 ok ❤️",
    "🇺🇸🇩🇪",
    # punctuation
    "!!!???...",
    "Hello... world!!! (really?) [yes] {no}",
    "—–-‐ “quotes” ‘single’ «guillemets»",
    "…。，、 ・「」",
    "a.b,c!d?e",
    # unusual whitespace
    "\u00a0nbsp\u00a0 ",
    "\u3000ideographic\u3000space",
    "x\u0085y \u0085 z",
    "a\u2028b\u2029c",
    "\u000b\u000c form feed",
    "zero\u200bwidth",
    # chameleon's special pieces
    "<sentinel:12> IMGIMGABCZ",
    # llama.cpp's tokenizer test sentence
    "\n =\n' \"\"'\n\n\n\n 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български "
    "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? "
    "'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)",
]


def words_of(pipeline, text):
    encoded = text.encode("utf-8")
    # character offset -> byte offset
    byte_at = [0]
    for ch in text:
        byte_at.append(byte_at[-1] + len(ch.encode("utf-8")))
    words = []
    end = 0
    for _, (start, stop) in pipeline.pre_tokenize_str(text):
        if start != end:
            raise SystemExit(f"offsets are not contiguous in {text!r}")
        words.append(encoded[byte_at[start]:byte_at[stop]].decode("utf-8"))
        end = stop
    if "".join(words) != text:
        raise SystemExit(f"words do not concatenate to {text!r}")
    return words


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(
        root, "tests", "fixtures", "tokenizer", "pretokenizer_cases.json"))
    args = parser.parse_args()

    results = []
    for name, pipeline in pipelines().items():
        words = [words_of(pipeline, text) for text in TEXTS]
        for entry in results:
            if entry["words"] == words:
                entry["names"].append(name)
                break
        else:
            results.append({"names": [name], "words": words})

    fixture = {
        "about": "Word splits of tokenizers' pre-tokenizers for each tokenizer.ggml.pre name; "
                 "made by tests/refgen/make_pretokenizer_cases.py",
        "tokenizers": tokenizers.__version__,
        "texts": TEXTS,
        "results": results,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    n_names = sum(len(r["names"]) for r in results)
    print(f"{args.out}: {len(TEXTS)} texts, {n_names} names in {len(results)} distinct results",
          file=sys.stderr)


if __name__ == "__main__":
    main()
