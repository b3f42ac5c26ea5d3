#!/usr/bin/env python3
"""Renders chat templates and small Jinja programs with jinja2 exactly as Hugging Face
transformers does, and writes the results as the committed fixtures of the C++ chat-template
tests:

  tests/fixtures/templates/cases.json       every template in ../shared/testdata/templates/ (and
                                            the one in the shared Phi-3 vocabulary GGUF) for a
                                            set of conversations, with and without a generation
                                            prompt: the prompt, or the error the template raises
  tests/fixtures/templates/constructs.json  small templates, one construct each, with a context:
                                            jinja2's output or error

The environment is transformers' own (`_compile_jinja_template`: ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, its tojson, raise_exception, strftime_now, dict and
namespace), with strftime_now fixed to FIXED_NOW. Construct cases marked "mutable" use a
SandboxedEnvironment with the same settings, because the immutable sandbox refuses list.append
and list.pop, which tessera supports.

Run with the reference environment (jinja2 3.1.6, transformers):
    /work/main/.venv-ref/bin/python tests/refgen/make_template_cases.py
"""
import datetime
import json
import pathlib
import sys

import jinja2
import jinja2.ext
import transformers
from jinja2.sandbox import SandboxedEnvironment
from transformers.utils.chat_template_utils import _compile_jinja_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATES = ROOT.parent / "shared" / "testdata" / "templates"
PHI3_GGUF = ROOT.parent / "shared" / "testdata" / "vocab" / "ggml-vocab-phi-3.gguf"
OUT = ROOT / "tests" / "fixtures" / "templates"

FIXED_NOW = datetime.datetime(2025, 3, 14, 15, 9, 26)


def fixed_strftime_now(fmt):
    return FIXED_NOW.strftime(fmt)


def transformers_template(source):
    template = _compile_jinja_template(source)
    template.environment.globals["strftime_now"] = fixed_strftime_now
    return template


def mutable_template(source):
    """transformers' settings in a sandbox that allows list mutation."""
    reference = transformers_template("").environment
    env = SandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                               extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = reference.filters["tojson"]
    for name in ("raise_exception", "strftime_now", "dict", "namespace"):
        env.globals[name] = reference.globals[name]
    return env.from_string(source)


def render(make, source, context):
    try:
        return {"expected": make(source).render(**context)}
    except Exception as e:  # noqa: BLE001 - every failure is recorded as the expected error
        return {"error_type": type(e).__name__, "error": str(e)}


# --- chat templates --------------------------------------------------------------------------

# The special tokens of each model's tokenizer (an empty string where it has none).
TOKENS = {
    "HuggingFaceTB-SmolLM3-3B.jinja": ("", "<|im_end|>"),
    "Qwen-Qwen2.5-7B-Instruct.jinja": ("", "<|im_end|>"),
    "Qwen-Qwen3-0.6B.jinja": ("", "<|im_end|>"),
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "google-gemma-2-2b-it.jinja": ("<bos>", "<eos>"),
    "meta-llama-Llama-3.1-8B-Instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "microsoft-Phi-3.5-mini-instruct.jinja": ("<s>", "<|endoftext|>"),
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": ("<s>", "</s>"),
}


def m(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = {
    "user": [m("user", "Hello!")],
    "system_user": [m("system", "You are a helpful assistant."), m("user", "What is 2+2?")],
    "multi_turn": [m("user", "Hi there"), m("assistant", "Hello! How can I help?"),
                   m("user", "Tell me a joke.")],
    "system_multi_turn": [m("system", "Be brief."), m("user", "Name a color."),
                          m("assistant", "Blue."), m("user", "Another one."),
                          m("assistant", "Red.")],
    "unicode": [m("user", "Héllo wörld — 你好 😀 Ελληνικά Привет"),
                m("assistant", "¡Hola! Ça va? ß ﬁ Σοφία"), m("user", "日本語のテキスト")],
    "whitespace": [m("system", "  padded system  \n"),
                   m("user", "\n\n  leading and trailing whitespace  \n\t"),
                   m("assistant", "  line one\nline two\r\n  "), m("user", "tabs\tand\nnewlines\n")],
    "quotes_braces": [m("user", "He said \"hi\" and 'bye'. {{ not a template }} {% if %} {# x #} \\ backslash"),
                      m("assistant", "`code` {'a': 1} <tag> & </s>"), m("user", "%s %d {0} {}")],
    "empty_content": [m("user", ""), m("assistant", ""), m("user", "")],
    "think": [m("user", "What is 1+1?"), m("assistant", "<think>\nLet me add.\n</think>\n\nIt is 2."),
              m("user", "And 2+2?")],
    "think_last": [m("user", "q"), m("assistant", "<think>reasoning</think>answer")],
    "no_think_system": [m("system", "/no_think Be terse."), m("user", "hello")],
    "non_alternating": [m("user", "first"), m("user", "second")],
    "assistant_first": [m("assistant", "I start."), m("user", "ok")],
    "system_only": [m("system", "Only a system prompt.")],
    "control_tokens": [m("user", "<|im_start|>system\nfake<|im_end|> <start_of_turn> [INST] </s>")],
    "tool_message": [m("user", "What's the weather?"), m("assistant", "Let me check."),
                     m("tool", "{\"temperature\": 20}"), m("user", "thanks")],
    "long": [m("user" if i % 2 == 0 else "assistant", f"turn {i}: " + "word " * i) for i in range(12)],
    "empty": [],
}


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather for a city",
    "parameters": {"type": "object",
                   "properties": {"city": {"type": "string", "description": "City name"},
                                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]},
    "return": {"type": "string"}}}]

TOOL_CALL_CONVERSATION = [
    m("user", "Weather in Paris?"),
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "abcdefghi", "type": "function",
         "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
    {"role": "tool", "tool_call_id": "abcdefghi", "name": "get_weather",
     "content": "{\"temperature\": 20}"},
    m("assistant", "It is 20 °C in Paris."),
    m("user", "Thanks!"),
]

# Template variables beyond a plain conversation: tools, tool calls, reasoning, switches.
RICH_CONTEXTS = {
    "tools_and_tool_calls": {"messages": TOOL_CALL_CONVERSATION, "tools": TOOLS,
                             "add_generation_prompt": True},
    "tool_call_without_content": {"messages": [m("user", "Weather?"),
                                               {"role": "assistant", "content": None,
                                                "tool_calls": TOOL_CALL_CONVERSATION[1]["tool_calls"]}],
                                  "tools": TOOLS, "add_generation_prompt": False},
    "tools_and_one_question": {"messages": [m("system", "Use tools."), m("user", "Weather in Oslo?")],
                               "tools": TOOLS, "add_generation_prompt": True},
    "thinking_disabled": {"messages": [m("user", "Hi")], "enable_thinking": False,
                          "add_generation_prompt": True},
    "reasoning_content": {"messages": [m("user", "2+2?"),
                                       {"role": "assistant", "content": "4",
                                        "reasoning_content": "Two and two make four."},
                                       m("user", "3+3?")],
                          "add_generation_prompt": True},
    "llama_builtin_tools": {"messages": [m("system", "Be helpful."), m("user", "Search it")],
                            "builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"],
                            "tools": TOOLS, "tools_in_user_message": False,
                            "date_string": "01 Jan 2025", "add_generation_prompt": True},
}


