// A conversation with a model: the turns so far, rendered through the model's chat template,
// and the context that holds them. Each reply re-renders the whole conversation and decodes
// only what the context does not already hold (the shared prefix stays cached), so a turn costs
// the tokens of the new message, not of the conversation.
//
// When the conversation no longer fits the context, the oldest turns are dropped (the system
// prompt always stays) until the rendered prompt leaves room for a reply.
//
// Replies can be generated speculatively (runtime/speculative/speculative_decoder.h): a drafter
// guesses, the context verifies, and the reply is the one plain decoding gives. The context is
// truncated back to the reply's tokens when a reply ends inside a verified run, and the
// drafter follows every truncation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/chat_template.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "runtime/speculative/draft_tree.h"
#include "runtime/speculative/drafter.h"
#include "runtime/speculative/speculative_stats.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tessera {

struct ChatOptions {
    std::string system_prompt;  // empty: none
    SamplerParams sampling;
    int32_t max_reply_tokens = -1;  // -1: until the end of the turn or a full context
    bool show_special = false;      // print control tokens the reply contains
};

enum class ReplyEnd : uint8_t {
    EndOfTurn,    // the model ended its turn (an end-of-generation token or a stop string)
    Interrupted,  // the caller asked to stop
    TokenLimit,   // max_reply_tokens reached
    ContextFull,  // no position left in the context
};

struct ReplyStats {
    uint32_t prompt_tokens = 0;     // tokens of the rendered conversation
    uint32_t reused_tokens = 0;     // of those, already in the context from earlier turns
    uint32_t generated_tokens = 0;  // tokens of the reply
    uint32_t dropped_turns = 0;     // older messages dropped to make room for this reply
    double prompt_ms = 0.0;         // decoding the new prompt tokens
    double generation_ms = 0.0;     // sampling and decoding the reply
    ReplyEnd end = ReplyEnd::EndOfTurn;
    SpeculativeStats speculation;  // the reply's target passes, when the session speculates
};

class ChatSession {
  public:
    // Throws tessera::Error when the context cannot be created (see Context).
    ChatSession(std::shared_ptr<const Model> model, const Tokenizer& tokenizer,
                ChatTemplate chat_template, const ContextOptions& context_options,
                ChatOptions options);

    // Adds the user's message and generates the reply, handing its text to `on_text` as it comes
    // (whole UTF-8 characters only, without the whitespace a reply may begin or end with).
    // `interrupted` is asked before each token; when it says yes, the reply ends there. The reply,
    // whole or cut short, becomes part of the conversation. Throws tessera::Error when the template
    // fails or when the message alone does not fit the context; the conversation is then as it was
    // before the call.
    ReplyStats reply(std::string_view user_text,
                     const std::function<void(std::string_view text)>& on_text,
                     const std::function<bool()>& interrupted = {});

    // Generates the replies from now on with speculative decoding: `drafter` proposes up to
    // draft_max tokens per pass of the context, or, with `tree`, the candidates of a draft tree
    // of that shape. Throws tessera::Error for draft_max 0, sampling that speculation cannot
    // reproduce (check_speculative_sampling), a drafter that reads hidden states when the
    // context does not keep them (ContextOptions::keep_hidden_states), or a tree with a drafter
    // that proposes no candidates.
    void speculate(std::unique_ptr<Drafter> drafter, size_t draft_max,
                   std::optional<DraftTreeShape> tree = std::nullopt,
                   backend::Acceptance acceptance = backend::Acceptance::Exact);
    bool speculates() const { return drafter_ != nullptr; }

    // Forgets the turns; the system prompt stays.
    void reset();
    void set_system_prompt(std::string text);
    const std::string& system_prompt() const { return options_.system_prompt; }
    // The user and assistant messages, oldest first, without the system prompt.
    const std::vector<ChatMessage>& turns() const { return turns_; }
    // Replaces the turns (a conversation loaded from a file). Throws tessera::Error for a role
    // other than "user" and "assistant".
    void set_turns(std::vector<ChatMessage> turns);

    const ChatTemplate& chat_template() const { return template_; }
    uint32_t n_ctx() const { return context_.n_ctx(); }
    // Positions the context holds now.
    uint32_t n_cached() const { return static_cast<uint32_t>(cached_.size()); }

  private:
    // The prompt for the current turns, as tokens, after dropping old turns until it leaves
    // `room` positions for the reply. Counts the dropped messages in `dropped`.
    std::vector<int32_t> fitted_prompt(uint32_t room, uint32_t& dropped);
    std::vector<int32_t> tokenize_turns() const;
    std::string render(bool merge_system) const;
    // The sampling of the next speculative reply: the session's, with a seed of its own, so
    // that replies do not repeat one random stream.
    SamplerParams next_reply_sampling();

    std::shared_ptr<const Model> model_;
    const Tokenizer& tokenizer_;
    ChatTemplate template_;
    ChatOptions options_;
    Context context_;
    Sampler sampler_;
    std::unique_ptr<Drafter> drafter_;  // null: plain decoding
    size_t draft_max_ = 0;
    std::optional<DraftTreeShape> draft_tree_;  // none: chains
    backend::Acceptance acceptance_ = backend::Acceptance::Exact;
    Xoshiro256 reply_seeds_;  // one seed per speculative reply
    std::vector<ChatMessage> turns_;
    std::vector<int32_t> cached_;  // the tokens the context holds, in order
};

}  // namespace tessera
