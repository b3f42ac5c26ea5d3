// Tree verification: Context::verify_tree accepts exactly the greedy continuation planted in a
// tree (at any depth, under any branch, or nowhere) on every backend built in, so that greedy
// decoding through trees is plain greedy decoding token for token; after it, the context decodes
// bit for bit (CPU) as one that only ever saw the accepted tokens; and DraftTreeShape builds and
// validates Medusa trees.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/error.h"
#include "runtime/context.h"
#include "runtime/model.h"
#include "runtime/speculative/draft_tree.h"
#include "tests/speculative_fixtures.h"
#include "tests/test_paths.h"

namespace tessera {
namespace {

// The speculative fixtures have two main blocks; gemma3's are sliding-window layers of 4
// positions, which trees outgrow.
const ContextOptions kContextOptions{.n_ctx = 128, .n_batch = 64, .n_threads = 2};

std::vector<int32_t> prompt_of(size_t n, uint32_t n_vocab) {
    std::vector<int32_t> prompt;
    for (size_t i = 0; i < n; ++i) {
        prompt.push_back(static_cast<int32_t>((i * 37 + 5) % n_vocab));
    }
    return prompt;
}

// A tree whose greedy walk must accept exactly `path`: the nodes the walk tries (the root's
// children and the path nodes' children) hold the truth only on the path.
struct PlantedTree {
    std::vector<int32_t> tokens;
    std::vector<int32_t> parents;
    std::vector<int32_t> path;
};

// Makes every tried node wrong except the path's, which get truth[0], truth[1], ...
void plant(PlantedTree& tree, std::span<const int32_t> truth, int32_t n_vocab) {
    std::vector<int32_t> depth(tree.tokens.size());
    for (size_t j = 0; j < tree.tokens.size(); ++j) {
        depth[j] = tree.parents[j] < 0 ? 0 : depth[static_cast<size_t>(tree.parents[j])] + 1;
    }
    const auto on_path = [&](int32_t node) {
        return node < 0 || std::find(tree.path.begin(), tree.path.end(), node) != tree.path.end();
    };
    for (size_t j = 0; j < tree.tokens.size(); ++j) {
        const auto node = static_cast<int32_t>(j);
        // A node deeper than the truth is neither on the path nor a child of a path node (the
        // path is no longer than the truth).
        if (static_cast<size_t>(depth[j]) >= truth.size()) continue;
        const int32_t right = truth[static_cast<size_t>(depth[j])];
        if (on_path(node)) {
            tree.tokens[j] = right;
        } else if (on_path(tree.parents[j]) && tree.tokens[j] == right) {
            tree.tokens[j] = (right + 1) % n_vocab;
        }
    }
}

// A random tree of n_nodes (each node's parent among the four before it, or the root) with a
// random root path of `depth` nodes planted in it (fewer when the tree is not that deep).
PlantedTree random_planted_tree(std::mt19937& rng, size_t n_nodes, size_t depth,
                                std::span<const int32_t> truth, int32_t n_vocab) {
    PlantedTree tree;
    for (size_t j = 0; j < n_nodes; ++j) {
        const int32_t lowest = std::max(-1, static_cast<int32_t>(j) - 4);
        std::uniform_int_distribution<int32_t> parent(lowest, static_cast<int32_t>(j) - 1);
        tree.parents.push_back(parent(rng));
        tree.tokens.push_back(std::uniform_int_distribution<int32_t>(0, n_vocab - 1)(rng));
    }
    // height[j]: nodes on the longest path down from node j, itself included. Children come
    // after their parents, so one backward sweep finds them all.
    std::vector<size_t> height(n_nodes, 1);
    for (size_t j = n_nodes; j-- > 0;) {
        if (tree.parents[j] >= 0) {
            size_t& above = height[static_cast<size_t>(tree.parents[j])];
            above = std::max(above, height[j] + 1);
        }
    }
    int32_t current = -1;
    while (tree.path.size() < depth) {
        // The path goes on through children deep enough to reach `depth`, when there are any.
        const size_t needed = depth - tree.path.size();
        std::vector<int32_t> children;
        std::vector<int32_t> deep_children;
        for (size_t j = 0; j < n_nodes; ++j) {
            if (tree.parents[j] != current) continue;
            children.push_back(static_cast<int32_t>(j));
            if (height[j] >= needed) deep_children.push_back(static_cast<int32_t>(j));
        }
        if (!deep_children.empty()) children = deep_children;
        if (children.empty()) break;
        current = children[std::uniform_int_distribution<size_t>(0, children.size() - 1)(rng)];
        tree.path.push_back(current);
    }
    plant(tree, truth, n_vocab);
    return tree;
}

// A Medusa tree of `shape` whose heads rank the truth at ranks[d] (or nowhere past ranks' end).
PlantedTree medusa_planted_tree(const DraftTreeShape& shape, std::span<const uint32_t> ranks,
                                std::span<const int32_t> truth, int32_t n_vocab) {
    std::vector<std::vector<int32_t>> candidates(shape.depth());
    for (uint32_t d = 0; d < shape.depth(); ++d) {
        for (uint32_t rank = 0; rank < shape.widths()[d]; ++rank) {
            const int32_t right = truth[d];
            candidates[d].push_back(d < ranks.size() && rank == ranks[d]
                                        ? right
                                        : (right + 1 + static_cast<int32_t>(rank)) % n_vocab);
        }
    }
    const DraftTree built = shape.build(candidates);
    PlantedTree tree{built.tokens, built.parents, {}};
    // The walk follows the planted ranks: level by level, the parent's rank-th child.
    int32_t current = -1;
    for (const uint32_t rank : ranks) {
        int32_t seen = 0;
        for (size_t j = 0; j < tree.parents.size(); ++j) {
            if (tree.parents[j] != current) continue;
            if (seen++ == static_cast<int32_t>(rank)) {
                current = static_cast<int32_t>(j);
                break;
            }
        }
        tree.path.push_back(current);
    }
    return tree;
}

backend::VerifyParams greedy() {
    return backend::VerifyParams{};  // temperature 0
}

TEST(TreeVerification, GreedyTreesArePlainGreedyOnEveryBackend) {
    constexpr size_t kGenerated = 40;
    constexpr size_t kMaxDepth = 5;
    for (const std::string& backend : test::backends_present()) {
        for (const std::string arch : {"llama", "gemma3"}) {
            ModelOptions model_options;
            model_options.backend = backend;
            const auto model = Model::load(test::speculative_model(arch), model_options);
            const auto n_vocab = static_cast<int32_t>(model->hparams().n_vocab);
            const std::vector<int32_t> prompt = prompt_of(12, model->hparams().n_vocab);
            const std::vector<int32_t> want =
                test::plain_greedy(model, prompt, kGenerated + kMaxDepth, kContextOptions);

            Context context(model, kContextOptions);
            std::vector<int32_t> out = {test::argmax(context.decode(prompt))};
            std::mt19937 rng(7);
            const DraftTreeShape medusa_shape = DraftTreeShape::parse("3,2,2");
            size_t total_accepted = 0;
            for (uint32_t step = 0; out.size() < kGenerated; ++step) {
                const std::span<const int32_t> truth =
                    std::span<const int32_t>(want).subspan(out.size());
                PlantedTree tree;
                if (step % 3 == 2) {
                    // Medusa trees: the right path under various ranks, as deep as the tree or
                    // stopping short (a wrong head), or absent.
                    const std::vector<std::vector<uint32_t>> rank_choices = {
                        {2, 1, 0}, {0, 1}, {}, {1}, {2, 0, 1}};
                    tree = medusa_planted_tree(medusa_shape, rank_choices[(step / 3) % 5], truth,
                                               n_vocab);
                } else {
                    const size_t n_nodes = 1 + (step * 7) % 24;
                    tree =
                        random_planted_tree(rng, n_nodes, step % (kMaxDepth + 1), truth, n_vocab);
                }
                const uint32_t position_before = context.position();
                const TreeVerdict verdict =
                    context.verify_tree(out.back(), tree.tokens, tree.parents, greedy(), step);
                const std::string where = backend + " " + arch + " step " + std::to_string(step);
                ASSERT_EQ(verdict.accepted_nodes, tree.path) << where;
                ASSERT_EQ(verdict.n_accepted, static_cast<int32_t>(tree.path.size())) << where;
                ASSERT_EQ(verdict.next_token, truth[tree.path.size()]) << where;
                EXPECT_EQ(context.position(), position_before + 1 + tree.path.size()) << where;
                for (const int32_t node : verdict.accepted_nodes) {
                    out.push_back(tree.tokens[static_cast<size_t>(node)]);
                }
                out.push_back(verdict.next_token);
                total_accepted += tree.path.size();
            }
            out.resize(kGenerated);
            EXPECT_EQ(out, std::vector<int32_t>(want.begin(), want.begin() + kGenerated))
                << backend << " " << arch;
            EXPECT_GT(total_accepted, kGenerated / 2) << backend << " " << arch;
        }
    }
}

// After verify_tree the context holds the prompt, the root and the accepted path in consecutive
// positions, as a context that decoded just those tokens does: the next tokens' logits, and the
// hidden states verify_tree returns, agree bit for bit. (The whole sequence stays within one of
// the CPU attention's 64-column tiles, so that the masked columns the tree pass skips change no
// sum.)
TEST(TreeVerification, CacheAfterTreeIsTheAcceptedTokensCache) {
    for (const std::string arch : {"llama", "gemma3", "qwen3"}) {
        const auto model = Model::load(test::speculative_model(arch));
        const auto n_vocab = static_cast<int32_t>(model->hparams().n_vocab);
        const size_t n_embd = model->hparams().n_embd;
        const std::vector<int32_t> prompt = prompt_of(9, model->hparams().n_vocab);
        const std::vector<int32_t> want = test::plain_greedy(model, prompt, 8, kContextOptions);
        const ContextOptions options{
            .n_ctx = 64, .n_batch = 32, .n_threads = 2, .keep_hidden_states = true};
        std::mt19937 rng(11);
        for (const size_t depth : {size_t{0}, size_t{1}, size_t{3}, size_t{5}}) {
            const std::string where = arch + " depth " + std::to_string(depth);
            const PlantedTree tree = random_planted_tree(
                rng, 24, depth, std::span<const int32_t>(want).subspan(1), n_vocab);
            ASSERT_EQ(tree.path.size(), depth) << where << ": the random tree is too shallow";

            Context speculative(model, options);
            speculative.decode(prompt);
            const TreeVerdict verdict =
                speculative.verify_tree(want[0], tree.tokens, tree.parents, greedy(), 0);
            ASSERT_EQ(verdict.accepted_nodes, tree.path) << where;
            const std::vector<float> tree_hidden(speculative.hidden_states().begin(),
                                                 speculative.hidden_states().end());

            Context plain(model, options);
            plain.decode(prompt);
            std::vector<int32_t> accepted = {want[0]};
            for (const int32_t node : tree.path) {
                accepted.push_back(tree.tokens[static_cast<size_t>(node)]);
            }
            plain.decode(accepted, Logits::All);
            ASSERT_EQ(tree_hidden.size(), accepted.size() * n_embd) << where;
            EXPECT_EQ(std::memcmp(tree_hidden.data(), plain.hidden_states().data(),
                                  tree_hidden.size() * sizeof(float)),
                      0)
                << where << ": hidden states differ";
            ASSERT_EQ(speculative.position(), plain.position()) << where;

            // Two more tokens: the next one, then the greedy one after it.
            int32_t next = verdict.next_token;
            EXPECT_EQ(next, want[depth + 1]) << where;
            for (int round = 0; round < 2; ++round) {
                const std::span<const float> want_logits = plain.decode({&next, 1});
                const std::vector<float> want_copy(want_logits.begin(), want_logits.end());
                const std::span<const float> got = speculative.decode({&next, 1});
                ASSERT_EQ(got.size(), want_copy.size());
                EXPECT_EQ(std::memcmp(got.data(), want_copy.data(), got.size() * sizeof(float)), 0)
                    << where << " round " << round << ": logits differ";
                next = test::argmax(want_copy);
            }
        }
    }
}

// Sampled verification walks the tree by rejection sampling on the device; whatever path it
// takes, the context afterwards is the one that decoded that path (CPU, bit for bit).
TEST(TreeVerification, SampledTreesKeepThePathTheyAccept) {
    const auto model = Model::load(test::speculative_model("gemma3"));
    const auto n_vocab = static_cast<int32_t>(model->hparams().n_vocab);
    const std::vector<int32_t> prompt = prompt_of(6, model->hparams().n_vocab);
    const std::vector<int32_t> want = test::plain_greedy(model, prompt, 40, kContextOptions);
    const ContextOptions options{.n_ctx = 64, .n_batch = 32, .n_threads = 2};
    backend::VerifyParams sampled;
    sampled.temperature = 0.7f;
    std::mt19937 rng(3);
    size_t total_accepted = 0;
    for (uint64_t seed = 1; seed <= 8; ++seed) {
        // Greedy tokens at every depth of every branch: likely, so that some get accepted.
        PlantedTree tree = random_planted_tree(rng, 20, 0, want, n_vocab);
        std::vector<int32_t> depth(tree.tokens.size());
        for (size_t j = 0; j < tree.tokens.size(); ++j) {
            depth[j] = tree.parents[j] < 0 ? 0 : depth[static_cast<size_t>(tree.parents[j])] + 1;
            tree.tokens[j] = want[1 + static_cast<size_t>(depth[j])];
        }
        Context speculative(model, options);
        speculative.decode(prompt);
        const TreeVerdict verdict =
            speculative.verify_tree(want[0], tree.tokens, tree.parents, sampled, seed);
        const std::string where = "seed " + std::to_string(seed);
        ASSERT_EQ(verdict.accepted_nodes.size(), static_cast<size_t>(verdict.n_accepted)) << where;
        total_accepted += verdict.accepted_nodes.size();

        Context plain(model, options);
        plain.decode(prompt);
        std::vector<int32_t> accepted = {want[0]};
        int32_t parent = -1;
        for (const int32_t node : verdict.accepted_nodes) {
            EXPECT_EQ(tree.parents[static_cast<size_t>(node)], parent) << where;
            parent = node;
            accepted.push_back(tree.tokens[static_cast<size_t>(node)]);
        }
        plain.decode(accepted);
        ASSERT_EQ(speculative.position(), plain.position()) << where;
        const std::span<const float> want_logits = plain.decode({&verdict.next_token, 1});
        const std::vector<float> want_copy(want_logits.begin(), want_logits.end());
        const std::span<const float> got = speculative.decode({&verdict.next_token, 1});
        ASSERT_EQ(got.size(), want_copy.size());
        EXPECT_EQ(std::memcmp(got.data(), want_copy.data(), got.size() * sizeof(float)), 0)
            << where;
    }
    EXPECT_GT(total_accepted, 0u) << "no sampled step accepted a node: nothing was compacted";
}

TEST(TreeVerification, ChecksItsArguments) {
    const auto model = Model::load(test::speculative_model("llama"));
    Context context(model, ContextOptions{.n_ctx = 16, .n_batch = 4, .n_threads = 1});
    context.decode(std::vector<int32_t>{1, 2});
    const backend::VerifyParams params;
    const std::vector<int32_t> none;
    EXPECT_THROW(context.verify_tree(1, none, none, params, 0), Error);
    EXPECT_THROW(
        context.verify_tree(1, std::vector<int32_t>{1, 2}, std::vector<int32_t>{-1}, params, 0),
        Error);  // a parent per node
    EXPECT_THROW(
        context.verify_tree(1, std::vector<int32_t>{1, 2}, std::vector<int32_t>{-1, 1}, params, 0),
        Error);  // a node its own parent
    EXPECT_THROW(
        context.verify_tree(1, std::vector<int32_t>{1, 2}, std::vector<int32_t>{-2, 0}, params, 0),
        Error);
    EXPECT_THROW(context.verify_tree(1, std::vector<int32_t>{1, 2, 3, 4},
                                     std::vector<int32_t>{-1, -1, -1, -1}, params, 0),
                 Error);  // > n_batch - 1 nodes
    EXPECT_THROW(
        context.verify_tree(1, std::vector<int32_t>{1, -3}, std::vector<int32_t>{-1, 0}, params, 0),
        Error);
    EXPECT_THROW(
        context.verify_tree(-1, std::vector<int32_t>{1}, std::vector<int32_t>{-1}, params, 0),
        Error);
    EXPECT_EQ(context.position(), 2u);

    Context full(model, ContextOptions{.n_ctx = 4, .n_batch = 4, .n_threads = 1});
    full.decode(std::vector<int32_t>{1, 2});
    EXPECT_THROW(
        full.verify_tree(1, std::vector<int32_t>{1, 2}, std::vector<int32_t>{-1, -1}, params, 0),
        Error);  // no room
    EXPECT_EQ(full.position(), 2u);
}

TEST(DraftTree, BuildsLevelByLevelInRankOrder) {
    const DraftTreeShape shape = DraftTreeShape::parse("2,3");
    EXPECT_EQ(shape.depth(), 2u);
    EXPECT_EQ(shape.n_nodes(), 2u + 6u);
    const std::vector<std::vector<int32_t>> candidates = {{10, 11, 12}, {20, 21, 22, 23}};
    const DraftTree tree = shape.build(candidates);
    EXPECT_EQ(tree.tokens, (std::vector<int32_t>{10, 11, 20, 21, 22, 20, 21, 22}));
    EXPECT_EQ(tree.parents, (std::vector<int32_t>{-1, -1, 0, 0, 0, 1, 1, 1}));

    const DraftTreeShape deep = DraftTreeShape::parse("4,2,2");
    EXPECT_EQ(deep.n_nodes(), 4u + 8u + 16u);
    const DraftTree built = deep.build(std::vector<std::vector<int32_t>>{
        {1, 2, 3, 4}, {5, 6}, {7, 8}, {9}});  // a fourth head goes unused
    ASSERT_EQ(built.tokens.size(), 28u);
    for (size_t j = 0; j < built.parents.size(); ++j) {
        EXPECT_LT(built.parents[j], static_cast<int32_t>(j)) << "node " << j;
    }
    // Node 12, the first of depth 3, is under node 4 (the first of depth 2, under node 0).
    EXPECT_EQ(built.parents[4], 0);
    EXPECT_EQ(built.parents[12], 4);
    EXPECT_EQ(built.tokens[12], 7);
    EXPECT_EQ(built.parents[27], 11);
    EXPECT_EQ(built.tokens[27], 8);

    const DraftTreeShape chain = DraftTreeShape::parse("1,1,1");
    EXPECT_EQ(chain.build(std::vector<std::vector<int32_t>>{{3}, {4}, {5}}).parents,
              (std::vector<int32_t>{-1, 0, 1}));
    EXPECT_EQ(DraftTreeShape::parse("64").n_nodes(), 64u);
}

TEST(DraftTree, RefusesBadWidthsAndTooFewCandidates) {
    for (const char* text : {"", ",", "4,", ",4", "4,,2", "4,x", "0", "4,2,0", "-1", "4 ,2", " 4",
                             "+4", "65", "8,8", "4,4,4", "99999999999999999999999"}) {
        try {
            (void)DraftTreeShape::parse(text);
            ADD_FAILURE() << "'" << text << "' was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("draft tree"), std::string::npos) << e.what();
        }
    }
    EXPECT_THROW(DraftTreeShape(std::vector<uint32_t>{}), Error);
    const DraftTreeShape shape = DraftTreeShape::parse("2,2");
    EXPECT_THROW(shape.build(std::vector<std::vector<int32_t>>{{1, 2}}), Error);  // one head
    EXPECT_THROW(shape.build(std::vector<std::vector<int32_t>>{{1, 2}, {3}}), Error);
}

}  // namespace
}  // namespace tessera
