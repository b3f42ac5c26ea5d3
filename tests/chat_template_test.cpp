// Chat templates against transformers: every template in ../shared/testdata/templates/ (and the
// one in the shared Phi-3 vocabulary) renders every conversation of
// tests/fixtures/templates/cases.json byte for byte as transformers' jinja2 did, or raises the
// same raise_exception() message; the model-file lookup with its transcript fallback; and the
// `tessera template` command.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "formats/gguf/writer.h"
#include "runtime/chat_template.h"
#include "runtime/jinja/template.h"
#include "tests/jinja_fixtures.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

const std::string kPhi3Vocab = "/vocab/ggml-vocab-phi-3.gguf";

std::vector<ChatMessage> messages_of(const test::OrderedJson& conversation) {
    std::vector<ChatMessage> messages;
    for (const auto& m : conversation) {
        messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    }
    return messages;
}

// The source of a fixture template: a shared .jinja file, or one carried in the fixture.
std::string template_source(const test::OrderedJson& fixture, const std::string& name) {
    const auto& info = fixture["templates"][name];
    if (info.contains("source")) return info["source"].get<std::string>();
    return test::read_text_file(test::testdata_dir() + "/templates/" + name);
}

TEST(ChatTemplate, EveryTemplateRendersEveryConversationLikeTransformers) {
    const test::OrderedJson fixture = test::read_template_fixture("cases.json");
    const std::tm now = test::parse_iso_time(fixture["now"].get<std::string>());
    size_t matched = 0;
    std::map<std::string, size_t> per_template;
    for (const auto& c : fixture["cases"]) {
        const std::string name = c["template"].get<std::string>();
        const std::string conversation = c["conversation"].get<std::string>();
        SCOPED_TRACE(name + " / " + conversation +
                     (c["add_generation_prompt"].get<bool>() ? " + prompt" : ""));
        const ChatTemplate chat = ChatTemplate::parse(template_source(fixture, name), name);
        ChatTemplateInputs inputs;
        inputs.messages = messages_of(fixture["conversations"][conversation]);
        inputs.add_generation_prompt = c["add_generation_prompt"].get<bool>();
        inputs.bos_token = fixture["templates"][name]["bos_token"].get<std::string>();
        inputs.eos_token = fixture["templates"][name]["eos_token"].get<std::string>();
        inputs.now = now;
        std::string output;
        std::string error;
        try {
            output = chat.render(inputs);
        } catch (const Error& e) {
            error = e.what();
        }
        bool ok;
        if (c.contains("expected")) {
            EXPECT_EQ(error, "");
            EXPECT_EQ(output, c["expected"].get<std::string>());
            ok = error.empty() && output == c["expected"].get<std::string>();
        } else {
            EXPECT_EQ(error.rfind(name + ":", 0), 0u) << "jinja2: " << c["error"];
            ok = error.rfind(name + ":", 0) == 0;
            if (c["error_type"] == "TemplateError") {
                const std::string message = ": " + c["error"].get<std::string>();
                const bool same =
                    error.size() >= message.size() &&
                    error.compare(error.size() - message.size(), message.size(), message) == 0;
                EXPECT_TRUE(same) << error << " vs " << message;
                ok = ok && same;
            }
        }
        matched += ok ? 1 : 0;
        per_template[name] += ok ? 1 : 0;
    }
    EXPECT_EQ(matched, fixture["cases"].size());
    EXPECT_EQ(per_template.size(), 9u) << "8 shared templates and the Phi-3 GGUF's";
    std::printf(
        "[ templates  ] %zu of %zu cases (%zu templates x %zu conversations x 2) match "
        "transformers %s\n",
        matched, fixture["cases"].size(), per_template.size(), fixture["conversations"].size(),
        fixture["transformers"].get<std::string>().c_str());
}

