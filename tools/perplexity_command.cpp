// `tessera perplexity`: the standard chunked perplexity of llama.cpp's llama-perplexity
// (tools/perplexity/perplexity.cpp, perplexity()):
//   - the tokenized text is cut into chunks of n_ctx tokens (only whole chunks; at least two);
//   - each chunk is run from an empty context, its first token replaced by BOS when the model's
//     tokenizer adds one;
//   - only the second half is scored, so that every scored token has at least n_ctx/2 tokens
//     before it: the logits at positions first = n_ctx/2 .. n_ctx-2 predict the tokens at
//     first+1 .. n_ctx-1, each giving the negative log-likelihood -log softmax(logits)[token];
//   - PPL = exp(mean NLL), printed after each chunk as "[i]running,", and at the end with its
//     error as llama.cpp computes it: the standard error of the mean NLL times PPL.
// The first half of a chunk runs with last-token logits only and the scored positions with all
// logits, so that only the logits that are scored are kept; the chunk's last token is never
// scored, so it is not run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/arg_parser.h"
#include "tools/commands.h"
#include "tools/runtime_flags.h"
#include "tools/text_file.h"
#include "tools/token_ids.h"

namespace tessera::tools {

namespace {

using Clock = std::chrono::steady_clock;

// -log softmax(row)[token], as llama.cpp computes it: float exponentials summed in double.
double negative_log_likelihood(std::span<const float> row, int32_t token) {
    float max_logit = row[0];
    for (float v : row) max_logit = std::max(max_logit, v);
    double sum = 0.0;
    for (float v : row) sum += static_cast<double>(std::exp(v - max_logit));
    return static_cast<double>(max_logit) + std::log(sum) -
           static_cast<double>(row[static_cast<size_t>(token)]);
}

// The NLL of each row, rows split among `n_threads` threads; the result does not depend on how
// many there are.
std::vector<double> row_nlls(std::span<const float> logits, uint32_t n_vocab,
                             std::span<const int32_t> targets, int n_threads) {
    std::vector<double> nll(targets.size());
    const auto work = [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) {
            nll[i] = negative_log_likelihood(logits.subspan(i * n_vocab, n_vocab), targets[i]);
        }
    };
    const size_t n = targets.size();
    const size_t parts =
        std::clamp<size_t>(static_cast<size_t>(n_threads), 1, std::max<size_t>(n, 1));
    std::vector<std::thread> workers;
    for (size_t p = 1; p < parts; ++p)
        workers.emplace_back(work, n * p / parts, n * (p + 1) / parts);
    work(0, n / parts);
    for (std::thread& w : workers) w.join();
    return nll;
}

struct Totals {
    double nll = 0.0;   // sum of NLLs
    double nll2 = 0.0;  // sum of squared NLLs
    uint64_t count = 0;
};

}  // namespace