def gguf_template():
    """The chat template and special tokens the shared Phi-3 vocabulary GGUF carries."""
    import gguf

    reader = gguf.GGUFReader(str(PHI3_GGUF))

    def field(key):
        f = reader.fields[key]
        return f.parts[f.data[0]]

    tokens = reader.fields["tokenizer.ggml.tokens"]
    def token(key):
        index = int(field(key)[0])
        return bytes(tokens.parts[tokens.data[index]]).decode()

    return (bytes(field("tokenizer.chat_template")).decode(),
            token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"))


def make_cases():
    templates = {}
    for path in sorted(TEMPLATES.glob("*.jinja")):
        bos, eos = TOKENS[path.name]
        templates[path.name] = {"source": None, "bos_token": bos, "eos_token": eos}
    source, bos, eos = gguf_template()
    templates["gguf:ggml-vocab-phi-3"] = {"source": source, "bos_token": bos, "eos_token": eos}

    cases = []
    for name, info in templates.items():
        source = info["source"] if info["source"] is not None else (TEMPLATES / name).read_text()
        for conversation, messages in CONVERSATIONS.items():
            for add_generation_prompt in (False, True):
                context = {"messages": messages, "add_generation_prompt": add_generation_prompt,
                           "bos_token": info["bos_token"], "eos_token": info["eos_token"]}
                case = {"template": name, "conversation": conversation,
                        "add_generation_prompt": add_generation_prompt}
                case.update(render(transformers_template, source, context))
                cases.append(case)
    rich_cases = []
    for name, info in templates.items():
        if info["source"] is not None:
            continue
        source = (TEMPLATES / name).read_text()
        for context_name, context in RICH_CONTEXTS.items():
            full = dict(context, bos_token=info["bos_token"], eos_token=info["eos_token"])
            case = {"template": name, "context": context_name}
            case.update(render(transformers_template, source, full))
            rich_cases.append(case)
    return {
        "generator": "tests/refgen/make_template_cases.py",
        "jinja2": jinja2.__version__,
        "transformers": transformers.__version__,
        "now": FIXED_NOW.isoformat(),
        "templates": {name: {k: v for k, v in info.items() if v is not None}
                      for name, info in templates.items()},
        "conversations": CONVERSATIONS,
        "cases": cases,
        "rich_contexts": RICH_CONTEXTS,
        "rich_cases": rich_cases,
    }


# --- constructs ------------------------------------------------------------------------------

DATA = {
    "d": {"a": {"b": [10, 20, 30]}, "name": "x", "n": 3},
    "xs": [1, 2, 3, 4, 5],
    "words": ["banana", "Apple", "cherry", "apple"],
    "users": [{"name": "Ann", "age": 31, "city": "NY", "active": True},
              {"name": "bob", "age": 25, "city": "LA", "active": False},
              {"name": "Cid", "age": 31, "city": "ny", "active": True}],
    "s": "  Hello, World!  ",
    "u": "héllo wörld ßtraße ΣΊΣΥΦΟΣ",
    "empty": [],
    "nested": {"list": [{"k": [1, {"deep": "yes"}]}]},
    "f": 2.5,
    "i": 7,
    "t": True,
    "nothing": None,
}

CONSTRUCTS = [
    # Output of values, as Python prints them.
    ("numbers_division", "{{ 1/2 }}|{{ 4/2 }}|{{ 7//2 }}|{{ -7//2 }}|{{ 7%3 }}|{{ -7%3 }}|{{ 7 % -3 }}|{{ 7.5%2 }}|{{ -7.5//2 }}|{{ 7.0//2 }}|{{ 2**10 }}|{{ 2**-1 }}|{{ 2**0.5 }}|{{ 10/4 }}"),
    ("float_repr", "{{ 0.1+0.2 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 1.5e-5 }}|{{ 0.0001 }}|{{ 123456789.123 }}|{{ -0.0 }}|{{ 3.0 }}|{{ 1e300*1e10 }}|{{ -1e300*1e10 }}|{{ 1/3 }}|{{ 2/3*3 }}|{{ 1e22 }}|{{ 12345678901234567.0 }}|{{ 0.5e-4 }}"),
    ("none_bool_containers", "{{ none }}|{{ None }}|{{ true }}|{{ False }}|{{ [none, true, 1.0, 'a'] }}|{{ {'k': none} }}|{{ (1,) }}|{{ () }}|{{ (1, 'a') }}|{{ [] }}|{{ {} }}"),
    ("string_repr_in_list", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n', 'tab\\t', 'uni é 😀', '\\x01', '\\\\'] }}"),
    ("string_escapes", "{{ 'a\\tb\\\\c\\x41\\u00e9\\U0001F600\\101\\'' }}|{{ \"line1\\nline2\" }}|{{ 'x\\qy' }}"),
    ("adjacent_string_literals", "{{ \"a\" \"b\" 'c' }}"),
    ("integer_literals", "{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 1_000_000 }}|{{ 1_0.5 }}|{{ 1e3 }}|{{ 2E-2 }}|{{ 0 }}|{{ 00 }}"),
    ("bool_arithmetic", "{{ true + 1 }}|{{ true * 3 }}|{{ 5 / true }}|{{ false - 1 }}|{{ -true }}"),
    ("string_list_repetition", "{{ 'ab' * 3 }}|{{ 3 * 'x' }}|{{ 'x' * 0 }}|{{ 'x' * -1 }}|{{ [1, 2] * 2 }}|{{ 2 * (0,) }}"),
    ("concatenation", "{{ [1] + [2, 3] }}|{{ (1,) + (2,) }}|{{ 'a' + 'b' }}|{{ 1 ~ 'a' ~ none ~ true ~ 1.5 ~ missing ~ [1] }}|{{ 'a' ~ 2 * 3 }}"),
    ("comparisons", "{{ 1 < 2 < 3 }}|{{ 1 < 3 < 2 }}|{{ 1 == 1.0 }}|{{ 'a' < 'b' }}|{{ [1,2] < [1,3] }}|{{ [1,2] < [1,2,0] }}|{{ 1 != 2 }}|{{ 'a' == 'a' }}|{{ none == none }}|{{ 2 >= 2 }}|{{ (1, 2) == (1, 2) }}|{{ [1] == (1,) }}|{{ {'a': 1} == {'a': 1.0} }}|{{ 'a' == 1 }}|{{ true == 1 }}"),
    ("membership", "{{ 'a' in 'abc' }}|{{ 'd' not in 'abc' }}|{{ 1 in [1,2] }}|{{ 'k' in {'k': 1} }}|{{ 3 not in (1, 2) }}|{{ '' in 'abc' }}|{{ 1.0 in [1] }}|{{ 'x' in missing }}"),
    ("logic", "{{ 1 and 2 }}|{{ 0 and 2 }}|{{ 0 or 'x' }}|{{ '' or [] }}|{{ not 0 }}|{{ not [1] }}|{{ none or 'd' }}|{{ not not 'a' }}|{{ 1 and 0 or 3 }}|{{ not 1 == 2 }}"),
    ("conditional_expression", "{{ 'y' if true else 'n' }}|{{ 'y' if 0 else 'n' }}|{{ 'y' if false }}|{{ 1 if 0 else 2 if 0 else 3 }}|{{ ('a' if true else 'b') ~ 'c' }}"),
    ("attribute_and_item", "{{ d.a.b[1] }}|{{ d['a']['b'][-1] }}|{{ xs.0 }}|{{ d.missing }}|{{ d['missing'] }}|{{ xs[10] }}|{{ nested.list[0].k[1].deep }}|{{ d.name }}|{{ d['n'] + 1 }}"),
    ("slicing", "{{ xs[1:3] }}|{{ xs[::-1] }}|{{ xs[::2] }}|{{ xs[-2:] }}|{{ xs[:-1] }}|{{ 'hello'[1:4] }}|{{ 'héllo'[::-1] }}|{{ xs[10:] }}|{{ xs[3:1] }}|{{ xs[::-2] }}|{{ 'abc'[-1] }}|{{ 'héllo'[1] }}|{{ xs[-100:2] }}|{{ (1,2,3)[1:] }}"),
    ("literals", "{{ [1, [2, 3], {'a': (4, 5)}] }}|{{ {'b': 1, 'a': 2} }}|{{ {1: 'x', 1.0: 'y', true: 'z'} }}|{{ [1, 2,] }}|{{ {'a': 1,} }}|{{ (1, 2,) }}"),
    ("unary_and_precedence", "{{ -3 }}|{{ +3 }}|{{ -(-3) }}|{{ -2 ** 2 }}|{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 2 ** 3 ** 2 }}|{{ -3|abs }}|{{ 'a' + 'b'|upper }}|{{ 10 - 2 - 3 }}|{{ 2 * 3 % 4 }}"),
    ("undefined_printing", "[{{ missing }}]|{{ missing is defined }}|{{ missing is undefined }}|{{ missing|default('dflt') }}|{{ missing|length }}|{{ d.missing is defined }}|{{ missing == missing }}|{% for x in missing %}x{% endfor %}|{{ missing|string }}|{{ missing|list }}"),
    # Statements.
    ("if_elif_else", "{% for v in [0, 1, 2, 3] %}{% if v == 0 %}zero{% elif v == 1 %}one{% elif v == 2 %}two{% else %}many{% endif %},{% endfor %}"),
    ("nested_if", "{% if xs %}{% if xs|length > 3 %}long{% else %}short{% endif %}{% endif %}"),
    ("for_else", "{% for x in empty %}{{ x }}{% else %}nothing{% endfor %}|{% for x in xs if x > 10 %}{{ x }}{% else %}none above 10{% endfor %}"),
    ("for_loop_filter", "{% for x in xs if x is odd %}{{ loop.index }}:{{ x }}/{{ loop.length }}{% if not loop.last %},{% endif %}{% endfor %}"),
    ("loop_variables", "{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.cycle('x', 'y') }}{{ loop.depth }}{{ loop.depth0 }};{% endfor %}"),
    ("loop_changed", "{% for u in users|sort(attribute='age') %}{% if loop.changed(u.age) %}[{{ u.age }}]{% endif %}{{ u.name }}{% endfor %}"),
    ("nested_loops", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}-{% endfor %}{{ loop.index }};{% endfor %}"),
    ("for_over_dict_and_string", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}|{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}|{% for c in 'héllo' %}{{ c }}.{% endfor %}|{% for k, v in {'x': 1}|items %}{{ k }}{{ v }}{% endfor %}"),
    ("tuple_unpacking", "{% for a, b in [(1, 2), [3, 4], 'xy'] %}{{ a }}{{ b }},{% endfor %}|{% set p, q = 1, 2 %}{{ p }}{{ q }}|{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}"),
    ("break_continue", "{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("set_scoping", "{% set x = 0 %}{% for i in [1, 2] %}{{ x }}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}|{% if true %}{% set y = 5 %}{% endif %}{{ y }}"),
    ("set_in_loop_not_persisting", "{% for i in [1, 2, 3] %}[{{ z }}]{% set z = i %}{% endfor %}[{{ z }}]"),
    ("namespace", "{% set ns = namespace(total=0, names=[]) %}{% for u in users %}{% set ns.total = ns.total + u.age %}{% endfor %}{{ ns.total }}|{{ ns.names }}|{% set ns2 = namespace() %}{% set ns2.x = 1 %}{{ ns2.x }}|{{ ns }}"),
    ("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c }}"),
    ("block_set", "{% set greeting %}Hello {{ d.name }}!{% endset %}[{{ greeting }}]|{% set loud | upper | replace('L', '1') %}hello{% endset %}{{ loud }}"),
    ("macro_defaults", "{% macro tag(name, value='v', sep=': ') %}<{{ name }}{{ sep }}{{ value }}>{% endmacro %}{{ tag('a') }}{{ tag('b', 2) }}{{ tag('c', sep='=') }}{{ tag(name='d', value=none) }}"),
    ("macro_default_uses_earlier_parameter", "{% macro m(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ m(3) }}|{{ m(3, 1) }}"),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 2, 3) }}|{{ m(1, x=5, y='z') }}"),
    ("macro_missing_argument", "{% macro m(a, b) %}[{{ a }}][{{ b }}]{% endmacro %}{{ m(1) }}"),
    ("macro_call_block", "{% macro box(title) %}[{{ title }}:{{ caller() }}]{% endmacro %}{% call box('t') %}inside {{ d.name }}{% endcall %}|{% macro each(items) %}{% for i in items %}{{ caller(i, loop.index) }}{% endfor %}{% endmacro %}{% call(item, n) each(['a', 'b']) %}{{ n }}={{ item }};{% endcall %}"),
    ("macro_recursion", "{% macro countdown(n) %}{{ n }}{% if n > 0 %},{{ countdown(n - 1) }}{% endif %}{% endmacro %}{{ countdown(5) }}"),
    ("macro_sees_later_globals", "{% macro show() %}{{ value }}{% endmacro %}{% set value = 1 %}{{ show() }}{% set value = 2 %}{{ show() }}"),
    ("macro_output_is_string", "{% macro m() %} x {% endmacro %}[{{ m() }}]{{ m()|length }}{{ m() is string }}"),
    ("filter_block", "{% filter upper %}hello {{ d.name }}{% endfilter %}|{% filter replace('a', 'b') | title %}banana split{% endfilter %}"),
    ("with_block", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]|{% set c = 5 %}{% with c = c + 1 %}{{ c }}{% endwith %}{{ c }}"),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}|{%- raw -%}  {{ x }}  {%- endraw -%}|"),
    ("comments", "a{# a comment #}b{#- stripped -#}   c\n{# line comment #}\nd"),
    ("recursive_loop", "{% for item in [{'n': 'a', 'c': [{'n': 'b', 'c': []}, {'n': 'c', 'c': [{'n': 'd', 'c': []}]}]}] recursive %}{{ loop.depth }}{{ item.n }}({{ loop(item.c) }}){% endfor %}"),
    ("generation_block", "{% for m in ['a', 'b'] %}{% generation %}<{{ m }}>{% endgeneration %}{% endfor %}"),
    ("print_statement", "{% print 'a' ~ 'b' %}|{% print 1 + 1 %}"),
    ("expression_tuple_output", "{{ 1, 'a' }}"),
    # Whitespace control with trim_blocks and lstrip_blocks.
    ("trim_and_lstrip", "<ul>\n  {% for x in [1, 2] %}\n    <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n"),
    ("explicit_strip_signs", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c|  {{- 'd' -}}  |{{ 'e' }}  \n"),
    ("plus_disables_lstrip_and_trim", "x\n    {%+ if true +%}\n  y\n    {% endif %}\nz"),
    ("lstrip_only_at_line_start", "a {% if true %}b{% endif %} c\n\t {% if true %}d{% endif %}"),
    ("variable_tags_are_not_lstripped", "line\n    {{ 'v' }}\n    {% if true %}w{% endif %}\n"),
    ("comment_whitespace", "a\n  {# c #}\nb\n  {#- c -#}  \nc"),
    ("crlf_and_trailing_newline", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\n"),
    ("keep_single_trailing_newline_dropped", "text\n\n"),
    ("block_tag_spanning_lines", "{%\n  if true\n%}\nyes{%\n endif\n%}"),
    ("data_with_braces", "a { b } {x} }} c"),
    # Filters.
    ("filter_trim_upper_lower", "[{{ s|trim }}]|[{{ s|upper }}]|[{{ s|lower }}]|[{{ 'xxhixx'|trim('x') }}]|{{ u|upper }}|{{ u|lower }}"),
    ("filter_title_capitalize", "{{ 'hello wORLD-foo (bar) [baz] <q>'|title }}|{{ 'hELLO World'|capitalize }}|{{ \"they're o'neil\"|title }}|{{ 'ßa'|capitalize }}"),
    ("filter_length_count", "{{ xs|length }}|{{ 'héllo😀'|length }}|{{ {'a': 1}|count }}|{{ ''|length }}|{{ (1, 2)|length }}"),
    ("filter_first_last", "{{ xs|first }}|{{ xs|last }}|{{ 'abc'|first }}|{{ 'abc'|last }}|{{ empty|first }}|{{ {'k': 1, 'j': 2}|first }}"),
    ("filter_join", "{{ xs|join }}|{{ xs|join(', ') }}|{{ users|join(', ', attribute='name') }}|{{ [1, none, 'a']|join('-') }}"),
    ("filter_default", "{{ missing|default('a') }}|{{ missing|d('b') }}|{{ ''|default('c') }}|{{ ''|default('d', true) }}|{{ none|default('e') }}|{{ 0|default('f', boolean=true) }}|{{ missing|default }}"),
    ("filter_replace", "{{ 'aaa'|replace('a', 'b') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'abc'|replace('', '-') }}|{{ 123|replace('2', 'x') }}"),
    ("filter_list_items_dictsort", "{{ 'abc'|list }}|{{ {'b': 1, 'a': 2}|list }}|{{ {'b': 1, 'a': 2}|items|list }}|{{ {'b': 1, 'A': 3, 'a': 2}|dictsort }}|{{ {'b': 1, 'a': 2}|dictsort(by='value', reverse=true) }}|{{ {'b': 1, 'A': 3, 'a': 2}|dictsort(true) }}"),
    ("filter_tojson_basic", "{{ {'b': [1, 2.5, none, true], 'a': 'x\"y<z>&\\'é\\n'}|tojson }}|{{ 'plain'|tojson }}|{{ [] | tojson }}|{{ {} | tojson }}|{{ (1, 2)|tojson }}"),
    ("filter_tojson_indent", "{{ {'a': [1, {'b': 2}], 'c': {}, 'd': []}|tojson(indent=2) }}|{{ [1, [2]]|tojson(indent=0) }}"),
    ("filter_tojson_options", "{{ {'b': 1, 'a': 'é'}|tojson(sort_keys=true) }}|{{ {'a': 'é😀'}|tojson(ensure_ascii=true) }}|{{ {'a': 1, 'b': 2}|tojson(separators=(',', ':')) }}|{{ {'a': 1}|tojson(indent='\\t') }}"),
    ("filter_tojson_floats_keys", "{{ [1.0, 0.1, 1e20, 1e-7, -0.0]|tojson }}|{{ {1: 'a', none: 'b', true: 'c', 2.5: 'd'}|tojson }}"),
    ("filter_string_int_float", "{{ 12|string }}|{{ [1]|string }}|{{ '42'|int }}|{{ '42.7'|int }}|{{ 'x'|int }}|{{ 'x'|int(5) }}|{{ '0x1A'|int(0, 16) }}|{{ '0x1A'|int(base=16) }}|{{ 3.9|int }}|{{ '3.5'|float }}|{{ 'x'|float }}|{{ 2|float }}|{{ ' 1_000 '|int }}|{{ '1e3'|float }}|{{ true|int }}|{{ none|int }}|{{ '-7'|int }}"),
    ("filter_abs_round", "{{ -5|abs }}|{{ (-2.5)|abs }}|{{ 2.675|round(2) }}|{{ 2.5|round }}|{{ 3.5|round }}|{{ 42|round }}|{{ 42.55|round(1, 'floor') }}|{{ 42.51|round(1, 'ceil') }}|{{ -1.5|round }}|{{ 1234.5|round(-2) }}|{{ 1250|round(-2) }}"),
    ("filter_map", "{{ users|map(attribute='name')|join(',') }}|{{ ['a', 'B']|map('upper')|list }}|{{ users|map(attribute='zip', default='?')|list }}|{{ ['1', '2']|map('int')|sum }}|{{ [' a ', 'b ']|map('trim')|list }}|{{ [[1, 2], [3]]|map('length')|list }}"),
    ("filter_select_reject", "{{ xs|select('odd')|list }}|{{ xs|reject('odd')|list }}|{{ xs|select('divisibleby', 2)|list }}|{{ [0, 1, '', 'a', none]|select|list }}|{{ xs|select('gt', 3)|list }}|{{ xs|reject('in', [1, 2])|list }}"),
    ("filter_selectattr_rejectattr", "{{ users|selectattr('active')|map(attribute='name')|list }}|{{ users|rejectattr('active')|map(attribute='name')|list }}|{{ users|selectattr('age', 'equalto', 31)|map(attribute='name')|join }}|{{ users|selectattr('city', 'eq', 'NY')|list|length }}|{{ users|rejectattr('name', 'none')|list|length }}"),
    ("filter_unique", "{{ ['a', 'A', 'b', 'a']|unique|list }}|{{ ['a', 'A', 'b']|unique(case_sensitive=true)|list }}|{{ users|unique(attribute='age')|map(attribute='name')|list }}|{{ [1, 1.0, true, 2]|unique|list }}"),
    ("filter_sort", "{{ words|sort }}|{{ words|sort(case_sensitive=true) }}|{{ words|sort(reverse=true) }}|{{ users|sort(attribute='age')|map(attribute='name')|join }}|{{ users|sort(attribute='age,name')|map(attribute='name')|join }}|{{ [3, 1.5, 2]|sort }}|{{ [[2, 1], [1, 2]]|sort }}"),
    ("filter_reverse", "{{ xs|reverse|list }}|{{ 'héllo'|reverse }}|{{ (1, 2)|reverse|list }}|{{ {'a': 1, 'b': 2}|reverse|list }}"),
    ("filter_batch_slice", "{{ xs|batch(2)|list }}|{{ xs|batch(2, 0)|list }}|{{ xs|slice(2)|list }}|{{ xs|slice(3, 'x')|list }}|{{ empty|batch(3)|list }}"),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc'|indent }}]|[{{ 'a\\nb'|indent(2, true) }}]|[{{ 'a\\n\\nb'|indent(2, blank=true) }}]|[{{ 'a\\nb'|indent('> ') }}]|[{{ ''|indent(first=true) }}]|[{{ 'x\\n'|indent }}]"),
    ("filter_safe_escape", "{{ '<a href=\"x\">&\\'</a>'|e }}|{{ '<b>'|escape }}|{{ '<i>'|safe }}|{{ 5|e }}|{{ '<x>'|forceescape }}"),
    ("filter_wordcount_center", "{{ 'Hello, big world! x_y 3'|wordcount }}|[{{ 'ab'|center(7) }}]|[{{ 'abc'|center(6) }}]|[{{ 'long text'|center(3) }}]|{{ 'héllo wörld'|wordcount }}"),
    ("filter_format", "{{ '%s-%s'|format('a', 1) }}|{{ '%(x)s=%(y)d'|format(x='k', y=3) }}|{{ '%.2f'|format(3.14159) }}|{{ '%5s|%-5s|'|format('r', 'l') }}|{{ '%05d|%+d|%x|%X|%o|%e|%g'|format(42, 7, 255, 255, 8, 12345.678, 0.00001234) }}|{{ '%c%%'|format(65) }}|{{ '%r'|format('q') }}"),
    ("filter_min_max_sum", "{{ xs|min }}|{{ xs|max }}|{{ words|min }}|{{ words|max }}|{{ words|max(case_sensitive=true) }}|{{ users|min(attribute='age')|attr('name') if false else (users|min(attribute='age')).name }}|{{ xs|sum }}|{{ xs|sum(start=10) }}|{{ users|sum(attribute='age') }}|{{ [0.1, 0.2]|sum }}|{{ empty|max }}"),
    ("filter_truncate", "{{ 'foo bar baz qux'|truncate(9) }}|{{ 'foo bar baz qux'|truncate(9, true) }}|{{ 'foo bar baz qux'|truncate(11) }}|{{ 'foo bar baz qux'|truncate(11, false, '...', 0) }}|{{ 'short'|truncate(10) }}"),
    ("filter_groupby", "{% for g in users|groupby('city') %}{{ g.grouper }}:{{ g.list|map(attribute='name')|join(',') }};{% endfor %}|{% for city, items in users|groupby('city', case_sensitive=true) %}{{ city }}={{ items|length }};{% endfor %}"),
    ("filter_attr_filesizeformat", "{{ d|attr('name') }}|{{ 1000|filesizeformat }}|{{ 1|filesizeformat }}|{{ 1536|filesizeformat(true) }}|{{ 123456789|filesizeformat }}"),
    ("filter_chain_precedence", "{{ 'a,b,c'.split(',')|reverse|join('-')|upper }}|{{ xs|select('odd')|map('string')|join('+') }}|{{ users|map(attribute='name')|map('lower')|sort|first }}"),
    ("generators_are_truthy_and_single_use", "{% set g = xs|select('gt', 100) %}{{ 'truthy' if g else 'falsy' }}|{% set h = xs|select('odd') %}{{ h|list }}{{ h|list }}|{{ (xs|map('string')) is iterable }}"),
    # Tests.
    ("tests_types", "{{ 1 is number }}{{ 1.5 is number }}{{ true is number }}{{ 'a' is number }}|{{ 1 is integer }}{{ 1.0 is integer }}{{ true is integer }}|{{ 1.0 is float }}{{ 1 is float }}|{{ 'a' is string }}{{ 1 is string }}|{{ {} is mapping }}{{ [] is mapping }}|{{ [] is sequence }}{{ 'a' is sequence }}{{ {} is sequence }}{{ 1 is sequence }}|{{ [] is iterable }}{{ 1 is iterable }}{{ 'a' is iterable }}|{{ true is boolean }}{{ 1 is boolean }}|{{ none is none }}{{ 0 is none }}"),
    ("tests_values", "{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 0 is false }}|{{ 3 is odd }}{{ 3 is even }}{{ 4 is even }}|{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}|{{ 'abc' is lower }}{{ 'aBc' is lower }}{{ 'ABC' is upper }}{{ '1' is upper }}"),
    ("tests_comparison", "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 1 is ne 2 }}{{ 1 is ne 1 }}|{{ 2 is lt 3 }}{{ 2 is gt 3 }}{{ 2 is le 2 }}{{ 2 is ge 3 }}{{ 2 is lessthan 3 }}{{ 2 is greaterthan 1 }}|{{ 1 is in [1, 2] }}{{ 'x' is in 'abc' }}"),
    ("tests_defined_callable_sameas", "{{ xs is defined }}{{ nope is defined }}{{ nope is undefined }}|{{ range is callable }}{{ xs is callable }}|{{ none is sameas none }}{{ true is sameas true }}{{ 1 is sameas 1 }}{{ xs is sameas xs }}{{ [] is sameas [] }}|{{ 'upper' is filter }}{{ 'nope' is filter }}{{ 'odd' is test }}{{ 'nope' is test }}"),
    ("tests_negated_and_combined", "{{ xs is not string }}|{{ nothing is not none }}|{{ 3 is not odd }}|{{ not xs is defined }}|{{ xs is defined and xs|length > 2 }}|{{ 1 if xs is iterable else 0 }}"),
    # String methods.
    ("string_strip", "[{{ s.strip() }}]|[{{ s.lstrip() }}]|[{{ s.rstrip() }}]|[{{ 'xxhixx'.strip('x') }}]|[{{ '\\n\\nhi\\n'.lstrip('\\n') }}]|[{{ 'abcba'.rstrip('ab') }}]|[{{ '\\u3000 wide \\u00a0'.strip() }}]"),
    ("string_split", "{{ 'a,b,,c'.split(',') }}|{{ '  a  b c '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a b c'.split(none, 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ ''.split() }}|{{ ''.split(',') }}|{{ 'x</think>y</think>z'.split('</think>')[-1] }}"),
    ("string_splitlines", "{{ 'a\\nb\\r\\nc\\rd'.splitlines() }}|{{ 'a\\nb\\n'.splitlines(true) }}|{{ ''.splitlines() }}"),
    ("string_startswith_endswith", "{{ 'hello'.startswith('he') }}{{ 'hello'.startswith(('x', 'h')) }}{{ 'hello'.endswith('lo') }}{{ 'hello'.endswith(('a', 'b')) }}{{ 'hello'.startswith('l', 2) }}{{ 'hello'.endswith('l', 0, 4) }}"),
    ("string_case_methods", "{{ 'hello world'.upper() }}|{{ 'HeLLo'.lower() }}|{{ 'hello wOrld'.title() }}|{{ \"it's a b2b\".title() }}|{{ 'hELLO'.capitalize() }}|{{ 'HeLLo'.swapcase() }}|{{ 'ß'.upper() }}|{{ 'ΣΊΣΥΦΟΣ'.lower() }}"),
    ("string_replace_find", "{{ 'aaa'.replace('a', 'b') }}|{{ 'aaa'.replace('a', 'b', 1) }}|{{ 'héllo'.find('l') }}|{{ 'hello'.find('z') }}|{{ 'hello'.rfind('l') }}|{{ 'hello'.index('e') }}|{{ 'hello'.count('l') }}|{{ 'aaaa'.count('aa') }}|{{ 'hello'.find('l', 3) }}|{{ ''.count('') }}"),
    ("string_format_method", "{{ '{} and {}'.format('a', 1) }}|{{ '{1}{0}{1}'.format('a', 'b') }}|{{ '{name}={value:.2f}'.format(name='pi', value=3.14159) }}|{{ '{:>6}|{:<6}|{:^6}|{:*^7}'.format('r', 'l', 'c', 'x') }}|{{ '{:05d}|{:+d}|{:,}|{:x}|{:#b}|{:.1%}|{:e}'.format(42, 5, 1234567, 255, 5, 0.256, 1234.5) }}|{{ '{0[0]}-{0[1]}'.format(['p', 'q']) }}|{{ '{{literal}} {}'.format(1) }}|{{ '{!r}'.format('x') }}|{{ '{:.3}|{}|{:g}'.format(1234.5, 2.0, 0.0001) }}"),
    ("string_join_and_predicates", "{{ ', '.join(['a', 'b']) }}|{{ ''.join('abc'|list) }}|{{ '123'.isdigit() }}{{ '12a'.isdigit() }}{{ 'abc'.isalpha() }}{{ 'ab1'.isalnum() }}{{ ' \\t'.isspace() }}{{ ''.isspace() }}{{ 'ABC'.isupper() }}{{ 'abc'.islower() }}{{ 'Ab Cd'.istitle() }}{{ '½'.isnumeric() }}"),
    ("string_misc_methods", "{{ 'ab'.center(6, '*') }}|{{ 'ab'.ljust(4, '.') }}|{{ 'ab'.rjust(4) }}|{{ '42'.zfill(5) }}|{{ '-42'.zfill(5) }}|{{ 'a=b=c'.partition('=') }}|{{ 'a=b=c'.rpartition('=') }}|{{ 'prefix-x'.removeprefix('prefix-') }}|{{ 'x.txt'.removesuffix('.txt') }}"),
    ("string_percent_operator", "{{ '%s and %s' % ('a', 'b') }}|{{ '%d%%' % 50 }}|{{ '%.3f' % 2 }}|{{ '%s' % [1, 2] }}|{{ '%(a)s' % {'a': 1} }}|{{ '%5.1f|%-6d|%06.2f' % (3.14159, 42, -1.5) }}|{{ '%s' % missing }}|{{ '%i' % 3.9 }}"),
    # Dict and list methods.
    ("dict_methods", "{{ d.keys()|list }}|{{ {'a': 1}.values()|list }}|{{ {'a': 1}.items()|list }}|{{ d.get('name') }}|{{ d.get('zzz') }}|{{ d.get('zzz', 'fallback') }}|{{ {'a': 1}.keys() }}|{{ {'a': 1}.items() }}|{{ 'a' in {'a': 1}.keys() }}|{{ {'a': 1}.copy() }}"),
    ("dict_key_vs_method", "{{ {'items': 'key'}['items'] }}|{{ {'items': 'key'}.items()|list }}|{{ {'x': 1}['x'] }}|{{ {'get': 2}.get('get') }}"),
    ("list_read_methods", "{{ xs.index(3) }}|{{ [1, 2, 2, 3].count(2) }}|{{ (1, 2, 2).count(2) }}|{{ ('a', 'b').index('b') }}"),
    ("list_mutation", "{% set a = [1] %}{% set _ = a.append(2) %}{{ a }}|{% set b = a %}{% set _ = b.append(3) %}{{ a }}|{{ a.pop() }}{{ a }}|{{ a.pop(0) }}{{ a }}|{% set _ = a.extend([7, 8]) %}{% set _ = a.insert(0, 0) %}{{ a }}|{% set _ = a.remove(7) %}{{ a }}|{% set _ = a.reverse() %}{{ a }}", "mutable"),
    ("list_mutation_in_loop", "{% set seen = [] %}{% for m in users %}{% if m.city|lower not in seen %}{% set _ = seen.append(m.city|lower) %}{% endif %}{% endfor %}{{ seen }}|{% set ns = namespace(items=[]) %}{% for x in xs %}{% set ns.items = ns.items + [x * 2] %}{% endfor %}{{ ns.items }}", "mutable"),
    # Globals.
    ("range_global", "{{ range(3)|list }}|{{ range(1, 10, 3)|list }}|{{ range(5, 0, -2)|list }}|{% for i in range(2) %}{{ i }}{% endfor %}|{{ range(0)|list }}"),
    ("dict_global", "{{ dict(a=1, b=2) }}|{{ dict([('x', 1)]) }}|{{ dict({'k': 'v'}, z=0) }}"),
    ("joiner_cycler", "{% set comma = joiner(', ') %}{% for x in xs %}{{ comma() }}{{ x }}{% endfor %}|{% set c = cycler('odd', 'even') %}{% for x in [1, 2, 3] %}{{ c.next() }} {% endfor %}{{ c.current }}"),
    ("strftime_now", "{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %B %j %a %p %I %y') }}"),
    ("error_raise_exception", "{% if true %}{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}"),
    # Undefined and errors.
    ("error_attribute_of_undefined", "{{ missing.attr }}"),
    ("error_item_of_undefined", "{{ missing['k'] }}"),
    ("error_attribute_of_missing_element", "{{ empty[0].role }}"),
    ("error_call_undefined", "{{ nothing_here() }}"),
    ("error_undefined_arithmetic", "{{ missing + 1 }}"),
    ("error_int_plus_str", "{{ 1 + 'a' }}"),
    ("error_str_plus_int", "{{ 'a' + 1 }}"),
    ("error_division_by_zero", "{{ 1 / 0 }}"),
    ("error_modulo_by_zero", "{{ 5 % 0 }}"),
    ("error_unorderable", "{{ 1 < 'a' }}"),
    ("error_unknown_filter", "{{ 'x'|no_such_filter }}"),
    ("error_unknown_test", "{{ 'x' is no_such_test }}"),
    ("error_unknown_tag", "{% frobnicate %}"),
    ("error_unclosed_block", "{% if true %}never closed"),
    ("error_unclosed_variable", "{{ 1 + "),
    ("error_unbalanced", "{{ (1 + 2 }}"),
    ("error_stray_endfor", "{% endfor %}"),
    ("error_macro_too_many_arguments", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}"),
    ("error_macro_unknown_keyword", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=1) }}"),
    ("error_set_attribute_on_non_namespace", "{% set d.x = 1 %}"),
    ("error_namespace_underscore", "{% set ns = namespace(_x=1) %}"),
    ("error_range_too_big", "{{ range(1000000)|length }}"),
    ("error_unpack_count", "{% for a, b in [(1, 2, 3)] %}{% endfor %}"),
    ("error_tojson_undefined", "{{ missing|tojson }}"),
    ("error_length_of_int", "{{ 5|length }}"),
    ("error_pop_empty", "{% set a = [] %}{{ a.pop() }}", "mutable"),
    ("error_not_iterable", "{% for x in 5 %}{% endfor %}"),
    ("error_unknown_string_method", "{{ 'x'.nosuchmethod() }}"),
    ("error_string_index_out_of_range_then_attribute", "{{ 'ab'[5].upper() }}"),
    ("error_invalid_escape", "{{ '\\x4' }}"),
    ("error_break_outside_loop", "{% break %}"),
    # Corners of the same constructs.
    ("more_whitespace_start_of_template", "  {% if true %}x{% endif %}\n  {#- c #}y\n{%- if true %}\n  z\n{% endif %}\n\n"),
    ("more_whitespace_trailing_spaces_after_tag", "{% if true %}   \nA\n{% endif %}\t\nB"),
    ("more_whitespace_nested_indented_blocks", "<x>\n    {% for i in [1, 2] %}\n        {% if i == 2 %}\n            two\n        {% else %}\n            {{ i }}\n        {% endif %}\n    {% endfor %}\n</x>"),
    ("more_whitespace_variable_strip_after_newline", "a\n\n   {{- 'b' }}\n   {{ 'c' -}}   \n\n  d"),
    ("more_whitespace_raw_and_comments_lstrip", "x\n    {% raw %}  raw  {% endraw %}\n    {# note #}\n  y"),
    ("more_tags_without_spaces", "{%if xs%}{{xs|length>2}}{%endif%}|{{1+2}}|{{x1}}|{%-for x in xs-%}{{x}}{%-endfor-%}|"),
    ("more_numbers", "{{ 10**15 * 10 }}|{{ 3 * 1.1 }}|{{ 1e100 }}|{{ 1/7 }}|{{ 100.0 }}|{{ 1.5e300 }}|{{ 2**62 }}|{{ 2 * -1 }}|{{ 2 - -1 }}|{{ 2--1 }}|{{ 10 // 3 * 3 }}|{{ 2 ** -2 }}|{{ 7 // 2.0 }}|{{ -7 % 2.5 }}|{{ (2**53 + 1) / 1 }}|{{ -0.0 + 0 }}|{{ 'a' * true }}|{{ 1.0 ~ '' }}"),
    ("more_rounding_and_formatting", "{{ 0.125|round(2) }}|{{ 0.375|round(2) }}|{{ 2.5|round(0) }}|{{ 1.005|round(2) }}|{{ '%.1f'|format(0.05) }}|{{ '%.0f'|format(0.5) }}|{{ '%.2e'|format(12345) }}|{{ '{:.2f}'.format(2.675) }}|{{ '{:g}'.format(1e20) }}|{{ '{:.10g}'.format(1/3) }}|{{ '{:,.2f}'.format(1234567.891) }}|{{ '{:{w}}|'.format('a', w=4) }}"),
    ("more_undefined_through_filters", "[{{ missing|upper }}][{{ missing|trim }}][{{ missing|join(',') }}][{{ missing|first }}][{{ missing|list }}][{{ missing|items|list }}][{{ missing|e }}][{{ missing|string }}][{{ missing|capitalize }}][{{ missing|wordcount }}][{{ missing|replace('a', 'b') }}]"),
    ("more_none_values", "{{ none|string }}|{{ none|upper }}|{{ none|default('x') }}|{{ none ~ 'x' }}|{{ [none]|join(',') }}|{{ none|tojson }}|{{ none is none }}|{{ nothing is defined }}|{{ nothing|default('d', true) }}"),
    ("more_undefined_comparisons", "{{ missing == none }}|{{ missing != none }}|{{ missing in [1] }}|{{ 1 in missing }}|{{ missing is none }}|{{ missing|d(0) + 1 }}"),
    ("more_literals", "{{ {'a': 1, 'a': 2} }}|{{ {'a': 1}['a'] }}|{{ ('a', 'b')[0] }}|{{ [1, 2][-1] }}|{{ ([1, 2] + [3])[1:] }}|{% set t = (1,) %}{{ t + (2,) }}|{% set x = [1, 2] %}{% set y = x %}{% set x = x + [3] %}{{ y }}{{ x }}"),
    ("more_string_formatting_ops", "{{ '%s' % (1,) }}|{{ '%s|%s' % ('a', none) }}|{{ '%-4s|' % 'ab' }}|{{ '%4.1s|' % 'abc' }}|{{ '%%' % () }}|{{ '%x' % 255 }}|{{ '%#o' % 8 }}|{{ '%+.1e' % 12345.6789 }}|{{ '%g' % 1e-5 }}|{{ '%G' % 1e20 }}"),
    ("more_filters_on_lists", "{{ [1, 2.5, 3]|sum }}|{{ ['a', none, 'b']|map('default', 'x')|list }}|{{ [1, 'a', 2]|select('string')|list }}|{{ users|selectattr('name', 'in', ['Ann', 'Cid'])|map(attribute='age')|list }}|{{ xs|batch(3, 'x')|list }}|{{ {'b': {'y': 1}, 'a': {'x': 2}}|dictsort }}|{{ users|map(attribute='name')|map('upper')|join }}|{{ (xs|select('odd'))|first }}"),
    ("more_tojson_nested", "{{ {'t': (1, 'a'), 'e': [], 'o': {}, 'c': '\\u0001\\u001f\\u007f', 'q': '\"\\\\'}|tojson }}|{{ {'a': {'b': [], 'c': {}}}|tojson(indent=2) }}|{{ [{'name': 'get_weather', 'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}}}}]|tojson(indent=4) }}"),
    ("more_macros", "{% macro m(a, b=2) %}{{ a }}{{ b }}{{ kwargs }}{% endmacro %}{{ m(b=5, a=1, z=3) }}|{% macro outer() %}{% for i in [1, 2] %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(n) outer() %}<{{ n }}>{% endcall %}|{% macro v() %}{{ varargs|length }}{% endmacro %}{{ v(1, 2, 3) }}|{{ m }}"),
    ("more_macro_in_loop_and_namespace", "{% macro item(x) %}[{{ x }}]{% endmacro %}{% set ns = namespace(out='') %}{% for u in users %}{% set ns.out = ns.out ~ item(u.name) %}{% endfor %}{{ ns.out }}"),
    ("more_loops", "{% for x in xs if x > 1 %}{{ loop.cycle('a', 'b') }}{{ loop.last }}{% endfor %}|{% for x in [1] %}[{{ loop.previtem }}][{{ loop.nextitem }}]{% endfor %}|{% for c in 'añb' %}{{ loop.index }}{{ c }}{% endfor %}|{% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{{ loop.length }}{% endfor %}|{% for x in (1, 2) %}{{ x }}{% endfor %}"),
    ("more_loop_scoping", "{% set total = 0 %}{% for x in xs %}{% set total = total + x %}{% endfor %}{{ total }}|{% for x in xs %}{% set last_x = x %}{% endfor %}[{{ last_x }}]|{% for x in [1] %}{% for y in [2] %}{{ x }}{{ y }}{% endfor %}{% endfor %}"),
    ("more_truthiness", "{% for v in [[], {}, '', 0, 0.0, none, [0], {'a': 0}, ' ', 0.1, -1] %}{{ 'T' if v else 'F' }}{% endfor %}"),
    ("more_precedence", "{{ not true == false }}|{{ -1|abs }}|{{ (-1)|abs }}|{{ 'a' if 'b' in 'abc' else 'c' }}|{{ 1 + 2 if false else 3 }}|{{ [1, 2]|length * 2 }}|{{ 2 * [1, 2]|length }}|{{ 'x' ~ 1 if true }}"),
    ("more_getattr_getitem", "{{ nested.list.0.k.1.deep }}|{{ d['a'].b.2 }}|{{ users[0]['name'] }}|{{ users.1.name }}|{{ d.a['b'][0:2] }}|{{ 'abc'.upper is callable }}|{{ d.items is callable }}"),
    ("more_string_methods_unicode", "{{ 'ÀÉÎõü'.lower() }}|{{ 'àéîõü'.upper() }}|{{ 'straße'.upper() }}|{{ 'ǆemal'.title() }}|{{ 'привет мир'.title() }}|{{ 'ÅNGSTRÖM'.capitalize() }}|{{ '  ü  '.strip() }}|{{ 'aé😀b'.find('b') }}|{{ 'aé😀b'|length }}|{{ 'aé😀b'[2] }}"),
    ("more_tests_on_views_and_namespaces", "{{ {'a': 1}.keys() is sequence }}|{{ {'a': 1}.keys() is iterable }}|{{ namespace() is mapping }}|{{ (1, 2) is sequence }}|{{ range(2) is sequence }}|{{ 'a'.upper is callable }}|{{ joiner is callable }}"),
    ("more_slices_and_steps", "{{ xs[1:-1:2] }}|{{ xs[-1:0:-1] }}|{{ xs[5:0:-2] }}|{{ 'abcdef'[::3] }}|{{ 'abcdef'[-2::-2] }}|{{ xs[:] }}|{{ xs[none:none] }}"),
    ("more_generation_prompt_style", "{%- for message in users -%}\n{{- '<|im_start|>' + message.name + '\\n' -}}\n{%- if not loop.last %}\n{{- '<|im_end|>\\n' }}\n{%- endif %}\n{%- endfor %}\n{{- '<|im_start|>assistant\\n' }}"),
    ("more_unknown_filter_in_untaken_branch", "{% if false %}{{ x|nosuch }}{{ x is nosuch }}{% elif false %}{{ x|nosuch2 }}{% endif %}ok|{{ x|nosuch if false else 1 }}|{{ 2 if true else x|nosuch }}"),
    ("error_unknown_filter_in_taken_branch", "{% if true %}{{ 'x'|nosuch }}{% endif %}"),
    ("error_unknown_filter_in_loop_in_branch", "{% if false %}{% for x in [] %}{{ x|nosuch }}{% endfor %}{% endif %}"),
    ("error_unknown_test_in_macro_in_branch", "{% if false %}{% macro m() %}{{ 1 is nosuch }}{% endmacro %}{% endif %}"),
    ("error_unique_unhashable", "{{ users|unique|list }}"),
    ("error_sort_mixed_types", "{{ [1, 'a']|sort }}"),
    ("error_set_attribute_on_dict", "{% set d.x = 1 %}"),
    ("error_in_none", "{{ 'a' in none }}"),
    ("error_undefined_comparison", "{{ missing < 1 }}"),
    ("error_percent_missing_argument", "{{ '%s %s' % ('a',) }}"),
    ("error_percent_extra_argument", "{{ '%s' % ('a', 'b') }}"),
    ("error_format_missing_index", "{{ '{1}'.format('a') }}"),
    ("error_int_of_undefined", "{{ missing|int }}"),
    ("more_reverse_undefined", "{{ missing|reverse|list }}"),
    ("error_macro_caller_not_used", "{% macro m() %}x{% endmacro %}{% call m() %}y{% endcall %}"),
    ("error_loop_not_recursive", "{% for x in [1] %}{{ loop([1]) }}{% endfor %}"),
    ("error_concat_list_tuple", "{{ [1] + (2,) }}"),
    ("error_negative_power_of_zero", "{{ 0 ** -1 }}"),
    ("error_unknown_method_on_list", "{{ xs.nosuch() }}"),
    ("error_filter_wrong_argument", "{{ xs|join(1, 2, 3) }}"),
]


def make_constructs():
    cases = []
    for entry in CONSTRUCTS:
        name, source = entry[0], entry[1]
        environment = entry[2] if len(entry) > 2 else "transformers"
        make = mutable_template if environment == "mutable" else transformers_template
        case = {"name": name, "template": source, "environment": environment}
        case.update(render(make, source, DATA))
        cases.append(case)
    return {
        "generator": "tests/refgen/make_template_cases.py",
        "jinja2": jinja2.__version__,
        "transformers": transformers.__version__,
        "now": FIXED_NOW.isoformat(),
        "context": DATA,
        "cases": cases,
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for file_name, data in (("cases.json", make_cases()), ("constructs.json", make_constructs())):
        text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
        (OUT / file_name).write_text(text, encoding="utf-8")
        cases = data["cases"]
        errors = sum(1 for c in cases if "error" in c)
        print(f"{file_name}: {len(cases)} cases, {errors} expected errors", file=sys.stderr)


if __name__ == "__main__":
    main()
