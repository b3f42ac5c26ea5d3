// libFuzzer target for the chat-template interpreter (a template is untrusted input: it comes
// from a GGUF file). The input is a template source, then optionally a NUL byte and the content
// of the conversation's first user message. A template either fails to parse or renders a small
// fixed conversation, with and without the generation prompt; a failure must be a tessera::Error,
// and rendering the same inputs twice must give the same result, since renders are independent.
// Anything else -- a crash, a sanitizer report, another exception, a render that runs past the
// fuzzer's timeout or memory limit -- is a bug, and aborts so that libFuzzer saves the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formats/error.h"
#include "runtime/jinja/template.h"

namespace {

using tessera::jinja::Dict;
using tessera::jinja::RenderOptions;
using tessera::jinja::Template;
using tessera::jinja::Value;

[[noreturn]] void bug(const std::string& what) {
    std::fprintf(stderr, "chat_template_fuzz: %s\n", what.c_str());
    std::abort();
}

// The variables ChatTemplate::render gives a template, for a system prompt, `user` as the first
// user message, an assistant reply and a second user message.
Dict conversation(const std::string& user, bool add_generation_prompt) {
    const std::pair<const char*, std::string> turns[] = {
        {"system", "You are terse."},
        {"user", user},
        {"assistant", "<think>\nfine\n</think>\n\nHello!"},
        {"user", "And again, ünïcode 🙂?"}};
    std::vector<Value> messages;
    for (const auto& [role, content] : turns) {
        Dict message;
        message.set(Value::string("role"), Value::string(role));
        message.set(Value::string("content"), Value::string(content));
        messages.push_back(Value::dict(std::move(message)));
    }
    Dict context;
    context.set(Value::string("messages"), Value::list(std::move(messages)));
    context.set(Value::string("add_generation_prompt"), Value::boolean(add_generation_prompt));
    context.set(Value::string("bos_token"), Value::string("<s>"));
    context.set(Value::string("eos_token"), Value::string("</s>"));
    return context;
}

RenderOptions render_options() {
    RenderOptions options;
    // The interpreter's own limits let a render work for about a second in a release build,
    // twenty times that with the sanitizers. These let it work for a small fraction of the
    // fuzzer's timeout, so that a render that still runs out of time did work the budget did not
    // count: a bug. They are far above what a real template needs for this conversation.
    options.limits.max_steps = 100'000;
    options.limits.max_text_bytes = size_t{16} << 10;
    options.limits.max_items = 4096;
    options.limits.max_memory_bytes = size_t{1} << 20;
    // strftime_now() must not depend on the day the fuzzer runs: a crash must reproduce.
    std::tm now{};
    now.tm_year = 2025 - 1900;
    now.tm_mon = 2;
    now.tm_mday = 14;
    now.tm_hour = 15;
    now.tm_min = 9;
    now.tm_sec = 26;
    options.now = now;
    return options;
}

// The output, or the error's message marked as one: what a render gives, to compare two.
std::string outcome(const Template& program, const Dict& context, const RenderOptions& options) {
    try {
        return "ok: " + program.render(context, options);
    } catch (const tessera::Error& error) {
        return std::string("error: ") + error.what();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const size_t cut = input.find('\0');
    const std::string_view source = input.substr(0, cut);
    const std::string user =
        cut == std::string_view::npos ? "Hi there!" : std::string(input.substr(cut + 1));

    std::optional<Template> program;
    try {
        program.emplace(Template::parse(source, "fuzz"));
    } catch (const tessera::Error&) {
        return 0;  // a syntax error; any other exception escapes and is reported as a crash
    }
    static const RenderOptions options = render_options();
    // A fresh context for each render, as ChatTemplate::render makes one: the render empties
    // lists the template appended to, and the conversation must be the same every time.
    const std::string first = outcome(*program, conversation(user, true), options);
    outcome(*program, conversation(user, false), options);
    if (outcome(*program, conversation(user, true), options) != first) {
        bug("rendering the same inputs again gave another result: the first render changed "
            "something the second saw");
    }
    return 0;
}
