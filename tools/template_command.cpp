// `tessera template`: the prompt a model's chat template makes of a conversation, printed
// exactly (no newline added), to check a template against transformers' rendering.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>

#include "formats/error.h"
#include "formats/gguf/file.h"
#include "runtime/chat_template.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"

namespace tessera::tools {

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// CONV.json: [{"role": "...", "content": "..."}, ...]
std::vector<ChatMessage> read_messages(const std::string& path) {
    const std::string text = read_file(path);
    const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded()) throw Error(path + ": not valid JSON");
    if (!json.is_array()) throw Error(path + ": expected a JSON list of messages");
    std::vector<ChatMessage> messages;
    for (size_t i = 0; i < json.size(); ++i) {
        const nlohmann::json& m = json[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() ||
            !m.contains("content") || !m["content"].is_string()) {
            throw Error(path + ": message " + std::to_string(i) +
                        " is not an object with string \"role\" and \"content\"");
        }
        messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    }
    return messages;
}

// The text of the token a special-token id key names, or "" when the file has none.
std::string special_token(const gguf::File& file, const std::string& id_key) {
    const gguf::Value* id = file.find(id_key);
    const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
    if (id == nullptr || !id->is_integer() || tokens == nullptr ||
        tokens->type() != gguf::ValueType::ARRAY ||
        tokens->element_type() != gguf::ValueType::STRING) {
        return "";
    }
    const auto& strings = tokens->as_string_array("tokenizer.ggml.tokens");
    const int64_t index = id->as_int(id_key);
    if (index < 0 || static_cast<uint64_t>(index) >= strings.size()) {
        throw Error(file.path() + ": " + id_key + " " + std::to_string(index) +
                    " is not a token of the vocabulary");
    }
    return strings[static_cast<size_t>(index)];
}

}  // namespace

int run_template(const Args& args) {
    std::string model;
    std::string template_file;
    std::string messages_file;
    bool add_generation_prompt = false;
    std::optional<std::string> bos_token;
    std::optional<std::string> eos_token;
    ArgParser parser("tessera template",
                     "print the prompt a chat template makes of a conversation, exactly, with "
                     "nothing added");
    parser.option("-m, --model", &model, "FILE",
                  "use the chat template of this GGUF model (default: the default model)");
    parser.option("--file", &template_file, "T.jinja", "use this Jinja template file instead");
    parser.option("--messages", &messages_file, "CONV.json",
                  "the conversation: a JSON list of {\"role\", \"content\"} objects (required)");
    parser.flag("--add-generation-prompt", &add_generation_prompt,
                "end with the opening of the assistant's reply");
    parser.option("--bos-token", &bos_token, "S",
                  "the template's bos_token (default: the model's BOS token text, or empty)");
    parser.option("--eos-token", &eos_token, "S",
                  "the template's eos_token (default: the model's EOS token text, or empty)");
    if (!parser.parse(args)) return 0;
    if (messages_file.empty()) throw UsageError("--messages CONV.json is required");
    if (!model.empty() && !template_file.empty()) {
        throw UsageError("give either -m FILE or --file T.jinja, not both");
    }

    ChatTemplateInputs inputs;
    inputs.messages = read_messages(messages_file);
    inputs.add_generation_prompt = add_generation_prompt;
    std::optional<ChatTemplate> chat_template;
    if (!template_file.empty()) {
        chat_template.emplace(ChatTemplate::parse(read_file(template_file), template_file));
    } else {
        const gguf::File file = gguf::File::open(model_or_default(model));
        chat_template.emplace(ChatTemplate::for_model(file));
        inputs.bos_token = special_token(file, "tokenizer.ggml.bos_token_id");
        inputs.eos_token = special_token(file, "tokenizer.ggml.eos_token_id");
    }
    if (bos_token) inputs.bos_token = *bos_token;
    if (eos_token) inputs.eos_token = *eos_token;

    const std::string prompt = chat_template->render(inputs);
    if (std::fwrite(prompt.data(), 1, prompt.size(), stdout) != prompt.size() ||
        std::fflush(stdout) != 0) {
        throw Error("cannot write the prompt to stdout");
    }
    return 0;
}

}  // namespace tessera::tools
