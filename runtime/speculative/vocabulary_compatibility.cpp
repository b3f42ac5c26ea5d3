#include "runtime/speculative/vocabulary_compatibility.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "formats/error.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tessera {

void check_draft_vocabulary(const Model& target, const Model& draft) {
    const std::string pair =
        "draft model " + draft.file().path() + " and target " + target.file().path();
    const auto fail = [&](const std::string& what) {
        throw Error(pair + " have incompatible vocabularies: " + what);
    };
    const Tokenizer* t = target.tokenizer();
    const Tokenizer* d = draft.tokenizer();
    if (t == nullptr || d == nullptr) {
        fail(std::string(t == nullptr ? "the target" : "the draft") +
             " has no vocabulary (tokenizer.ggml.*) to compare");
    }
    if (t->model_name() != d->model_name()) {
        fail("tokenizer model '" + std::string(d->model_name()) + "' against '" +
             std::string(t->model_name()) + "'");
    }
    if (t->adds_bos() != d->adds_bos() || t->adds_eos() != d->adds_eos()) {
        fail("they differ in adding BOS or EOS to a prompt");
    }
    if (t->bos() != d->bos()) {
        fail("BOS is token " + std::to_string(d->bos()) + " against " + std::to_string(t->bos()));
    }
    if (t->eos() != d->eos()) {
        fail("EOS is token " + std::to_string(d->eos()) + " against " + std::to_string(t->eos()));
    }
    const uint32_t n_target = target.hparams().n_vocab;
    const uint32_t n_draft = draft.hparams().n_vocab;
    const uint32_t difference = n_target > n_draft ? n_target - n_draft : n_draft - n_target;
    if (difference > kMaxDraftVocabularyDifference) {
        fail(std::to_string(n_draft) + " tokens against " + std::to_string(n_target) +
             ", more than " + std::to_string(kMaxDraftVocabularyDifference) + " apart");
    }
    const uint32_t shared = std::min({n_target, n_draft, t->n_vocab(), d->n_vocab()});
    for (uint32_t id = 0; id < shared; ++id) {
        const auto token = static_cast<int32_t>(id);
        if (t->token_text(token) != d->token_text(token)) {
            fail("token " + std::to_string(id) + " is '" + d->token_text(token) + "' against '" +
                 t->token_text(token) + "'");
        }
    }
}

}  // namespace tessera
