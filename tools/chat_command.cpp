// `tessera chat`: a conversation with a model in the terminal. Replies stream as they are
// generated; Ctrl-C stops a reply and keeps the conversation, Ctrl-D (or /quit) leaves. When
// stdin is not a terminal, each input line is a user message and each reply one output block,
// so that scripts can pipe to it.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/error.h"
#include "runtime/chat_session.h"
#include "runtime/chat_template.h"
#include "runtime/model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/arg_parser.h"
#include "tools/chat_input.h"
#include "tools/commands.h"
#include "tools/progress.h"
#include "tools/runtime_flags.h"
#include "tools/sampling_flags.h"
#include "tools/speculative_flags.h"
#include "tools/text_file.h"

namespace tessera::tools {

namespace {

// A signal handler can reach only objects of static storage duration; this flag is the one piece
// of such state, written by the SIGINT handler and read and cleared by the reply loop.
volatile std::sig_atomic_t interrupt_requested = 0;

extern "C" void request_interrupt(int) {
    interrupt_requested = 1;
}

// Ctrl-C asks the current reply to stop instead of ending the process. No SA_RESTART: a read
// from the terminal returns, so that Ctrl-C at the prompt discards the line being typed.
class InterruptHandler {
  public:
    InterruptHandler() {
        struct sigaction action = {};
        action.sa_handler = request_interrupt;
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, &previous_);
    }
    ~InterruptHandler() { sigaction(SIGINT, &previous_, nullptr); }
    InterruptHandler(const InterruptHandler&) = delete;
    InterruptHandler& operator=(const InterruptHandler&) = delete;

