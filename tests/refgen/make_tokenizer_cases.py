#!/usr/bin/env python3
"""Makes tests/fixtures/tokenizer/gemma3.json: the token ids Hugging Face transformers gives for a
set of texts with the Gemma 3 tokenizer it reads from the default model's GGUF file
(AutoTokenizer.from_pretrained(dir, gguf_file=name)), each with and without BOS and with special
token text parsed and not.

With --llama-tokenize PATH it also runs llama.cpp's llama-tokenize on every case, as a second
opinion, and marks the cases where llama.cpp gives other ids than transformers
("llama_cpp_differs": true). Those ids are not written: the fixture holds transformers' output only.
tessera follows llama.cpp on GGUF files, so tests/tokenizer_gemma_test.cpp expects tessera to
differ from transformers exactly on the marked cases.

usage: make_tokenizer_cases.py [--model FILE] [--llama-tokenize PATH] [--out FILE]
Needs transformers, tokenizers and gguf (the reference environment, .venv-ref).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import tokenizers
import transformers
from transformers import AutoTokenizer

DEFAULT_MODEL = os.path.join(
    os.environ.get("TESSERA_MODEL_DIR")
    or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tessera", "models"),
    "gemma-3-270m-q4_k_m.gguf",
)

# (name, text). Every text runs four ways: BOS added or not, special text parsed or not.
TEXTS = [
    # Languages.
    ("english", "The quick brown fox jumps over the lazy dog."),
    ("english-contractions", "I'm sure they'll say it's fine, won't they? We've done it."),
    ("german", "Größere Übungen für Mädchen: Straße, Fußgänger und Äpfel."),
    ("french", "L'élève a déjà reçu « une lettre » à Noël, n'est-ce pas ?"),
    ("chinese", "我们今天去公园散步，天气非常好。"),
    ("japanese", "東京は日本の首都です。ひらがなとカタカナも使います。"),
    ("korean", "안녕하세요, 오늘 날씨가 정말 좋네요."),
    ("arabic", "مرحبا بالعالم، كيف حالك اليوم؟"),
    ("hindi", "नमस्ते दुनिया, आप कैसे हैं?"),
    ("russian", "Съешь же ещё этих мягких французских булок, да выпей чаю."),
    ("greek", "Γειά σου Κόσμε· η γλώσσα είναι ελληνική."),
    ("mixed-scripts", "Hello 世界 мир κόσμος عالم दुनिया 🌍!"),
    # Code.
    (
        "python",
        "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
        "    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\n"
        "print([fib(i) for i in range(10)])  # 0 1 1 2 3 5 8\n",
    ),
    (
        "cpp-tabs",
        "#include <vector>\n\nint sum(const std::vector<int>& v) {\n\tint total = 0;\n"
        "\tfor (int x : v) {\n\t\ttotal += x;\n\t}\n\treturn total;\n}\n",
    ),
    ("json", '{"name": "tessera", "tokens": [1, 2, 3], "ok": true, "nested": {"a": null}}'),
    ("html", "<table><tr><td>cell</td></tr></table> <b>bold</b> <div class=\"x\">text</div>"),
    ("url-email", "See https://example.com/path?q=1&r=two#frag or mail someone@example.org."),
    # Emoji.
    ("emoji", "I love 🦙 and 🐍 and 🚀!"),
    ("emoji-zwj", "Family: 👨‍👩‍👧‍👦, technologist: 👩🏽‍💻, rainbow flag: 🏳️‍🌈"),
    ("emoji-skin-tones", "👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿"),
    ("emoji-flags", "🇩🇪 🇫🇷 🇯🇵 🇺🇸"),
    ("emoji-run", "🦙🦙🦙🦙"),
    # Whitespace.
    ("double-space", "two  spaces"),
    ("many-spaces", "a      b"),
    ("very-many-spaces", "x" + " " * 40 + "y"),
    ("tabs", "a\tb\t\tc\t\t\td"),
    ("crlf", "line one\r\nline two\r\n"),
    ("leading-space", " leading space"),
    ("leading-spaces", "   three leading"),
    ("trailing-space", "trailing space "),
    ("trailing-spaces", "trailing   "),
    ("newline-run", "a\n\nb\n\n\nc\n\n\n\n\nd"),
    ("newlines-only", "\n\n\n"),
    ("spaces-only", "     "),
    ("space-newline-mix", " \n \t \n\n  x  \n"),
    ("nbsp-and-zero-width", "a\u00a0b\u200bc\u2009d\u3000e"),
    ("empty", ""),
    ("single-space", " "),
    ("single-newline", "\n"),
    # Numbers.
    ("numbers", "3.14159 1,000,000 2026-11-28 0x1F 12345678901234567890 -42 1e-9"),
    ("digits", "0123456789"),
    ("arithmetic", "12+34=46; 7*8=56; 100/3≈33.33"),
    # Rare characters.
    ("combining", "e\u0301 a\u0308 n\u0303 (decomposed) é ä ñ (composed)"),
    ("symbols", "© ® ™ § ¶ † ‡ • … ‰ ′ ″ € £ ¥ ∑ ∫ √ ∞ ≠ ≤ ≥"),
    ("private-use-and-replacement", "\ue000\uf8ff\ufffd"),
    ("control-chars", "a\x01b\x07c\x1bd\x7f"),
    ("rare-cjk", "𠀀𠀁𪚥 龘"),
    # Special-token text.
    (
        "chat-turns",
        "<start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\nHi there.<end_of_turn>\n",
    ),
    ("bos-eos-text", "<bos>text<eos>"),
    ("pad-mask-unk", "<pad><mask><unk>"),
    ("end-of-sentence-tag", "text</s>more"),
    ("unused", "<unused0><unused99>"),
    ("multimodal", "[multimodal]<start_of_image><end_of_image>"),
    ("special-inside-words", "abc<start_of_turn>def"),
    ("special-with-spaces", " <start_of_turn> user <end_of_turn> "),
    ("almost-special", "<start_of_turn <end_of_turn> <start_of_turnx>"),
]


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def llama_cpp_ids(llama_tokenize, model, text, add_special, parse_special):
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
        f.write(text.encode("utf-8"))
        path = f.name
    try:
        command = [llama_tokenize, "-m", model, "-f", path, "--ids", "--log-disable", "--no-escape"]
        if not add_special:
            command.append("--no-bos")
        if not parse_special:
            command.append("--no-parse-special")
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    line = output.strip().splitlines()[-1]
    return json.loads(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--llama-tokenize", help="llama.cpp's llama-tokenize, for a second opinion")
    parser.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "tokenizer", "gemma3.json"),
    )
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(
        os.path.dirname(os.path.abspath(args.model)), gguf_file=os.path.basename(args.model)
    )
    cases = []
    n_differ = 0
    for name, text in TEXTS:
        for add_special in (True, False):
            for parse_special in (False, True):
                ids = tokenizer.encode(
                    text, add_special_tokens=add_special, split_special_tokens=not parse_special
                )
                case = {
                    "name": name,
                    "text": text,
                    "add_special": add_special,
                    "parse_special": parse_special,
                    "ids": ids,
                }
                if args.llama_tokenize:
                    other = llama_cpp_ids(args.llama_tokenize, args.model, text, add_special, parse_special)
                    if other != ids:
                        case["llama_cpp_differs"] = True
                        n_differ += 1
                        print(
                            f"differs: {name} add_special={add_special} parse_special={parse_special}\n"
                            f"  transformers {ids}\n  llama.cpp    {other}",
                            file=sys.stderr,
                        )
                cases.append(case)

    fixture = {
        "generator": "tests/refgen/make_tokenizer_cases.py",
        "model_file": os.path.basename(args.model),
        "model_sha256": sha256(args.model),
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "llama_cpp_checked": bool(args.llama_tokenize),
        "cases": cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases, {n_differ} where llama.cpp differs -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
