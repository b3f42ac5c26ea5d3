#include "runtime/chat_template.h"

#include "formats/gguf/file.h"
#include "runtime/jinja/template.h"

namespace tessera {

namespace {

constexpr const char* kTemplateKey = "tokenizer.chat_template";

// The ChatML format, which llama.cpp also falls back to for a model without a template:
// "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message, then "<|im_start|>assistant\n" when a
// reply is wanted.
constexpr const char* kChatMl =
    "{%- for message in messages -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "{{- '<|im_start|>assistant\\n' -}}\n"
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
    const gguf::Value* value = file.find(kTemplateKey);
    if (value != nullptr && value->type() == gguf::ValueType::STRING) {
        return parse(value->as_string(kTemplateKey), file.path() + ":" + kTemplateKey);
    }
    ChatTemplate chat_ml = parse(kChatMl, "chatml");
    chat_ml.impl_->fallback = true;
    chat_ml.impl_->stop_strings = {"<|im_end|>", "<|im_start|>"};
    return chat_ml;
}

std::string ChatTemplate::render(const ChatTemplateInputs& inputs) const {
    using jinja::Value;
    std::vector<Value> messages;
    messages.reserve(inputs.messages.size());
    for (const ChatMessage& message : inputs.messages) {
        jinja::Dict entry;
        entry.set(Value::string("role"), Value::string(message.role));
        entry.set(Value::string("content"), Value::string(message.content));
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
