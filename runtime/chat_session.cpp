#include "runtime/chat_session.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "formats/error.h"
#include "runtime/speculative/speculative_decoder.h"

namespace tessera {

namespace {

using Clock = std::chrono::steady_clock;

double milliseconds_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Holds back generated text that might be the start of a stop string, so that a stop string
// never reaches the screen, not even in part, and cuts the text where one appears.
class StopStringFilter {
  public:
    explicit StopStringFilter(const std::vector<std::string>& stops) : stops_(stops) {}

    // Takes new text; returns the part that is safe to show. Sets stopped() when a stop string
    // appeared, and then drops it and everything after it.
    std::string push(std::string_view text) {
        pending_.append(text);
        size_t cut = std::string::npos;
        for (const std::string& stop : stops_) {
            cut = std::min(cut, pending_.find(stop));
        }
        if (cut != std::string::npos) {
            stopped_ = true;
            std::string shown = pending_.substr(0, cut);
            pending_.clear();
            return shown;
        }
        // Keep the longest tail that a stop string begins with.
        size_t keep = 0;
        for (const std::string& stop : stops_) {
            const size_t most = std::min(stop.size() - 1, pending_.size());
            for (size_t n = most; n > keep; --n) {
                if (pending_.compare(pending_.size() - n, n, stop, 0, n) == 0) {
                    keep = n;
                    break;
                }
            }
        }
        std::string shown = pending_.substr(0, pending_.size() - keep);
        pending_.erase(0, pending_.size() - keep);
        return shown;
    }
    // What was held back, once no more text comes.
    std::string finish() { return std::exchange(pending_, {}); }
    bool stopped() const { return stopped_; }

