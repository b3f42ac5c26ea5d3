// The Jinja interpreter: every construct in tests/fixtures/templates/constructs.json renders byte
// for byte as jinja2 (with transformers' settings) rendered it, or fails where jinja2 failed;
// unknown constructs are errors naming themselves and their line; and no input, however
// hostile, crashes it, recurses without bound or runs forever.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "formats/error.h"
#include "runtime/jinja/template.h"
#include "tests/jinja_fixtures.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

using jinja::RenderOptions;
using jinja::Template;
using jinja::Value;

std::string render(const std::string& source, const RenderOptions& options = {}) {
    return Template::parse(source, "t").render(jinja::Dict(), options);
}

// The message of the tessera::Error that parsing or rendering `source` throws.
std::string error_of(const std::string& source, const RenderOptions& options = {}) {
    try {
        render(source, options);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(JinjaConstructs, RenderLikeJinja2) {
    const test::OrderedJson fixture = test::read_template_fixture("constructs.json");
    const Value context = test::value_from_json(fixture["context"]);
    RenderOptions options;
    options.now = test::parse_iso_time(fixture["now"].get<std::string>());
    size_t matched = 0;
    for (const auto& c : fixture["cases"]) {
        const std::string name = c["name"].get<std::string>();
        SCOPED_TRACE(name + ": " + c["template"].get<std::string>());
        std::string output;
        std::string error;
        try {
            output = Template::parse(c["template"].get<std::string>(), name)
                         .render(context.dict(), options);
        } catch (const Error& e) {
            error = e.what();
        }
        if (c.contains("expected")) {
            EXPECT_EQ(error, "");
            EXPECT_EQ(output, c["expected"].get<std::string>());
            matched += error.empty() && output == c["expected"].get<std::string>() ? 1 : 0;
            continue;
        }
        // jinja2 failed: so must we, naming the template and a line.
        EXPECT_EQ(error.rfind(name + ":", 0), 0u)
            << "jinja2: " << c["error"] << "; got output " << output;
        if (c["error_type"] == "TemplateError") {
            // raise_exception(): the template's own message, after "NAME:LINE: ".
            const std::string message = c["error"].get<std::string>();
            EXPECT_TRUE(error.size() >= message.size() &&
                        error.compare(error.size() - message.size(), message.size(), message) == 0)
                << error;
        }
        matched += error.rfind(name + ":", 0) == 0 ? 1 : 0;
    }
    EXPECT_EQ(matched, fixture["cases"].size());
    std::printf("[ constructs ] %zu of %zu match jinja2 %s\n", matched, fixture["cases"].size(),
                fixture["jinja2"].get<std::string>().c_str());
}

TEST(JinjaErrors, UnknownConstructsNameThemselvesAndTheirLine) {
    EXPECT_EQ(error_of("line one\n{{ 'x' | shout }}"), "t:2: unknown filter 'shout'");
    EXPECT_EQ(error_of("\n\n{% if 1 is prime %}{% endif %}"), "t:3: unknown test 'prime'");
    EXPECT_EQ(error_of("ok\n{% frobnicate x %}"), "t:2: unknown statement 'frobnicate'");
    EXPECT_EQ(error_of("{% if true %}\n\n{{ 'x'.encode() }}{% endif %}"),
              "t:3: unknown method 'str.encode'");
    EXPECT_EQ(error_of("{{ [1].sort(key=none) }}"),
              "t:1: list.sort() got an unexpected keyword argument 'key'");
    EXPECT_EQ(error_of("{% include 'other.jinja' %}"),
              "t:1: unsupported statement 'include' (a chat template is a single template)");
    EXPECT_EQ(error_of("{% endif %}"), "t:1: unexpected 'endif'");
}

TEST(JinjaErrors, UnknownFiltersInConditionalBranchesFailWhenEvaluated) {
    // As in jinja2: the template parses, and fails only if the branch runs.
    EXPECT_EQ(render("{% if false %}{{ 1 | shout }}{% endif %}ok{{ 1 if true else 2 is prime }}"),
              "ok1");
    EXPECT_EQ(error_of("{% if true %}\n{{ 1 | shout }}{% endif %}"), "t:2: unknown filter 'shout'");
    EXPECT_EQ(error_of("{{ 1 if 2 is prime }}"), "t:1: unknown test 'prime'");
    // A loop or macro body is not conditional, even inside an if.
    EXPECT_EQ(error_of("{% if false %}{% for x in [] %}\n{{ x | shout }}{% endfor %}{% endif %}"),
              "t:2: unknown filter 'shout'");
}

TEST(JinjaErrors, SyntaxErrorsGiveTheLine) {
    EXPECT_EQ(error_of("a\nb\n{{ (1 + 2 }}"), "t:3: unexpected '}', expected ')'");
    EXPECT_EQ(
        error_of("{% for x in xs %}\n{{ x }}"),
        "t:2: unexpected end of template, expected 'endfor' or 'else' to close 'for' from line 1");
    EXPECT_EQ(error_of("{# never closed"), "t:1: missing end of comment tag");
    EXPECT_EQ(error_of("x\n{{ 'abc\\x4' }}"), "t:2: truncated \\xXX escape");
    EXPECT_EQ(error_of("{% continue %}"), "t:1: 'continue' outside of a loop");
    EXPECT_EQ(error_of("{{ 99999999999999999999 }}"), "t:1: integer literal too large");
}

TEST(JinjaErrors, RuntimeErrorsGiveTheLineOfTheInnermostExpression) {
    EXPECT_EQ(
        error_of("{% macro m() %}\n{{ raise_exception('bad input') }}\n{% endmacro %}\n{{ m() }}"),
        "t:2: bad input");
    EXPECT_EQ(error_of("a\n{{ missing.attribute }}"), "t:2: 'missing' is undefined");
    EXPECT_EQ(error_of("{% set xs = [] %}\n{{ xs[0].role }}"), "t:2: list object has no element 0");
    EXPECT_EQ(error_of("{{ 1 // 0 }}"), "t:1: integer division by zero");
    EXPECT_EQ(error_of("{{ 2 ** 64 }}"),
              "t:1: integer result does not fit in 64 bits (Python integers are unbounded)");
}

TEST(JinjaLimits, MacroRecursionIsBounded) {
    const std::string message = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
    EXPECT_NE(message.find("maximum recursion depth exceeded"), std::string::npos) << message;
    const std::string loop = error_of("{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}");
    EXPECT_NE(loop.find("maximum recursion depth exceeded"), std::string::npos) << loop;
}

TEST(JinjaLimits, EndlessWorkIsBounded) {
    RenderOptions options;
    options.limits.max_steps = 100000;
    const std::string message =
        error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                 options);
    EXPECT_NE(message.find("steps of work"), std::string::npos) << message;
}

TEST(JinjaLimits, OutputAndStringsAreBounded) {
    RenderOptions options;
    options.limits.max_text_bytes = 1 << 20;
    EXPECT_NE(error_of("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", options)
                  .find("longer than"),
              std::string::npos);
    EXPECT_NE(error_of("{% set ns = namespace(s='xy') %}{% for i in range(64) %}{% set ns.s = ns.s "
                       "~ ns.s %}{% endfor %}")
                  .find("longer than"),
              std::string::npos);
    EXPECT_NE(error_of("{{ 'x' * 10000000000000 }}").find("longer than"), std::string::npos);
    EXPECT_NE(error_of("{{ [0] * 10000000000 }}").find("would hold more than"), std::string::npos);
    // Repeating nothing many times is quick, and nothing.
    EXPECT_EQ(render("{{ '' * 10**15 }}{{ () * 10**15 }}{{ [] * 10**15 }}"), "()[]");
    EXPECT_NE(error_of("{{ '{:>99999999}'.format('x') }}").find("longer than"), std::string::npos);
}

// Renders `source` with the default limits, which it must reach: the error names `limit`, and
// comes in well under a second in a release build (the budget is about a second of work, and
// these reach a limit in a fraction of it), a few seconds with the sanitizers.
void expect_stopped_by(const std::string& source, const std::string& limit) {
    const auto start = std::chrono::steady_clock::now();
    const std::string message = error_of(source);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ limits     ] %.3f s: %s\n", seconds, message.c_str());
    EXPECT_NE(message.find(limit), std::string::npos) << message;
    EXPECT_LT(seconds, 10.0);
}