// The same templates with what ChatTemplateInputs cannot carry (tools, tool calls, reasoning,
// enable_thinking, ...), through the interpreter directly.
TEST(ChatTemplate, TemplatesWithToolsAndExtraVariablesRenderLikeTransformers) {
    const test::OrderedJson fixture = test::read_template_fixture("cases.json");
    jinja::RenderOptions options;
    options.now = test::parse_iso_time(fixture["now"].get<std::string>());
    size_t matched = 0;
    for (const auto& c : fixture["rich_cases"]) {
        const std::string name = c["template"].get<std::string>();
        const std::string context_name = c["context"].get<std::string>();
        SCOPED_TRACE(name + " / " + context_name);
        test::OrderedJson context = fixture["rich_contexts"][context_name];
        context["bos_token"] = fixture["templates"][name]["bos_token"];
        context["eos_token"] = fixture["templates"][name]["eos_token"];
        std::string output;
        std::string error;
        try {
            output = jinja::Template::parse(template_source(fixture, name), name)
                         .render(test::value_from_json(context).dict(), options);
        } catch (const Error& e) {
            error = e.what();
        }
        if (c.contains("expected")) {
            EXPECT_EQ(error, "");
            EXPECT_EQ(output, c["expected"].get<std::string>());
            matched += error.empty() && output == c["expected"].get<std::string>() ? 1 : 0;
        } else {
            EXPECT_EQ(error.rfind(name + ":", 0), 0u) << "jinja2: " << c["error"];
            matched += error.rfind(name + ":", 0) == 0 ? 1 : 0;
        }
    }
    EXPECT_EQ(matched, fixture["rich_cases"].size());
    std::printf("[ templates  ] %zu of %zu cases with tools and extra variables match\n", matched,
                fixture["rich_cases"].size());
}

TEST(ChatTemplate, RaiseExceptionIsAnErrorWithTheTemplatesMessage) {
    const std::string name = "google-gemma-2-2b-it.jinja";
    const ChatTemplate chat = ChatTemplate::parse(
        test::read_text_file(test::testdata_dir() + "/templates/" + name), name);
    ChatTemplateInputs inputs;
    inputs.messages = {{"system", "be nice"}, {"user", "hi"}};
    try {
        chat.render(inputs);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "google-gemma-2-2b-it.jinja:1: System role not supported");
    }
}

TEST(ChatTemplate, ParseErrorsNameTheTemplateAndLine) {
    try {
        ChatTemplate::parse("{% for m in messages %}\n{{ m.content | shout }}{% endfor %}", "mine");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "mine:2: unknown filter 'shout'");
    }
}

TEST(ChatTemplate, ForModelUsesTheFilesTemplate) {
    const std::string path = test::testdata_dir() + kPhi3Vocab;
    const gguf::File file = gguf::File::open(path);
    const ChatTemplate chat = ChatTemplate::for_model(file);
    EXPECT_FALSE(chat.is_fallback());
    EXPECT_TRUE(chat.stop_strings().empty());
    EXPECT_EQ(chat.name(), path + ":tokenizer.chat_template");
    EXPECT_EQ(chat.source(), file.get_string("tokenizer.chat_template"));
    ChatTemplateInputs inputs;
    inputs.messages = {{"user", "Hi"}, {"assistant", "Hello"}};
    inputs.bos_token = "<s>";
    EXPECT_EQ(chat.render(inputs), "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n");
}

TEST(ChatTemplate, ForModelFallsBackToATranscript) {
    const gguf::File file =
        gguf::File::open(test::source_dir() + "/tests/fixtures/tiny/llama.gguf");
    ASSERT_EQ(file.find("tokenizer.chat_template"), nullptr);
    const ChatTemplate chat = ChatTemplate::for_model(file);
    EXPECT_TRUE(chat.is_fallback());
    EXPECT_EQ(chat.stop_strings(), (std::vector<std::string>{"\nUser:", "\nAssistant:"}));
    ChatTemplateInputs inputs;
    inputs.messages = {
        {"system", "Be brief."}, {"user", "Hi\n there "}, {"assistant", "Hello."}, {"user", "Bye"}};
    inputs.add_generation_prompt = true;
    EXPECT_EQ(chat.render(inputs),
              "Be brief.\n\nUser: Hi\n there \nAssistant: Hello.\nUser: Bye\nAssistant:");
    inputs.add_generation_prompt = false;
    inputs.messages = {};
    EXPECT_EQ(chat.render(inputs), "");
    inputs.messages = {{"tool", "{}"}};
    EXPECT_THROW(chat.render(inputs), Error);
}

TEST(ChatTemplate, ForModelReportsABrokenTemplateWithTheFileName) {
    const std::string path = test::temp_dir() + "/broken.gguf";
    gguf::Writer writer(path);
    writer.add("general.architecture", gguf::Value::from_string("llama"));
    writer.add("tokenizer.chat_template",
               gguf::Value::from_string("{% for m in messages %}\n\n{% frobnicate %}{% endfor %}"));
    writer.write_header();
    writer.finish();
    const gguf::File file = gguf::File::open(path);
    try {
        ChatTemplate::for_model(file);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  path + ":tokenizer.chat_template:3: unknown statement 'frobnicate'");
    }
}

