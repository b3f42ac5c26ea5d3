// Limits on what one render may do, and the meter that enforces them, so that no template (a
// GGUF file is untrusted input) can make the interpreter run forever, recurse without bound or
// exhaust memory. Every failure is a Failure saying which limit was reached.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tessera::jinja {

struct Limits {
    size_t max_text_bytes = size_t{32} << 20;  // the output, and any one string
    size_t max_items = size_t{1} << 20;        // any one list, tuple or dict
    int max_call_depth = 64;                   // nested macro calls and recursive loops
    // Statements run, loop iterations and items made: a real template needs tens per message;
    // twenty million take about a second in a release build.
    uint64_t max_steps = 20'000'000;
};

class Budget {
  public:
    explicit Budget(const Limits& limits) : limits_(limits) {}

    const Limits& limits() const { return limits_; }
    // Counts work; throws Failure once the total passes max_steps.
    void charge(uint64_t steps);
    // Throw Failure when a string or container about to be made would pass its limit.
    void check_text(size_t bytes) const;
    void check_items(size_t count) const;

  private:
    Limits limits_;
    uint64_t steps_ = 0;
};

}  // namespace tessera::jinja