const std::string kTextLimit = "longer than 33554432 bytes";
const std::string kStepLimit = "more than 20000000 steps of work";
const std::string kMemoryLimit = "more than 268435456 bytes of strings and containers";

TEST(JinjaLimits, PrintingNestedListsStopsAtTheTextLimit) {
    // 100 million items print as 300 MB; converting to text checks the limit as it grows.
    expect_stopped_by(
        "{% set a = [0]*100 %}{% set b = [a]*100 %}{% set c = [b]*100 %}{% set d = [c]*100 %}"
        "{{ (d|string)|length }}",
        kTextLimit);
    expect_stopped_by(
        "{% set a = [0]*100 %}{% set b = [a]*100 %}{% set c = [b]*100 %}{% set d = [c]*100 %}"
        "{{ d|tojson|length }}",
        kTextLimit);
}

TEST(JinjaLimits, ComparisonsAndSortsAreChargedPerItem) {
    // A billion comparisons of ints, in one `==`; sorting compares lists of a million items.
    expect_stopped_by(
        "{% set a = [0]*1000 %}{% set b = [a]*1000 %}{% set c = [b]*1000 %}{% set d = [a]*1000 %}"
        "{% set e = [d]*1000 %}{{ c == e }}",
        kStepLimit);
    expect_stopped_by(
        "{% set a = [0]*1000 %}{% set b = [a]*1000 %}{% set c = [b]*1000 %}{{ c|sort|length }}",
        kStepLimit);
}