TEST(ChatTemplate, RendersTheLargestTemplateQuickly) {
    // Llama 3.1's is the largest of the shared templates.
    const std::string name = "meta-llama-Llama-3.1-8B-Instruct.jinja";
    const std::string source = test::read_text_file(test::testdata_dir() + "/templates/" + name);
    ChatTemplateInputs inputs;
    inputs.messages.push_back({"system", "You are a helpful assistant."});
    for (int i = 0; i < 50; ++i) {
        inputs.messages.push_back(
            {i % 2 == 0 ? "user" : "assistant", "message " + std::to_string(i)});
    }
    const auto start = std::chrono::steady_clock::now();
    const ChatTemplate chat = ChatTemplate::parse(source, name);
    const auto parsed = std::chrono::steady_clock::now();
    constexpr int kRenders = 20;
    size_t bytes = 0;
    for (int i = 0; i < kRenders; ++i) bytes += chat.render(inputs).size();
    const auto done = std::chrono::steady_clock::now();
    const double parse_ms = std::chrono::duration<double, std::milli>(parsed - start).count();
    const double render_ms =
        std::chrono::duration<double, std::milli>(done - parsed).count() / kRenders;
    std::printf("[ timing     ] %s (%zu bytes): parse %.3f ms, render of 51 messages %.3f ms\n",
                name.c_str(), source.size(), parse_ms, render_ms);
    EXPECT_GT(bytes, 0u);
    EXPECT_LT(render_ms, 1000.0);
}

// --- `tessera template` ----------------------------------------------------------------------

struct Result {
    int status;
    std::string out;
};

Result tessera_template(const std::string& arguments) {
    Result r;
    r.status = test::run(test::tool() + " template " + arguments + " 2>&1", &r.out);
    return r;
}

std::string quoted(const std::string& s) {
    return "'" + s + "'";
}

// Writes the fixture's conversation as CONV.json and returns the file name.
std::string write_conversation(const test::OrderedJson& conversation) {
    const std::string path = test::temp_dir() + "/conversation.json";
    std::ofstream(path) << conversation.dump();
    return path;
}

const test::OrderedJson& find_case(const test::OrderedJson& fixture, const std::string& name,
                                   const std::string& conversation, bool add_generation_prompt) {
    for (const auto& c : fixture["cases"]) {
        if (c["template"] == name && c["conversation"] == conversation &&
            c["add_generation_prompt"] == add_generation_prompt) {
            return c;
        }
    }
    throw std::runtime_error("no such case in cases.json");
}

TEST(ToolTemplate, FilePrintsExactlyTheRenderedPrompt) {
    const test::OrderedJson fixture = test::read_template_fixture("cases.json");
    const std::string name = "google-gemma-2-2b-it.jinja";
    const auto& expected = find_case(fixture, name, "unicode", true);
    const std::string conversation = write_conversation(fixture["conversations"]["unicode"]);
    const Result r = tessera_template(
        "--file " + quoted(test::testdata_dir() + "/templates/" + name) + " --messages " +
        quoted(conversation) + " --add-generation-prompt --bos-token '<bos>' --eos-token '<eos>'");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out, expected["expected"].get<std::string>());
}

TEST(ToolTemplate, ModelTemplateAndItsSpecialTokens) {
    const test::OrderedJson fixture = test::read_template_fixture("cases.json");
    const auto& expected = find_case(fixture, "gguf:ggml-vocab-phi-3", "multi_turn", false);
    const std::string conversation = write_conversation(fixture["conversations"]["multi_turn"]);
    const Result r = tessera_template("-m " + quoted(test::testdata_dir() + kPhi3Vocab) +
                                      " --messages " + quoted(conversation));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out, expected["expected"].get<std::string>());
    // An explicit --bos-token replaces the model's, even when empty.
    const Result no_bos =
        tessera_template("-m " + quoted(test::testdata_dir() + kPhi3Vocab) + " --messages " +
                         quoted(conversation) + " --bos-token ''");
    ASSERT_EQ(no_bos.status, 0) << no_bos.out;
    EXPECT_EQ("<s>" + no_bos.out, r.out);
}

TEST(ToolTemplate, TemplateErrorsAreOneLineAndExitOne) {
    const test::OrderedJson fixture = test::read_template_fixture("cases.json");
    const std::string name = "google-gemma-2-2b-it.jinja";
    const std::string conversation = write_conversation(fixture["conversations"]["system_user"]);
    const Result r =
        tessera_template("--file " + quoted(test::testdata_dir() + "/templates/" + name) +
                         " --messages " + quoted(conversation));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("tessera template: error: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(":1: System role not supported"), std::string::npos) << r.out;
    const Result usage = tessera_template("--file x.jinja");
    EXPECT_EQ(usage.status, 2) << usage.out;
}

}  // namespace
}  // namespace tessera
