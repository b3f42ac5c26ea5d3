#include "runtime/jinja/budget.h"

#include <string>

#include "runtime/jinja/failure.h"

namespace tessera::jinja {

void Budget::charge(uint64_t steps) {
    steps_ += steps;
    if (steps_ > limits_.max_steps) {
        throw Failure("the template did more than " + std::to_string(limits_.max_steps) +
                      " steps of work; it may loop forever");
    }
}

void Budget::check_text(size_t bytes) const {
    if (bytes > limits_.max_text_bytes) {
        throw Failure("a string or the output would be longer than " +
                      std::to_string(limits_.max_text_bytes) + " bytes");
    }
}

void Budget::check_items(size_t count) const {
    if (count > limits_.max_items) {
        throw Failure("a list or dict would hold more than " + std::to_string(limits_.max_items) +
                      " items");
    }
}

}  // namespace tessera::jinja