TEST(JinjaLimits, SearchingLongStringsIsChargedPerByte) {
    // A thousand steps, each scanning 30 MB.
    expect_stopped_by(
        "{% set s = 'x' * 30000000 %}{% for i in range(1000) %}{% if 'y' in s %}{% endif %}"
        "{% endfor %}",
        kStepLimit);
    expect_stopped_by(
        "{% set s = 'x' * 30000000 %}{% for i in range(1000) %}{% set n = s.count('y') %}"
        "{% endfor %}",
        kStepLimit);
}

TEST(JinjaLimits, WhatARenderMakesIsBounded) {
    // Thirty different 30 MB strings, each within the limit on one string, would hold 900 MB.
    expect_stopped_by(
        "{% set xs = [] %}{% for i in range(30) %}{% set _ = xs.append('x' * 30000000 ~ i) %}"
        "{% endfor %}{{ xs|length }}",
        kMemoryLimit);
    // The limit is the caller's to set.
    RenderOptions options;
    options.limits.max_memory_bytes = 1 << 20;
    EXPECT_NE(error_of("{% set xs = [] %}{% for i in range(100) %}{% set _ = xs.append('x' * "
                       "100000 ~ i) %}{% endfor %}",
                       options)
                  .find("more than 1048576 bytes of strings and containers"),
              std::string::npos);
}

TEST(JinjaLimits, CopyingAValueDoesNotCopyItsText) {
    // Strings are shared, as in Python: naming, binding and passing a 30 MB string is a few
    // steps of work, and takes as long, not a copy of 30 MB each time (which the budget would
    // not see).
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(render("{% set s = 'x' * 30000000 %}{% macro m(t) %}{% endmacro %}"
                     "{% for i in range(1000) %}{% set t = s %}{{ m(t) }}{{ [t][0][:1] }}"
                     "{% endfor %}"),
              std::string(1000, 'x'));
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
}

