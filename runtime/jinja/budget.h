// Limits on what one render may do, and the meter that enforces them, so that no template (a
// GGUF file is untrusted input) can make the interpreter run forever, recurse without bound or
// exhaust memory. Every failure is a Failure saying which limit was reached.
//
// Work is charged by what it touches, not by the operation: every statement, expression and
// loop iteration is a step, and whatever does work in proportion to the size of its data (text
// copied, searched or converted; items copied, compared or sorted) charges the budget for that
// too, before or while doing it. So a few steps of a template cannot hide seconds of work on a
// 30 MB string or a million-item list, and what a render makes is counted as it is made.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tessera::jinja {

struct Limits {
    size_t max_text_bytes = size_t{32} << 20;  // the output, and any one string
    size_t max_items = size_t{1} << 20;        // any one list, tuple or dict
    // All the text and container items a render makes, counted when they are made (see
    // Budget::allocate_text). Nothing is credited back when a value is freed, so this
    // over-counts what is live at any one time: it bounds what a render may make in all, which
    // real templates stay far below (they make a few times the conversation's size: 1-2 MB for
    // 200 messages of 2 KB).
    size_t max_memory_bytes = size_t{256} << 20;
    int max_call_depth = 64;  // nested macro calls and recursive loops
    // Work, in steps of about 50 ns in a release build (see Budget for what a step buys):
    // twenty million take about a second. Real templates need a few dozen per message and one
    // per few bytes of message text they trim or escape: 50,000-180,000 for 200 messages of
    // 2 KB, under 1%.
    uint64_t max_steps = 20'000'000;
};

class Budget {
  public:
    // What a step buys, measured on a release build. Steps are kept in units of 1/64 step so
    // that small amounts of text add up exactly.
    static constexpr uint64_t kUnitsPerStep = 64;
    // Copying, comparing, searching or hashing bytes in bulk (memcpy, memchr, memcmp) runs at
    // several GB/s even out of cache: 32 bytes a step.
    static constexpr uint64_t kUnitsPerByte = 2;
    // Decoding UTF-8 and mapping, classifying or escaping one code point at a time runs at
    // 5-15 ns a character: 4 characters a step.
    static constexpr uint64_t kUnitsPerCharacter = 16;
    // What one item of a list, tuple or dict is counted as taking: a Value (40 bytes) and its
    // share of the container, or of a dict's index.
    static constexpr size_t kItemBytes = 64;

    explicit Budget(const Limits& limits);

    const Limits& limits() const { return limits_; }

    // Work. Each throws Failure once the total passes max_steps.
    // Small operations: a statement, a loop iteration, a macro call, a match found, and an item
    // visited, compared, copied or made.
    void charge(uint64_t steps) { spend(steps, kUnitsPerStep); }
    // Bytes of text copied, compared, searched or hashed in bulk.
    void charge_bytes(uint64_t bytes) { spend(bytes, kUnitsPerByte); }
    // Code points decoded, case-mapped, classified or escaped one at a time.
    void charge_characters(uint64_t count) { spend(count, kUnitsPerCharacter); }

    // Throw Failure when a string or container about to be made, or grown to this size, would
    // pass its limit.
    void check_text(size_t bytes) const {
        if (bytes > limits_.max_text_bytes) text_too_long();
    }
    void check_items(size_t count) const {
        if (count > limits_.max_items) too_many_items();
    }

    // New values: `bytes` of text, or `count` items of a list, tuple or dict (a dict entry is
    // two), about to be made or added. Counts them against max_memory_bytes and charges the
    // work of writing them; throws Failure past either limit.
    void allocate_text(size_t bytes) {
        count_memory(bytes, 1);
        charge_bytes(bytes);
    }
    void allocate_items(size_t count) {
        count_memory(count, kItemBytes);
        charge(count);
    }

  private:
    void spend(uint64_t amount, uint64_t units_each) {
        // Compared before adding, so that no amount can overflow the count.
        if (amount > (max_units_ - units_) / units_each) out_of_steps();
        units_ += amount * units_each;
    }
    void count_memory(uint64_t amount, uint64_t bytes_each) {
        if (amount > (limits_.max_memory_bytes - memory_) / bytes_each) out_of_memory();
        memory_ += amount * bytes_each;
    }
    [[noreturn]] void out_of_steps() const;
    [[noreturn]] void out_of_memory() const;
    [[noreturn]] void text_too_long() const;
    [[noreturn]] void too_many_items() const;

    Limits limits_;
    uint64_t max_units_;
    uint64_t units_ = 0;
    uint64_t memory_ = 0;
};

}  // namespace tessera::jinja
