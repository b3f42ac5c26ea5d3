// Whether a draft model's tokens mean the same as the target's, so that its drafts can be
// verified by the target without translation. The checks follow the ones llama.cpp makes before
// speculative decoding with a draft model (common/speculative.cpp): the same tokenizer model,
// the same BOS/EOS handling and ids, vocabulary sizes within 128 of each other, and the same
// text for every token id both have (llama.cpp starts that comparison at id 5; here every id is
// compared, since tessera's vocabularies are read whole).
#pragma once

#include "runtime/model.h"

namespace tessera {

// Most tokens a draft vocabulary may have more or fewer than the target's.
inline constexpr uint32_t kMaxDraftVocabularyDifference = 128;

// Throws tessera::Error naming both files and the first mismatch found.
void check_draft_vocabulary(const Model& target, const Model& draft);

}  // namespace tessera
