#include "runtime/chat_template.h"

#include "formats/gguf/file.h"
#include "runtime/jinja/template.h"

namespace tessera {

namespace {

constexpr const char* kTemplateKey = "tokenizer.chat_template";

// The fallback for a model without a template: a plain transcript, the system prompt as a
// paragraph, then "User: ...\n" and "Assistant: ...\n" lines, ending in "Assistant:" when a reply
// is wanted. llama.cpp falls back to ChatML instead, but a model that ships no template is usually
// a base model, and base models continue a transcript sensibly where ChatML's unknown markers
// make them echo the question (Gemma 3 270M does). The next "User:" or "Assistant:" line the model
// starts ends its turn.
constexpr const char* kTranscript =
    "{%- for message in messages -%}\n"
    "{%- if message['role'] == 'system' -%}\n"
    "{{- message['content'] + '\\n\\n' -}}\n"
    "{%- elif message['role'] == 'user' -%}\n"
    "{{- 'User: ' + message['content'] + '\\n' -}}\n"
    "{%- elif message['role'] == 'assistant' -%}\n"
    "{{- 'Assistant: ' + message['content'] + '\\n' -}}\n"
    "{%- else -%}\n"
    "{{- raise_exception('the transcript template knows the roles system, user and assistant, "
    "not ' + message['role']) -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- 'Assistant:' -}}\n"
    "{%- endif -%}\n";

}  // namespace

struct ChatTemplate::Impl {
    jinja::Template program;
    std::string source;
    bool fallback = false;
    std::vector<std::string> stop_strings;
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

ChatTemplate ChatTemplate::parse(const std::string& source, const std::string& name) {
    return ChatTemplate(
        std::make_unique<Impl>(Impl{jinja::Template::parse(source, name), source, false, {}}));
}

ChatTemplate ChatTemplate::for_model(const gguf::File& file) {
    if (const gguf::Value* value = file.find(kTemplateKey)) {
        // as_string throws, naming the key, for a value of another type.
        return parse(value->as_string(kTemplateKey), file.path() + ":" + kTemplateKey);
    }
    ChatTemplate transcript = parse(kTranscript, "transcript");
    transcript.impl_->fallback = true;
    transcript.impl_->stop_strings = {"\nUser:", "\nAssistant:"};
    return transcript;
}

std::string ChatTemplate::render(const ChatTemplateInputs& inputs) const {
    using jinja::Value;
    // Every message shares the two keys (a string value is shared, not copied).
    const Value role = Value::string("role");
    const Value content = Value::string("content");
    std::vector<Value> messages;
    messages.reserve(inputs.messages.size());
    for (const ChatMessage& message : inputs.messages) {
        jinja::Dict entry;
        entry.set(role, Value::string(message.role));
        entry.set(content, Value::string(message.content));
        messages.push_back(Value::dict(std::move(entry)));
    }
    jinja::Dict context;
    context.set(Value::string("messages"), Value::list(std::move(messages)));
    context.set(Value::string("add_generation_prompt"),
                Value::boolean(inputs.add_generation_prompt));
    context.set(Value::string("bos_token"), Value::string(inputs.bos_token));
    context.set(Value::string("eos_token"), Value::string(inputs.eos_token));
    jinja::RenderOptions options;
    options.now = inputs.now;
    return impl_->program.render(context, options);
}

const std::string& ChatTemplate::source() const {
    return impl_->source;
}
const std::string& ChatTemplate::name() const {
    return impl_->program.name();
}
bool ChatTemplate::is_fallback() const {
    return impl_->fallback;
}
const std::vector<std::string>& ChatTemplate::stop_strings() const {
    return impl_->stop_strings;
}

}  // namespace tessera