TEST(JinjaLimits, ALongConversationStaysFarBelowTheLimits) {
    // 200 messages of 2 KB through Llama 3.1's template (the largest shared one): it renders
    // with a tenth of every limit, the same as with all of it.
    const std::string source = test::read_text_file(
        test::testdata_dir() + "/templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
    std::vector<Value> messages;
    for (int i = 0; i < 200; ++i) {
        std::string content = "Message " + std::to_string(i) + ":";
        while (content.size() < 2048) content += " some words, a 'quote' and a\nnewline.";
        content.resize(2048);
        jinja::Dict message;
        message.set(Value::string("role"), Value::string(i % 2 == 0 ? "user" : "assistant"));
        message.set(Value::string("content"), Value::string(content));
        messages.push_back(Value::dict(std::move(message)));
    }
    jinja::Dict context;
    context.set(Value::string("messages"), Value::list(std::move(messages)));
    context.set(Value::string("add_generation_prompt"), Value::boolean(true));
    context.set(Value::string("bos_token"), Value::string("<|begin_of_text|>"));
    RenderOptions tenth;
    tenth.limits.max_steps /= 10;
    tenth.limits.max_memory_bytes /= 10;
    tenth.limits.max_text_bytes /= 10;
    tenth.limits.max_items /= 10;
    const Template program = Template::parse(source, "llama");
    const std::string output = program.render(context, tenth);
    EXPECT_GT(output.size(), 200u * 2048u);
    EXPECT_EQ(program.render(context), output);
}

TEST(JinjaLimits, DeepNestingIsAnErrorNotACrash) {
    const auto nested = [](const std::string& open, const std::string& middle,
                           const std::string& close, int n) {
        std::string s;
        for (int i = 0; i < n; ++i) s += open;
        s += middle;
        for (int i = 0; i < n; ++i) s += close;
        return s;
    };
    for (const std::string& source : {"{{ " + nested("(", "1", ")", 100000) + " }}",
                                      "{{ " + nested("[", "1", "]", 100000) + " }}",
                                      "{{ " + nested("-", "1", "", 100000) + " }}",
                                      "{{ " + nested("not ", "1", "", 100000) + " }}",
                                      nested("{% if true %}", "x", "{% endif %}", 100000),
                                      "{{ 1" + nested(" + 1", "", "", 100000) + " }}",
                                      "{{ x" + nested(".a", "", "", 100000) + " }}",
                                      "{{ x" + nested("|trim", "", "", 100000) + " }}"}) {
        const std::string message = error_of(source);
        EXPECT_NE(message.find("nested too deeply"), std::string::npos) << message.substr(0, 200);
    }
}

TEST(JinjaLimits, DeepDataIsFreedAndPrintedSafely) {
    // A list nested 100000 deep: built, measured and freed without deep recursion.
    EXPECT_EQ(
        render("{% set ns = namespace(x=[]) %}{% for i in range(100) %}{% for j in range(1000) %}"
               "{% set ns.x = [ns.x] %}{% endfor %}{% endfor %}{{ ns.x|length }}"),
        "1");
    const std::string message = error_of(
        "{% set ns = namespace(x=[]) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% endfor "
        "%}{{ ns.x }}");
    EXPECT_NE(message.find("recursion"), std::string::npos) << message;
}

TEST(JinjaLimits, ReferenceCyclesPrintAsPythonAndAreFreed) {
    // As in Python; the render empties what it mutated when done, which frees the cycle
    // (LeakSanitizer checks this under TESSERA_SANITIZE).
    EXPECT_EQ(render("{% set a = [1] %}{% set _ = a.append(a) %}{{ a }}"), "[1, [...]]");
    EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"),
              "<Namespace {'me': <Namespace {...}>}>");
    EXPECT_EQ(error_of("{% set a = [] %}{% set _ = a.append(a) %}{{ a|tojson }}"),
              "t:1: Circular reference detected");
    EXPECT_NE(error_of("{% set a = [] %}{% set _ = a.append(a) %}{{ a == a }}").find("recursion"),
              std::string::npos);
    // A macro kept in the scope it closes over is released after the render too.
    EXPECT_EQ(render("{% set ns = namespace() %}{% macro m() %}m{% endmacro %}{% set ns.m = m %}{{ "
                     "ns.m() }}"),
              "m");
}

TEST(JinjaTime, StrftimeNowUsesTheInjectedTime) {
    RenderOptions options;
    options.now = test::parse_iso_time("2024-07-26T08:05:09");
    EXPECT_EQ(render("{{ strftime_now('%d %b %Y, %A %H:%M:%S, day %j') }}", options),
              "26 Jul 2024, Friday 08:05:09, day 208");
    // Without one it is today's date.
    EXPECT_EQ(render("{{ strftime_now('%Y')|length }}"), "4");
}

TEST(JinjaRobustness, MangledTemplatesFailCleanly) {
    // Every prefix of every shared template, and copies with characters replaced, either
    // render or throw tessera::Error; nothing else escapes and nothing crashes.
    std::mt19937 random(1234);
    const std::string noise = "{}%#-+()[]'\"|.~ \n\\xif";
    jinja::Dict context;
    context.set(Value::string("messages"), Value::list({Value::dict([] {
                    jinja::Dict m;
                    m.set(Value::string("role"), Value::string("user"));
                    m.set(Value::string("content"), Value::string("hi"));
                    return m;
                }())}));
    size_t tried = 0;
    for (const auto& entry :
         std::filesystem::directory_iterator(test::testdata_dir() + "/templates")) {
        const std::string source = test::read_text_file(entry.path().string());
        std::vector<std::string> variants;
        for (size_t n = 0; n < source.size(); n += 13) variants.push_back(source.substr(0, n));
        for (int k = 0; k < 200; ++k) {
            std::string mangled = source;
            for (int edits = 0; edits < 3; ++edits) {
                mangled[random() % mangled.size()] = noise[random() % noise.size()];
            }
            variants.push_back(std::move(mangled));
        }
        for (const std::string& variant : variants) {
            try {
                Template::parse(variant, "mangled").render(context);
            } catch (const Error&) {
            }
            ++tried;
        }
    }
    EXPECT_GT(tried, 2000u);
}

}  // namespace
}  // namespace tessera
