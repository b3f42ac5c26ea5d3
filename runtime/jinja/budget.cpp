#include "runtime/jinja/budget.h"

#include <limits>
#include <string>

#include "runtime/jinja/failure.h"

namespace tessera::jinja {

Budget::Budget(const Limits& limits)
    : limits_(limits),
      max_units_(limits.max_steps > std::numeric_limits<uint64_t>::max() / kUnitsPerStep
                     ? std::numeric_limits<uint64_t>::max()
                     : limits.max_steps * kUnitsPerStep) {}

void Budget::out_of_steps() const {
    throw Failure("the template did more than " + std::to_string(limits_.max_steps) +
                  " steps of work; it may loop forever");
}

void Budget::text_too_long() const {
    throw Failure("a string or the output would be longer than " +
                  std::to_string(limits_.max_text_bytes) + " bytes");
}

void Budget::too_many_items() const {
    throw Failure("a list or dict would hold more than " + std::to_string(limits_.max_items) +
                  " items");
}

void Budget::out_of_memory() const {
    throw Failure("the template made more than " + std::to_string(limits_.max_memory_bytes) +
                  " bytes of strings and containers; it may use too much memory");
}

}  // namespace tessera::jinja
