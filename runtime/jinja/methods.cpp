#include "runtime/jinja/methods.h"

#include "runtime/jinja/container_methods.h"
#include "runtime/jinja/failure.h"
#include "runtime/jinja/interpreter.h"
#include "runtime/jinja/string_methods.h"

namespace tessera::jinja {

namespace {

// `"x".strip` without the call: Python's bound method object.
class BoundMethod : public Object {
  public:
    BoundMethod(Value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}

    std::string type_name() const override { return "builtin_function_or_method"; }
    std::string repr() const override {
        return "<built-in method " + name_ + " of " + self_.type_name() + " object>";
    }
    bool is_callable() const override { return true; }
    Value call(Arguments& arguments, Interpreter& interpreter) override {
        return interpreter.call_method(self_, name_, arguments);
    }

  private:
    Value self_;
    std::string name_;
};

}  // namespace

bool has_method(const Value& object, std::string_view name) {
    if (object.is_string()) return is_python_string_method(name);
    if (object.is_list()) return is_python_list_method(name);
    if (object.is_tuple()) return is_python_tuple_method(name);
    if (object.is_dict()) return is_python_dict_method(name);
    return false;
}

Value call_method(const Value& object, std::string_view name, Arguments& arguments,
                  Budget& budget) {
    if (object.is_string()) return call_string_method(object.as_string(), name, arguments, budget);
    if (object.is_list()) return call_list_method(object, name, arguments, budget);
    if (object.is_tuple()) return call_tuple_method(object, name, arguments, budget);
    if (object.is_dict()) return call_dict_method(object, name, arguments, budget);
    throw Failure("'" + object.type_name() + "' object has no method '" + std::string(name) + "'");
}

Value bound_method(const Value& object, std::string name) {
    return Value::object(std::make_shared<BoundMethod>(object, std::move(name)));
}

}  // namespace tessera::jinja
