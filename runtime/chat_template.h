// A model's chat template: the Jinja program (tokenizer.chat_template) that turns a conversation
// into the prompt text the model was trained on, rendered as Python's jinja2 renders it with the
// conventions of Hugging Face transformers (trim_blocks, lstrip_blocks, `messages`,
// `add_generation_prompt`, `bos_token`, `eos_token`, `raise_exception`).
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tessera::gguf {
class File;
}

namespace tessera {

struct ChatMessage {
    std::string role;  // "system", "user", "assistant"
    std::string content;
};

struct ChatTemplateInputs {
    std::vector<ChatMessage> messages;
    bool add_generation_prompt = true;
    std::string bos_token;
    std::string eos_token;
    // The date and time the template's strftime_now() reports; the local time when empty.
    // Tests fix it so that templates that print today's date render the same every day.
    std::optional<std::tm> now;
};

class ChatTemplate {
  public:
    // Parses a template. Throws tessera::Error "NAME:LINE: what" for a syntax error or a
    // construct the interpreter does not know, naming it. (As in jinja2, an unknown filter or
    // test inside an if statement or a conditional expression fails only when rendered.)
    static ChatTemplate parse(const std::string& source, const std::string& name);
    // The template a model file carries (tokenizer.chat_template), or, when it has none, a plain
    // "User: / Assistant:" transcript, which base models continue sensibly. (llama.cpp falls back
    // to ChatML; see chat_template.cpp for why tessera does not.)
    static ChatTemplate for_model(const gguf::File& file);

    ChatTemplate(ChatTemplate&&) noexcept;
    ChatTemplate& operator=(ChatTemplate&&) noexcept;
    ~ChatTemplate();

    // The prompt text. Throws tessera::Error "NAME:LINE: what" for a runtime error, including
    // the template's own raise_exception("...").
    std::string render(const ChatTemplateInputs& inputs) const;

    const std::string& source() const;
    const std::string& name() const;
    // True when for_model() fell back to the transcript because the file has no template.
    bool is_fallback() const;
    // Text that ends an assistant turn in this template's format but is no token of its own
    // (a new "User:" line for the transcript); generation stops there too.
    const std::vector<std::string>& stop_strings() const;

  private:
    struct Impl;
    explicit ChatTemplate(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