int run_perplexity(const Args& args) {
    RuntimeFlags runtime;
    runtime.n_ctx = 512;
    std::string text_file, ids_file;
    int64_t max_chunks = -1;
    ArgParser parser(
        "tessera perplexity",
        "Compute a model's perplexity over a text as llama-perplexity does: whole chunks of -c\n"
        "tokens, each started afresh with BOS, scoring the second half of each. Prints the\n"
        "running estimate after each chunk and the final one with its error. The text is\n"
        "tokenized with the model's vocabulary (BOS first, as llama-perplexity does), or given\n"
        "as token ids with --ids-file.");
    parser.option("-f, --file", &text_file, "FILE", "the text");
    parser.option("--ids-file", &ids_file, "FILE", "the text's token ids, whitespace-separated");
    parser.option("--chunks", &max_chunks, "N", "score at most N chunks; -1: all (default: -1)");
    runtime.add_to(parser);
    if (!parser.parse(args)) return 0;

    if (!text_file.empty() && !ids_file.empty())
        throw UsageError("give -f or --ids-file, not both");
    if (text_file.empty() && ids_file.empty()) {
        throw UsageError("no input: give the text with -f FILE or its token ids with --ids-file");
    }
    if (max_chunks < -1 || max_chunks == 0) throw UsageError("--chunks must be -1 (all) or from 1");
    ContextOptions context_options = runtime.context_options();
    const ModelOptions model_options = runtime.model_options();
    std::vector<int32_t> tokens;
    if (!ids_file.empty()) tokens = read_token_ids_file(ids_file);
    const std::string& source = ids_file.empty() ? text_file : ids_file;

    const std::shared_ptr<const Model> model = Model::load(runtime.model_path(), model_options);
    if (!text_file.empty()) {
        const Tokenizer* tokenizer = model->tokenizer();
        if (tokenizer == nullptr) {
            throw Error(model->file().path() +
                        ": the file has no vocabulary (tokenizer.ggml.*) to tokenize " + text_file +
                        " with; give its token ids with --ids-file");
        }
        tokens = tokenizer->encode(read_text_file(text_file), {.add_special = true});
    }
    Context context(model, context_options);
    const uint32_t n_ctx = context.n_ctx();
    const uint32_t n_vocab = context.n_vocab();
    check_token_ids(tokens, n_vocab, source);
    if (n_ctx < 3) throw UsageError("-c must be at least 3 to score any token");
    if (tokens.size() < 2 * static_cast<size_t>(n_ctx)) {
        std::string message = "perplexity needs at least ";
        message.append(std::to_string(2 * static_cast<size_t>(n_ctx)))
            .append(" tokens with a context of ")
            .append(std::to_string(n_ctx))
            .append("; ")
            .append(source)
            .append(" holds ")
            .append(std::to_string(tokens.size()));
        throw Error(message);
    }
    const SpecialTokens special = read_special_tokens(model->file());
    size_t n_chunks = tokens.size() / n_ctx;
    if (max_chunks > 0) n_chunks = std::min(n_chunks, static_cast<size_t>(max_chunks));
    const uint32_t first = n_ctx / 2;
    const uint32_t scored = n_ctx - first - 1;
    std::fprintf(stderr,
                 "tessera perplexity: %zu tokens, %zu chunks of %u, scoring %u tokens of each, "
                 "%s BOS, %d threads\n",
                 tokens.size(), n_chunks, n_ctx, scored,
                 special.add_bos ? "chunks start with" : "no", runtime.threads_used());

    Totals totals;
    std::vector<int32_t> chunk(n_ctx);
    for (size_t c = 0; c < n_chunks; ++c) {
        const auto start = Clock::now();
        const auto begin = tokens.begin() + static_cast<std::ptrdiff_t>(c * n_ctx);
        std::copy(begin, begin + n_ctx, chunk.begin());
        if (special.add_bos) chunk[0] = *special.bos;
        context.reset();
        const std::span<const int32_t> all(chunk);
        context.decode(all.first(first), Logits::Last);
        const std::span<const float> logits =
            context.decode(all.subspan(first, scored), Logits::All);
        const std::vector<double> nll =
            row_nlls(logits, n_vocab, all.subspan(first + 1, scored), runtime.threads_used());
        for (double v : nll) {
            totals.nll += v;
            totals.nll2 += v * v;
        }
        totals.count += nll.size();
        if (c == 0) {
            const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
            std::fprintf(stderr,
                         "tessera perplexity: %.2f seconds per chunk, about %.1f minutes in all\n",
                         seconds, seconds * static_cast<double>(n_chunks) / 60.0);
        }
        std::printf("[%zu]%.4f,", c + 1, std::exp(totals.nll / static_cast<double>(totals.count)));
        std::fflush(stdout);
    }
    std::printf("\n");

    const double count = static_cast<double>(totals.count);
    const double mean = totals.nll / count;
    const double ppl = std::exp(mean);
    const double variance = totals.nll2 / count - mean * mean;
    if (variance > 0.0 && totals.count > 1) {
        const double error = std::sqrt(variance / (count - 1.0)) * ppl;
        std::printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, error);
    } else {
        std::printf("Final estimate: PPL = %.4f (no error estimate: the NLLs do not vary)\n", ppl);
    }
    return 0;
}

}  // namespace tessera::tools
