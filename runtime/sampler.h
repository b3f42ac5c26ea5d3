// Choosing the next token from a position's logits, as llama.cpp's default sampler chain does
// (common/common.h, common_params_sampling::samplers; src/llama-sampling.cpp), reproducibly:
// the same seed, logits and accepted tokens give the same choices on every platform.
//
// The chain, in llama.cpp's default order (its DRY, top-n-sigma, typical-p and XTC stages are
// off by default and not provided here):
//
//   penalties -> top-k -> top-p -> min-p -> temperature -> sample
//
//   penalties    over the last penalty_last_n accepted tokens (prompt tokens included): a token
//                seen there has a positive logit divided by repeat_penalty and a negative one
//                multiplied by it, then count * frequency_penalty + presence_penalty subtracted.
//   top-k        keeps the k largest logits.
//   top-p        keeps the smallest set of most probable candidates whose probabilities (softmax
//                over the candidates left, at temperature 1) add up to at least p.
//   min-p        keeps the candidates whose probability is at least min_p times the largest one.
//   temperature  divides the logits by temp; temp <= 0 is greedy: the largest logit after the
//                penalties is chosen, the lowest id among equal ones, and no random number drawn.
//   sample       draws from softmax(logits) over the candidates left.
//
// Each filter keeps at least one candidate (llama.cpp's min_keep = 0 behaves the same).
//
// The random numbers come from xoshiro256** (Blackman and Vigna, 2018) seeded through
// splitmix64, and a uniform double in [0, 1) is the generator's top 53 bits times 2^-53; no
// standard-library distribution is involved, so results do not depend on the library.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <unordered_map>
#include <vector>

namespace tessera {

// Parameters, with llama.cpp's defaults (common_params_sampling).
struct SamplerParams {
    uint64_t seed = 0;
    float temperature = 0.8f;        // <= 0: greedy
    int32_t top_k = 40;              // <= 0: off
    float top_p = 0.95f;             // >= 1: off
    float min_p = 0.05f;             // <= 0: off
    int32_t penalty_last_n = 64;     // tokens the penalties look back over; 0: off, -1: all
    float repeat_penalty = 1.0f;     // 1: off
    float frequency_penalty = 0.0f;  // 0: off
    float presence_penalty = 0.0f;   // 0: off
};

// xoshiro256**: a small, fast generator with 256 bits of state whose output is specified
// exactly, seeded through splitmix64 as its authors recommend.
class Xoshiro256 {
  public:
    explicit Xoshiro256(uint64_t seed);
    uint64_t next();
    // A uniform double in [0, 1): the top 53 bits of next() times 2^-53.
    double uniform();

  private:
    uint64_t state_[4];
};

// A token still in the running, with its (possibly adjusted) logit.
struct Candidate {
    int32_t id;
    float logit;
};

// The chain's stages, on a list of candidates; each keeps at least one. top_k leaves the list
// sorted by logit, largest first; the others keep the order they are given, except top_p, which
// sorts it. Exposed for tests and for callers that build their own chain.
namespace sampling {
// `counts` holds how often each token occurs in the penalty window.
void apply_penalties(std::vector<Candidate>& candidates,
                     const std::unordered_map<int32_t, int32_t>& counts, float repeat_penalty,
                     float frequency_penalty, float presence_penalty);
void top_k(std::vector<Candidate>& candidates, int32_t k);
void top_p(std::vector<Candidate>& candidates, float p);
void min_p(std::vector<Candidate>& candidates, float p);
void apply_temperature(std::vector<Candidate>& candidates, float temperature);
// softmax of the candidates' logits, in their order.
std::vector<double> probabilities(const std::vector<Candidate>& candidates);
// The id of the largest logit, the lowest id among equal ones.
int32_t argmax(const std::vector<Candidate>& candidates);
// Draws one candidate's id with probability softmax(logits), from a uniform u in [0, 1).
int32_t draw(const std::vector<Candidate>& candidates, double u);
}  // namespace sampling

class Sampler {
  public:
    // Throws tessera::Error for parameters out of range (top_p or min_p outside [0, 1], a
    // negative penalty, penalty_last_n below -1).
    explicit Sampler(const SamplerParams& params);

    // Chooses the next token from one position's logits (n_vocab floats). Does not record it;
    // call accept() with the token the sequence goes on with.
    int32_t sample(std::span<const float> logits);
    // Records a token of the sequence, prompt or generated, for the penalties' window.
    void accept(int32_t token);
    // Forgets the accepted tokens and restarts the generator from the seed.
    void reset();

    const SamplerParams& params() const { return params_; }

  private:
    bool penalties_active() const;

    SamplerParams params_;
    Xoshiro256 rng_;
    std::deque<int32_t> window_;                   // the last penalty_last_n accepted tokens
    std::unordered_map<int32_t, int32_t> counts_;  // occurrences of each token in window_
    std::vector<Candidate> candidates_;            // reused between calls
    std::vector<float> penalized_logits_;          // greedy with penalties, reused
};

}  // namespace tessera