  private:
    struct sigaction previous_ = {};
};

constexpr const char* kHelp =
    "commands:\n"
    "  /help          this list\n"
    "  /reset         forget the conversation (the system prompt stays)\n"
    "  /system TEXT   set the system prompt (without TEXT: show it)\n"
    "  /save FILE     write the conversation as JSON ([{\"role\": ..., \"content\": ...}])\n"
    "  /load FILE     continue a conversation saved with /save\n"
    "  /stats         timings of the last reply and of the session\n"
    "  /quit          leave (Ctrl-D too)\n"
    "input: end a line with \\ to go on to the next; a line of \"\"\" opens and closes a block "
    "of lines.\nCtrl-C stops a reply and keeps what was said.\n";

double rate(uint32_t tokens, double ms) {
    return ms > 0.0 ? 1000.0 * tokens / ms : 0.0;
}

struct SessionTotals {
    uint64_t prompt_tokens = 0;  // decoded, not reused
    uint64_t generated_tokens = 0;
    double prompt_ms = 0.0;
    double generation_ms = 0.0;
    uint32_t replies = 0;
};

void print_reply_stats(const ReplyStats& stats, const ChatSession& session) {
    const uint32_t decoded = stats.prompt_tokens - stats.reused_tokens;
    std::fprintf(stderr,
                 "[%u tokens in %.2f s, %.1f tok/s | prompt %u tokens, %u new at %.1f tok/s | "
                 "context %u/%u]\n",
                 stats.generated_tokens, stats.generation_ms / 1000.0,
                 rate(stats.generated_tokens, stats.generation_ms), stats.prompt_tokens, decoded,
                 rate(decoded, stats.prompt_ms), session.n_cached(), session.n_ctx());
}

void print_session_stats(const SessionTotals& totals) {
    std::fprintf(stderr,
                 "[session: %u %s, %llu tokens generated at %.1f tok/s, %llu prompt tokens "
                 "at %.1f tok/s]\n",
                 totals.replies, totals.replies == 1 ? "reply" : "replies",
                 static_cast<unsigned long long>(totals.generated_tokens),
                 rate(static_cast<uint32_t>(totals.generated_tokens), totals.generation_ms),
                 static_cast<unsigned long long>(totals.prompt_tokens),
                 rate(static_cast<uint32_t>(totals.prompt_tokens), totals.prompt_ms));
}

void save_conversation(const ChatSession& session, const std::string& path) {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    if (!session.system_prompt().empty()) {
        messages.push_back({{"role", "system"}, {"content", session.system_prompt()}});
    }
    for (const ChatMessage& turn : session.turns()) {
        messages.push_back({{"role", turn.role}, {"content", turn.content}});
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << messages.dump(2) << '\n';
    out.close();
    if (!out) throw Error(path + ": cannot write");
}

void load_conversation(ChatSession& session, const std::string& path) {
    const std::string text = read_text_file(path);
    const nlohmann::json messages = nlohmann::json::parse(text, nullptr, false);
    if (messages.is_discarded() || !messages.is_array()) {
        throw Error(path + ": not a JSON list of messages");
    }
    std::string system;
    std::vector<ChatMessage> turns;
    for (size_t i = 0; i < messages.size(); ++i) {
        const nlohmann::json& message = messages[i];
        if (!message.is_object() || !message.contains("role") || !message.contains("content") ||
            !message["role"].is_string() || !message["content"].is_string()) {
            throw Error(path + ": message " + std::to_string(i + 1) +
                        " is not {\"role\": TEXT, \"content\": TEXT}");
        }
        ChatMessage turn{message["role"].get<std::string>(), message["content"].get<std::string>()};
        if (turn.role == "system" && i == 0) {
            system = std::move(turn.content);
        } else {
            turns.push_back(std::move(turn));
        }
    }
    session.set_turns(std::move(turns));
    session.set_system_prompt(std::move(system));
}

// The word after a command and the rest of its line.
std::string argument_of(const std::string& line) {
    const size_t space = line.find_first_of(" \t");
    if (space == std::string::npos) return {};
    const size_t start = line.find_first_not_of(" \t", space);
    return start == std::string::npos ? std::string() : line.substr(start);
}

enum class CommandResult { Continue, Quit };

CommandResult run_chat_command(const std::string& line, ChatSession& session,
                               const ReplyStats* last, const SessionTotals& totals) {
    const std::string name = line.substr(0, line.find_first_of(" \t"));
    const std::string argument = argument_of(line);
    if (name == "/quit" || name == "/exit") return CommandResult::Quit;
    if (name == "/help") {
        std::fputs(kHelp, stderr);
    } else if (name == "/reset") {
        session.reset();
        std::fputs("[conversation forgotten]\n", stderr);
    } else if (name == "/system") {
        if (argument.empty()) {
            std::fprintf(
                stderr, "[system prompt: %s]\n",
                session.system_prompt().empty() ? "(none)" : session.system_prompt().c_str());
        } else {
            session.set_system_prompt(argument);
            std::fputs("[system prompt set]\n", stderr);
        }
    } else if (name == "/save" || name == "/load") {
        if (argument.empty()) throw Error(name + " needs a file name");
        if (name == "/save") {
            save_conversation(session, argument);
            std::fprintf(stderr, "[saved %zu messages to %s]\n", session.turns().size(),
                         argument.c_str());
        } else {
            load_conversation(session, argument);
            std::fprintf(stderr, "[loaded %zu messages from %s]\n", session.turns().size(),
                         argument.c_str());
        }
    } else if (name == "/stats") {
        if (last != nullptr) print_reply_stats(*last, session);
        print_session_stats(totals);
    } else {
        throw Error("unknown command '" + name + "'; /help lists them");
    }
    return CommandResult::Continue;
}

}  // namespace

int run_chat(const Args& args) {
    RuntimeFlags runtime;
    SamplingFlags sampling;
    SpeculativeFlags speculative;
    std::string system_prompt, template_file, history_file;
    int64_t n_predict = -1;
    bool verbose = false, special = false, no_history = false;
    ArgParser parser("tessera chat",
                     "Chat with a model in the terminal. Replies stream as they come; Ctrl-C "
                     "stops a reply,\nCtrl-D or /quit leaves, /help lists the commands. When "
                     "stdin is not a terminal, each\nline is a user message and each reply is "
                     "written to stdout followed by a newline.");
    parser.option("-s, --system", &system_prompt, "TEXT", "the system prompt");
    parser.option("--chat-template-file", &template_file, "FILE",
                  "a Jinja chat template to use instead of the model's");
    parser.option("-n, --n-predict", &n_predict, "N",
                  "most tokens per reply; -1: until the end of the turn (default: -1)");
    parser.flag("--special", &special, "show control tokens in replies");
    parser.flag("-v, --verbose", &verbose,
                "print a summary line (tokens, tok/s) after each reply, and speculative\n"
                "decoding's statistics with --spec");
    parser.option("--history", &history_file, "FILE",
                  "the line-editing history file (default: " + default_chat_history_path() + ")");
    parser.flag("--no-history", &no_history, "keep no history file");
    runtime.add_to(parser);
    sampling.add_to(parser);
    speculative.add_to(parser);
    if (!parser.parse(args)) return 0;
    speculative.mode();  // a bad --spec combination fails before anything loads
    if (n_predict < -1) throw UsageError("-n must be -1 (no limit) or a count from 0");

    ChatOptions options;
    options.system_prompt = system_prompt;
    options.sampling = sampling.params();
    options.max_reply_tokens = static_cast<int32_t>(checked("-n", n_predict, -1, INT32_MAX));
    options.show_special = special;
    ModelOptions model_options = runtime.model_options();
    const std::string model_path = runtime.model_path();
    const bool terminal = ::isatty(STDIN_FILENO) != 0;

    std::shared_ptr<const Model> model;
    {
        Progress progress("loading " + model_path.substr(model_path.find_last_of('/') + 1));
        model_options.on_progress = [&](uint64_t done, uint64_t total) {
            progress.update(done, total);
        };
        model = Model::load(model_path, model_options);
    }
    const Tokenizer tokenizer = Tokenizer::from_gguf(model->file());
    ChatTemplate chat_template =
        template_file.empty() ? ChatTemplate::for_model(model->file())
                              : ChatTemplate::parse(read_text_file(template_file), template_file);
    if (chat_template.is_fallback()) {
        std::fputs(
            "tessera chat: the model carries no chat template; using a plain User/Assistant "
            "transcript (--chat-template-file chooses another)\n",
            stderr);
    }
    const ContextOptions context_options =
        speculative.target_context_options(*model, runtime.context_options());
    ChatSession session(model, tokenizer, std::move(chat_template), context_options, options);
    // The draft model loads without the progress bar: it is the smaller file.
    model_options.on_progress = {};
    if (std::unique_ptr<Drafter> drafter =
            speculative.make_drafter(model, model_options, context_options)) {
        session.speculate(std::move(drafter), speculative.draft_length(*model),
                          speculative.tree_shape(), speculative.acceptance());
    }
    if (terminal) {
        std::fprintf(stderr,
                     "tessera chat: %s (%s), %s backend, context %u; /help for commands, Ctrl-D "
                     "to leave\n",
                     model->file().path().c_str(), model->hparams().architecture.c_str(),
                     runtime.backend.c_str(), session.n_ctx());
    }

    ChatInput input(terminal,
                    no_history
                        ? std::string()
                        : (history_file.empty() ? default_chat_history_path() : history_file),
                    [] {
                        const bool pressed = interrupt_requested != 0;
                        interrupt_requested = 0;
                        return pressed;
                    });
    const InterruptHandler interrupt_handler;
    SessionTotals totals;
    ReplyStats last;
    bool any_failed = false;
    for (;;) {
        interrupt_requested = 0;
        const std::optional<std::string> message = input.next();
        if (!message) break;
        try {
            if (message->front() == '/') {
                if (run_chat_command(*message, session, totals.replies > 0 ? &last : nullptr,
                                     totals) == CommandResult::Quit) {
                    break;
                }
                continue;
            }
            interrupt_requested = 0;
            last = session.reply(
                *message,
                [](std::string_view text) {
                    std::fwrite(text.data(), 1, text.size(), stdout);
                    std::fflush(stdout);
                },
                [] { return interrupt_requested != 0; });
        } catch (const Error& e) {
            std::fprintf(stderr, "tessera chat: error: %s\n", e.what());
            any_failed = true;
            continue;
        }
        std::fputc('\n', stdout);
        std::fflush(stdout);
        ++totals.replies;
        totals.prompt_tokens += last.prompt_tokens - last.reused_tokens;
        totals.prompt_ms += last.prompt_ms;
        totals.generated_tokens += last.generated_tokens;
        totals.generation_ms += last.generation_ms;
        if (last.dropped_turns > 0) {
            std::fprintf(stderr, "[dropped the %u oldest messages to fit the context]\n",
                         last.dropped_turns);
        }
        if (last.end == ReplyEnd::Interrupted) std::fputs("[interrupted]\n", stderr);
        if (last.end == ReplyEnd::ContextFull) {
            std::fprintf(stderr,
                         "[the context is full (%u positions); the oldest messages will make "
                         "room for the next one]\n",
                         session.n_ctx());
        }
        if (verbose) print_reply_stats(last, session);
        if (verbose && session.speculates())
            print_speculative_stats("tessera chat", last.speculation);
    }
    if (terminal) std::fputc('\n', stderr);
    return any_failed && !terminal ? 1 : 0;
}

}  // namespace tessera::tools
