// The names every template sees besides its context, as transformers sets them up: range,
// dict, namespace, joiner, cycler, raise_exception(message) and strftime_now(format).
#pragma once

#include <ctime>
#include <functional>
#include <optional>
#include <string>

#include "runtime/jinja/arguments.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

// A function implemented in C++ that a template can call.
class BuiltinFunction : public Object {
  public:
    using Function = std::function<Value(Arguments&, Interpreter&)>;
    BuiltinFunction(std::string name, Function function)
        : name_(std::move(name)), function_(std::move(function)) {}

    std::string type_name() const override { return "function"; }
    std::string repr() const override { return "<function " + name_ + ">"; }
    bool is_callable() const override { return true; }
    Value call(Arguments& arguments, Interpreter& interpreter) override {
        return function_(arguments, interpreter);
    }

  private:
    std::string name_;
    Function function_;
};

Value make_function(std::string name, BuiltinFunction::Function function);

// The globals. `now` is what strftime_now formats; the local time at the call when empty.
Dict make_globals(const std::optional<std::tm>& now);

}  // namespace tessera::jinja
