#include "runtime/speculative/ngram_drafter.h"

#include <algorithm>

#include "formats/error.h"

namespace tessera {

NgramDrafter::NgramDrafter(const NgramOptions& options) : options_(options) {
    if (options.min_ngram == 0 || options.min_ngram > options.max_ngram) {
        throw Error("n-gram drafter: the n-gram lengths must satisfy 1 <= min <= max");
    }
}

std::vector<int32_t> NgramDrafter::draft(std::span<const int32_t> history, size_t max_tokens) {
    const size_t length = history.size();
    if (max_tokens == 0) return {};
    for (size_t n = std::min(options_.max_ngram, length > 0 ? length - 1 : 0);
         n >= options_.min_ngram && n > 0; --n) {
        const std::span<const int32_t> suffix = history.subspan(length - n);
        // The most recent earlier occurrence: recent text predicts best. A match must leave at
        // least one token after it, and must not be the suffix itself.
        for (size_t start = length - n; start-- > 0;) {
            if (!std::equal(suffix.begin(), suffix.end(), history.begin() + start)) continue;
            const size_t from = start + n;
            const size_t count = std::min(max_tokens, length - from);
            return {history.begin() + static_cast<std::ptrdiff_t>(from),
                    history.begin() + static_cast<std::ptrdiff_t>(from + count)};
        }
    }
    return {};
}

}  // namespace tessera