  private:
    const std::vector<std::string>& stops_;
    std::string pending_;
    bool stopped_ = false;
};

// Positions kept free for the reply when the conversation is fitted into the context.
uint32_t reply_room(const ChatOptions& options, uint32_t n_ctx) {
    const uint32_t quarter = std::max<uint32_t>(1, n_ctx / 4);
    if (options.max_reply_tokens > 0) {
        return std::min(static_cast<uint32_t>(options.max_reply_tokens), quarter);
    }
    return std::min<uint32_t>(256, quarter);
}

}  // namespace

ChatSession::ChatSession(std::shared_ptr<const Model> model, const Tokenizer& tokenizer,
                         ChatTemplate chat_template, const ContextOptions& context_options,
                         ChatOptions options)
    : model_(std::move(model)),
      tokenizer_(tokenizer),
      template_(std::move(chat_template)),
      options_(std::move(options)),
      context_(model_, context_options),
      sampler_(options_.sampling),
      reply_seeds_(options_.sampling.seed) {}

void ChatSession::speculate(std::unique_ptr<Drafter> drafter, size_t draft_max,
                            std::optional<DraftTreeShape> tree, backend::Acceptance acceptance) {
    if (drafter == nullptr) throw Error("chat: speculation needs a drafter");
    if (draft_max == 0) throw Error("chat: the draft length must be at least 1");
    check_speculative_sampling(options_.sampling);
    if (drafter->reads_hidden_states() && !context_.keeps_hidden_states()) {
        throw Error(
            "chat: the drafter reads the model's hidden states; create the session with "
            "ContextOptions::keep_hidden_states");
    }
    if (tree && !drafter->proposes_candidates()) {
        throw Error(
            "chat: a draft tree needs a drafter that proposes ranked candidates (Medusa heads)");
    }
    drafter_ = std::move(drafter);
    draft_max_ = draft_max;
    draft_tree_ = std::move(tree);
    acceptance_ = acceptance;
}

SamplerParams ChatSession::next_reply_sampling() {
    SamplerParams params = options_.sampling;
    params.seed = reply_seeds_.next();
    return params;
}

void ChatSession::reset() {
    turns_.clear();
    sampler_.reset();
    reply_seeds_ = Xoshiro256(options_.sampling.seed);
}

void ChatSession::set_system_prompt(std::string text) {
    options_.system_prompt = std::move(text);
}

void ChatSession::set_turns(std::vector<ChatMessage> turns) {
    for (size_t i = 0; i < turns.size(); ++i) {
        if (turns[i].role != "user" && turns[i].role != "assistant") {
            throw Error("message " + std::to_string(i + 1) + " has the role '" + turns[i].role +
                        "'; a conversation's turns are 'user' or 'assistant'");
        }
    }
    turns_ = std::move(turns);
    sampler_.reset();
}

std::string ChatSession::render(bool merge_system) const {
    ChatTemplateInputs inputs;
    inputs.add_generation_prompt = true;
    if (tokenizer_.bos() >= 0) inputs.bos_token = tokenizer_.token_text(tokenizer_.bos());
    if (tokenizer_.eos() >= 0) inputs.eos_token = tokenizer_.token_text(tokenizer_.eos());
    const std::string& system = options_.system_prompt;
    if (!system.empty() && !merge_system) inputs.messages.push_back({"system", system});
    for (const ChatMessage& turn : turns_) inputs.messages.push_back(turn);
    if (!system.empty() && merge_system) {
        for (ChatMessage& message : inputs.messages) {
            if (message.role != "user") continue;
            message.content = system + "\n\n" + message.content;
            break;
        }
    }
    return template_.render(inputs);
}

std::vector<int32_t> ChatSession::tokenize_turns() const {
    std::string prompt;
    try {
        prompt = render(false);
    } catch (const Error&) {
        // Some templates refuse a system message (Gemma's say "System role not supported").
        // Their models take it as the start of the first user message instead.
        if (options_.system_prompt.empty()) throw;
        prompt = render(true);
    }
    // The template writes the special tokens it wants (often BOS itself) as text; BOS is added
    // only where the vocabulary wants one and the template did not write it.
    std::vector<int32_t> tokens =
        tokenizer_.encode(prompt, {.add_special = false, .parse_special = true});
    const int32_t bos = tokenizer_.bos();
    if (tokenizer_.adds_bos() && bos >= 0 && (tokens.empty() || tokens.front() != bos)) {
        tokens.insert(tokens.begin(), bos);
    }
    return tokens;
}

std::vector<int32_t> ChatSession::fitted_prompt(uint32_t room, uint32_t& dropped) {
    const uint32_t n_positions = context_.n_ctx();
    for (;;) {
        std::vector<int32_t> tokens = tokenize_turns();
        if (tokens.size() + room <= n_positions) return tokens;
        if (turns_.size() <= 1) {
            throw Error("the message does not fit: the prompt is " + std::to_string(tokens.size()) +
                        " tokens, and a context of " + std::to_string(n_positions) +
                        " positions leaves room for " +
                        std::to_string(n_positions > room ? n_positions - room : 0) +
                        " with a reply; start with a larger context (-c)");
        }
        // Drop the oldest exchange; a conversation still starts with a user message.
        turns_.erase(turns_.begin());
        ++dropped;
        while (turns_.size() > 1 && turns_.front().role != "user") {
            turns_.erase(turns_.begin());
            ++dropped;
        }
    }
}

ReplyStats ChatSession::reply(std::string_view user_text,
                              const std::function<void(std::string_view text)>& on_text,
                              const std::function<bool()>& interrupted) {
    ReplyStats stats;
    const std::vector<ChatMessage> turns_before = turns_;
    turns_.push_back({"user", std::string(user_text)});
    std::vector<int32_t> prompt;
    try {
        prompt = fitted_prompt(reply_room(options_, context_.n_ctx()), stats.dropped_turns);
    } catch (...) {
        turns_ = turns_before;
        throw;
    }
    stats.prompt_tokens = static_cast<uint32_t>(prompt.size());

    // Reuse what the context already holds. At least one token is decoded, for its logits.
    const auto mismatch =
        std::mismatch(cached_.begin(), cached_.end(), prompt.begin(), prompt.end());
    size_t shared = static_cast<size_t>(mismatch.first - cached_.begin());
    if (shared == prompt.size()) --shared;
    stats.reused_tokens = static_cast<uint32_t>(shared);

    std::string reply_text;
    try {
        context_.truncate(static_cast<uint32_t>(shared));
        cached_.resize(shared);
        const std::span<const int32_t> new_tokens = std::span(prompt).subspan(shared);
        const auto prompt_start = Clock::now();
        // Plain decoding samples from `logits`; speculative decoding takes the tokens of each
        // verified run from `decoder`, one at a time from `verified`.
        std::span<const float> logits;
        std::optional<SpeculativeDecoder> decoder;
        std::vector<int32_t> verified;
        size_t next_verified = 0;
        if (drafter_) {
            decoder.emplace(context_, *drafter_, next_reply_sampling(), draft_max_, prompt,
                            draft_tree_, acceptance_);
        } else {
            logits = context_.decode(new_tokens, Logits::Last);
            for (int32_t token : new_tokens) sampler_.accept(token);
        }
        stats.prompt_ms = milliseconds_since(prompt_start);
        cached_.insert(cached_.end(), new_tokens.begin(), new_tokens.end());

        TokenStreamer streamer(tokenizer_, options_.show_special);
        StopStringFilter filter(template_.stop_strings());
        // Whitespace around a reply is dropped: prompts end in "Assistant:" or a newline, so
        // models often begin with a space or a blank line, and end with the newline before
        // the next turn's marker. Trailing whitespace is held back until more text follows it.
        std::string held_whitespace;
        const auto emit = [&](const std::string& text) {
            std::string_view shown = text;
            if (reply_text.empty()) {
                const size_t start = shown.find_first_not_of(" \t\r\n");
                shown = start == std::string_view::npos ? std::string_view() : shown.substr(start);
            }
            if (shown.empty()) return;
            const size_t last = shown.find_last_not_of(" \t\r\n");
            if (last == std::string_view::npos) {
                held_whitespace += shown;
                return;
            }
            std::string out = std::exchange(held_whitespace, {});
            out += shown.substr(0, last + 1);
            held_whitespace = shown.substr(last + 1);
            reply_text += out;
            on_text(out);
        };
        const auto generation_start = Clock::now();
        for (bool first = true;; first = false) {
            if (interrupted && interrupted()) {
                stats.end = ReplyEnd::Interrupted;
                break;
            }
            if (options_.max_reply_tokens >= 0 &&
                stats.generated_tokens >= static_cast<uint32_t>(options_.max_reply_tokens)) {
                stats.end = ReplyEnd::TokenLimit;
                break;
            }
            int32_t token = 0;
            if (decoder) {
                if (next_verified == verified.size()) {
                    // The first step is the token sampled after the prompt and needs no room.
                    if (!first && !decoder->room()) {
                        stats.end = ReplyEnd::ContextFull;
                        break;
                    }
                    verified = decoder->step();
                    next_verified = 0;
                }
                token = verified[next_verified++];
            } else {
                token = sampler_.sample(logits);
            }
            if (tokenizer_.is_end_of_generation(token)) break;
            ++stats.generated_tokens;
            emit(filter.push(streamer.push(token)));
            if (decoder) {
                // Cut back to the context below; a verified token is in it already.
                cached_.push_back(token);
                if (filter.stopped()) break;
                continue;
            }
            sampler_.accept(token);
            if (filter.stopped()) break;
            if (context_.position() >= context_.n_ctx()) {
                stats.end = ReplyEnd::ContextFull;
                break;
            }
            logits = context_.decode(std::span(&token, 1), Logits::Last);
            cached_.push_back(token);
        }
        if (decoder) {
            // The context may hold verified tokens past the reply's end, and does not hold the
            // last token of a run. Keep what plain decoding keeps: the reply's tokens, less the
            // one that completed a stop string, as far as the context holds them. The drafter
            // sees the truncation at its next pass.
            if (filter.stopped()) cached_.pop_back();
            cached_.resize(std::min<size_t>(cached_.size(), context_.position()));
            context_.truncate(static_cast<uint32_t>(cached_.size()));
            stats.speculation = decoder->stats();
        }
        if (!filter.stopped()) emit(filter.push(streamer.flush()) + filter.finish());
        stats.generation_ms = milliseconds_since(generation_start);
    } catch (...) {
        turns_ = turns_before;
        cached_.resize(std::min<size_t>(cached_.size(), context_.position()));
        throw;
    }
    turns_.push_back({"assistant", std::move(reply_text)});
    return stats;
}

}  // namespace tessera
