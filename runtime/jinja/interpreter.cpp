#include "runtime/jinja/interpreter.h"

#include <algorithm>

#include "formats/error.h"
#include "runtime/jinja/access.h"
#include "runtime/jinja/failure.h"
#include "runtime/jinja/globals.h"
#include "runtime/jinja/methods.h"
#include "runtime/jinja/python_text.h"

namespace tessera::jinja {

const Value* Scope::find(const std::string& name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent.get()) {
        const auto it = s->variables.find(name);
        if (it != s->variables.end()) return &it->second;
    }
    return nullptr;
}

namespace {

// Makes `scope` the interpreter's current scope until destroyed.
class ScopeSwitch {
  public:
    ScopeSwitch(std::shared_ptr<Scope>& current, std::shared_ptr<Scope> next)
        : current_(current), saved_(std::move(current)) {
        current_ = std::move(next);
    }
    ~ScopeSwitch() { current_ = std::move(saved_); }
    ScopeSwitch(const ScopeSwitch&) = delete;
    ScopeSwitch& operator=(const ScopeSwitch&) = delete;

  private:
    std::shared_ptr<Scope>& current_;
    std::shared_ptr<Scope> saved_;
};

// What a loop iteration costs: it makes a scope and binds the loop variable, about twice what a
// statement does.
constexpr uint64_t kIterationSteps = 2;

std::shared_ptr<Scope> child_of(std::shared_ptr<Scope> parent) {
    auto scope = std::make_shared<Scope>();
    scope->parent = std::move(parent);
    return scope;
}

}  // namespace

// A macro, or the caller of a call block: its signature and body, and the scope it was
// defined in (its closure).
class Interpreter::Macro : public Object {
  public:
    Macro(std::string macro_name, const MacroSignature& macro_signature,
          std::shared_ptr<const Body> macro_body, std::shared_ptr<Scope> defining_scope,
          std::shared_ptr<const Body> program)
        : name(std::move(macro_name)),
          signature(macro_signature),
          body(std::move(macro_body)),
          closure(std::move(defining_scope)),
          program_(std::move(program)) {}

    std::string type_name() const override { return "Macro"; }
    std::string repr() const override { return "<Macro '" + name + "'>"; }
    bool is_callable() const override { return true; }
    Value call(Arguments& arguments, Interpreter& interpreter) override {
        return interpreter.call_macro(*this, arguments);
    }
    Value attribute(const std::string& attribute) override {
        if (attribute == "name") return Value::string(name);
        if (attribute == "catch_kwargs") return Value::boolean(signature.uses_kwargs);
        if (attribute == "catch_varargs") return Value::boolean(signature.uses_varargs);
        if (attribute == "caller") return Value::boolean(signature.uses_caller);
        if (attribute == "arguments") {
            std::vector<Value> names;
            for (const MacroParameter& p : signature.parameters)
                names.push_back(Value::string(p.name));
            return Value::tuple(std::move(names));
        }
        return Object::attribute(attribute);
    }

    const std::string name;
    const MacroSignature& signature;
    const std::shared_ptr<const Body> body;
    const std::shared_ptr<Scope> closure;

  private:
    std::shared_ptr<const Body> program_;  // keeps the syntax tree the signature points into
};

// The `loop` variable of a for loop.
class Interpreter::Loop : public Object, public std::enable_shared_from_this<Loop> {
  public:
    Loop(std::vector<Value> loop_items, int loop_depth0, const For& node,
         std::shared_ptr<Scope> scope, std::shared_ptr<const Body> program)
        : items(std::move(loop_items)),
          depth0(loop_depth0),
          node_(node),
          scope_(std::move(scope)),
          program_(std::move(program)) {}

    std::string type_name() const override { return "LoopContext"; }
    std::string repr() const override {
        return "<LoopContext " + std::to_string(index0 + 1) + "/" + std::to_string(items.size()) +
               ">";
    }
    bool is_callable() const override { return true; }

    Value attribute(const std::string& name) override {
        const auto n = static_cast<int64_t>(items.size());
        const auto i = static_cast<int64_t>(index0);
        if (name == "index") return Value::integer(i + 1);
        if (name == "index0") return Value::integer(i);
        if (name == "revindex") return Value::integer(n - i);
        if (name == "revindex0") return Value::integer(n - i - 1);
        if (name == "first") return Value::boolean(i == 0);
        if (name == "last") return Value::boolean(i == n - 1);
        if (name == "length") return Value::integer(n);
        if (name == "depth") return Value::integer(depth0 + 1);
        if (name == "depth0") return Value::integer(depth0);
        if (name == "previtem") {
            return i > 0 ? items[index0 - 1] : Value::undefined("there is no previous item");
        }
        if (name == "nextitem") {
            return i + 1 < n ? items[index0 + 1] : Value::undefined("there is no next item");
        }
        if (name == "cycle") {
            auto self = shared_from_this();
            return make_function("cycle", [self](Arguments& a, Interpreter&) {
                if (!a.keyword.empty()) throw Failure("cycle() takes no keyword arguments");
                if (a.positional.empty()) throw Failure("no items for cycling given");
                return a.positional[self->index0 % a.positional.size()];
            });
        }
        if (name == "changed") {
            auto self = shared_from_this();
            return make_function("changed", [self](Arguments& a, Interpreter& interpreter) {
                const Value current = Value::tuple(a.positional);
                if (!self->last_changed.has_value() ||
                    !equals(*self->last_changed, current, interpreter.budget())) {
                    self->last_changed = current;
                    return Value::boolean(true);
                }
                return Value::boolean(false);
            });
        }
        return Object::attribute(name);
    }

    // loop(items) in a recursive loop renders the body again over `items`.
    Value call(Arguments& arguments, Interpreter& interpreter) override {
        if (!node_.recursive) {
            throw Failure("The loop must have the 'recursive' marker to be called recursively.");
        }
        const auto a = bind(arguments, "loop", {{"iterable", {}}});
        if (++interpreter.call_depth_ > interpreter.options_.limits.max_call_depth) {
            --interpreter.call_depth_;
            throw Failure("maximum recursion depth exceeded (more than " +
                          std::to_string(interpreter.options_.limits.max_call_depth) +
                          " nested macro calls or recursive loops)");
        }
        interpreter.buffers_.emplace_back(interpreter.budget_);
        try {
            ScopeSwitch in(interpreter.scope_, scope_);
            interpreter.execute_for(node_, a[0], depth0 + 1);
        } catch (...) {
            interpreter.buffers_.pop_back();
            --interpreter.call_depth_;
            throw;
        }
        std::string text = interpreter.buffers_.back().take();
        interpreter.buffers_.pop_back();
        --interpreter.call_depth_;
        return Value::string(std::move(text));
    }

    std::vector<Value> items;
    size_t index0 = 0;
    int depth0;
    std::optional<Value> last_changed;

  private:
    const For& node_;
    std::shared_ptr<Scope> scope_;
    std::shared_ptr<const Body> program_;
};

Interpreter::Interpreter(std::shared_ptr<const Body> program, std::string name,
                         const RenderOptions& options)
    : program_(std::move(program)),
      name_(std::move(name)),
      options_(options),
      budget_(options.limits) {}

Interpreter::~Interpreter() {
    for (const Value& container : mutated_) empty_container(container);
    for (const std::weak_ptr<Scope>& weak : captured_scopes_) {
        if (const std::shared_ptr<Scope> scope = weak.lock()) {
            // Moved out first: destroying a value may release other captured scopes.
            auto variables = std::move(scope->variables);
            scope->variables.clear();
        }
    }
}

void Interpreter::fail(int line, const std::string& what) const {
    throw Error(name_ + ":" + std::to_string(line) + ": " + what);
}

void Interpreter::note_mutation(const Value& container) {
    if (mutated_identities_.insert(container.identity()).second) mutated_.push_back(container);
}

Value Interpreter::call_method(const Value& object, std::string_view name, Arguments& arguments) {
    if (object.is_list() && (name == "append" || name == "extend" || name == "insert")) {
        note_mutation(object);
    }
    return jinja::call_method(object, name, arguments, budget_);
}

std::shared_ptr<Scope> Interpreter::capture_scope() {
    // Forget scopes that are gone, so that a macro defined in a long loop keeps this small.
    if (captured_scopes_.size() >= captured_compaction_size_) {
        std::erase_if(captured_scopes_, [](const std::weak_ptr<Scope>& s) { return s.expired(); });
        captured_compaction_size_ = std::max<size_t>(64, captured_scopes_.size() * 2);
    }
    captured_scopes_.push_back(scope_);
    return scope_;
}

std::string Interpreter::render(const Dict& context) {
    auto globals = std::make_shared<Scope>();
    const Dict builtins = make_globals(options_.now);
    for (const auto& [key, value] : builtins.entries()) {
        globals->variables[key.as_string()] = value;
    }
    auto variables = child_of(globals);
    for (const auto& [key, value] : context.entries()) {
        if (key.is_string()) variables->variables[key.as_string()] = value;
    }
    scope_ = child_of(variables);
    captured_scopes_.push_back(scope_);
    captured_scopes_.push_back(variables);
    buffers_.emplace_back(budget_);
    execute(*program_);
    std::string text = buffers_.back().take();
    buffers_.clear();
    scope_.reset();
    return text;
}

void Interpreter::output(const Value& value) {
    append_str(buffers_.back(), value);
}

std::string Interpreter::capture(const Body& body, std::shared_ptr<Scope> parent) {
    buffers_.emplace_back(budget_);
    try {
        ScopeSwitch in(scope_, child_of(std::move(parent)));
        execute(body);
    } catch (...) {
        buffers_.pop_back();
        throw;
    }
    std::string text = buffers_.back().take();
    buffers_.pop_back();
    return text;
}

// --- expressions -----------------------------------------------------------------------------

Value Interpreter::evaluate(const Expression& e) {
    try {
        // Every expression node is a step, so that a long expression (a concatenation of a
        // hundred thousand names) costs in proportion even when its values are small.
        budget_.charge(1);
        return evaluate_node(e);
    } catch (const Failure& failure) {
        fail(e.line, failure.what());
    }
}

Arguments Interpreter::evaluate_arguments(const CallArguments& arguments) {
    Arguments out;
    out.positional.reserve(arguments.positional.size());
    for (const auto& a : arguments.positional) out.positional.push_back(evaluate(*a));
    for (const auto& [name, a] : arguments.keyword) out.keyword.emplace_back(name, evaluate(*a));
    return out;
}

Value Interpreter::call_value(const Value& callee, Arguments& arguments) {
    if (callee.is_object() && callee.object().is_callable()) {
        return callee.object().call(arguments, *this);
    }
    if (callee.is_undefined()) throw Failure(callee.undefined_message());
    throw Failure("'" + callee.type_name() + "' object is not callable");
}

Value Interpreter::apply_filter(const Value& input, const FilterApplication& filter) {
    if (filter.function == nullptr) fail(filter.line, concat("unknown filter '", filter.name, "'"));
    Arguments arguments = evaluate_arguments(filter.arguments);
    try {
        return filter.function(input, arguments, budget_);
    } catch (const Failure& failure) {
        fail(filter.line, failure.what());
    }
}

Value Interpreter::apply_filters(Value input, const std::vector<FilterApplication>& filters) {
    for (const FilterApplication& filter : filters) input = apply_filter(input, filter);
    return input;
}

Value Interpreter::evaluate_node(const Expression& e) {
    return std::visit(
        [&](const auto& n) -> Value {
            using T = std::decay_t<decltype(n)>;
            if constexpr (std::is_same_v<T, Literal>) {
                return n.value;
            } else if constexpr (std::is_same_v<T, Name>) {
                if (const Value* v = scope_->find(n.name)) return *v;
                return Value::undefined("'" + n.name + "' is undefined");
            } else if constexpr (std::is_same_v<T, ListLiteral> ||
                                 std::is_same_v<T, TupleLiteral>) {
                budget_.allocate_items(n.items.size());
                std::vector<Value> items;
                items.reserve(n.items.size());
                for (const auto& item : n.items) items.push_back(evaluate(*item));
                if constexpr (std::is_same_v<T, ListLiteral>) {
                    return Value::list(std::move(items));
                } else {
                    return Value::tuple(std::move(items));
                }
            } else if constexpr (std::is_same_v<T, DictLiteral>) {
                Dict dict;
                for (const auto& [key, value] : n.entries) {
                    Value k = evaluate(*key);
                    dict.set(k, evaluate(*value), budget_);
                }
                return Value::dict(std::move(dict));
            } else if constexpr (std::is_same_v<T, AttributeAccess>) {
                return get_attribute(evaluate(*n.object), n.name, budget_);
            } else if constexpr (std::is_same_v<T, ItemAccess>) {
                const Value object = evaluate(*n.object);
                return get_item(object, evaluate(*n.index), budget_);
            } else if constexpr (std::is_same_v<T, SliceAccess>) {
                const Value object = evaluate(*n.object);
                const auto bound = [&](const ExpressionPointer& p) {
                    return p ? evaluate(*p) : Value::none();
                };
                const Value start = bound(n.start);
                const Value stop = bound(n.stop);
                return get_slice(object, start, stop, bound(n.step), budget_);
            } else if constexpr (std::is_same_v<T, Unary>) {
                const Value operand = evaluate(*n.operand);
                switch (n.op) {
                    case UnaryOperator::Not:
                        return Value::boolean(!operand.truthy());
                    case UnaryOperator::Negate:
                        return negate(operand);
                    case UnaryOperator::Plus:
                        return positive(operand);
                }
                return operand;
            } else if constexpr (std::is_same_v<T, Binary>) {
                const Value left = evaluate(*n.left);
                const Value right = evaluate(*n.right);
                return binary_operation(n.op, left, right, budget_);
            } else if constexpr (std::is_same_v<T, Logical>) {
                Value left = evaluate(*n.left);
                if ((n.op == LogicalOperator::And) != left.truthy()) return left;
                return evaluate(*n.right);
            } else if constexpr (std::is_same_v<T, Concat>) {
                TextBuilder text(budget_);
                for (const auto& part : n.parts) append_str(text, evaluate(*part));
                return Value::string(text.take());
            } else if constexpr (std::is_same_v<T, Comparison>) {
                Value left = evaluate(*n.first);
                for (const auto& [op, operand] : n.rest) {
                    Value right = evaluate(*operand);
                    if (!compare(op, left, right, budget_)) return Value::boolean(false);
                    left = std::move(right);
                }
                return Value::boolean(true);
            } else if constexpr (std::is_same_v<T, Conditional>) {
                if (evaluate(*n.condition).truthy()) return evaluate(*n.if_true);
                if (n.if_false) return evaluate(*n.if_false);
                return Value::undefined("the inline if-expression on line " +
                                        std::to_string(e.line) +
                                        " evaluated to false and no else section was defined.");
            } else if constexpr (std::is_same_v<T, Call>) {
                if (const auto* access = std::get_if<AttributeAccess>(&n.callee->node)) {
                    const Value object = evaluate(*access->object);
                    if (has_method(object, access->name)) {
                        Arguments arguments = evaluate_arguments(n.arguments);
                        return call_method(object, access->name, arguments);
                    }
                    const Value callee = get_attribute(object, access->name, budget_);
                    Arguments arguments = evaluate_arguments(n.arguments);
                    return call_value(callee, arguments);
                }
                const Value callee = evaluate(*n.callee);
                Arguments arguments = evaluate_arguments(n.arguments);
                return call_value(callee, arguments);
            } else if constexpr (std::is_same_v<T, Filtered>) {
                return apply_filter(evaluate(*n.input), n.filter);
            } else if constexpr (std::is_same_v<T, TestApplication>) {
                if (n.function == nullptr) throw Failure(concat("unknown test '", n.name, "'"));
                const Value input = evaluate(*n.input);
                Arguments arguments = evaluate_arguments(n.arguments);
                return Value::boolean(n.function(input, arguments, budget_));
            }
        },
        e.node);
}

// --- statements ------------------------------------------------------------------------------

Flow Interpreter::execute(const Body& body) {
    for (const Statement& statement : body) {
        const Flow flow = execute(statement);
        if (flow != Flow::Normal) return flow;
    }
    return Flow::Normal;
}

Flow Interpreter::execute(const Statement& statement) {
    try {
        budget_.charge(1);
        return execute_node(statement);
    } catch (const Failure& failure) {
        fail(statement.line, failure.what());
    }
}

void Interpreter::assign(const Target& target, const Value& value) {
    switch (target.kind) {
        case Target::Kind::Name:
            scope_->variables[target.name] = value;
            return;
        case Target::Kind::NamespaceAttribute: {
            const Value* object = scope_->find(target.name);
            if (object == nullptr || !object->is_namespace()) {
                throw Failure("cannot assign attribute on non-namespace object");
            }
            if (!target.attribute.empty() && target.attribute[0] == '_') {
                throw Failure(
                    "Chat templates cannot store underscore-prefixed attributes on a "
                    "namespace, but got '" +
                    target.attribute + "'. Please rename the attribute.");
            }
            note_mutation(*object);
            object->namespace_().attributes.set(Value::string(target.attribute), value, budget_);
            return;
        }
        case Target::Kind::Tuple: {
            if (!value.is_string() && !value.is_sequence() && !value.is_dict() &&
                !value.is_iterator()) {
                throw Failure("cannot unpack non-iterable " + value.type_name() + " object");
            }
            const std::vector<Value> items = iterate(value, budget_);
            const size_t expected = target.items.size();
            if (items.size() < expected) {
                throw Failure("not enough values to unpack (expected " + std::to_string(expected) +
                              ", got " + std::to_string(items.size()) + ")");
            }
            if (items.size() > expected) {
                throw Failure("too many values to unpack (expected " + std::to_string(expected) +
                              ")");
            }
            for (size_t i = 0; i < expected; ++i) assign(target.items[i], items[i]);
            return;
        }
    }
}

void Interpreter::execute_for(const For& loop, const Value& iterable, int depth0) {
    std::vector<Value> items = iterate(iterable, budget_);
    budget_.check_items(items.size());
    if (loop.condition) {
        std::vector<Value> kept;
        for (Value& item : items) {
            budget_.charge(kIterationSteps);
            ScopeSwitch in(scope_, child_of(scope_));
            assign(loop.target, item);
            if (evaluate(*loop.condition).truthy()) kept.push_back(std::move(item));
        }
        items = std::move(kept);
    }
    if (items.empty()) {
        ScopeSwitch in(scope_, child_of(scope_));
        execute(loop.otherwise);
        return;
    }
    // Only a recursive loop renders its body again later, and so needs its scope.
    auto state = std::make_shared<Loop>(std::move(items), depth0, loop,
                                        loop.recursive ? capture_scope() : nullptr, program_);
    const Value loop_value = Value::object(state);
    for (size_t i = 0; i < state->items.size(); ++i) {
        budget_.charge(kIterationSteps);
        state->index0 = i;
        ScopeSwitch in(scope_, child_of(scope_));
        assign(loop.target, state->items[i]);
        scope_->variables["loop"] = loop_value;
        if (execute(loop.body) == Flow::Break) break;
    }
}

Value Interpreter::call_macro(const Macro& macro, Arguments& arguments) {
    if (++call_depth_ > options_.limits.max_call_depth) {
        --call_depth_;
        throw Failure("maximum recursion depth exceeded (more than " +
                      std::to_string(options_.limits.max_call_depth) +
                      " nested macro calls or recursive loops)");
    }
    struct DepthGuard {
        int& depth;
        ~DepthGuard() { --depth; }
    } guard{call_depth_};
    budget_.charge(1);

    const MacroSignature& signature = macro.signature;
    const size_t count = signature.parameters.size();
    std::vector<std::optional<Value>> values(count);
    for (size_t i = 0; i < count && i < arguments.positional.size(); ++i) {
        values[i] = arguments.positional[i];
    }
    for (size_t i = arguments.positional.size(); i < count; ++i) {
        values[i] = arguments.take_keyword(signature.parameters[i].name);
    }
    std::optional<Value> caller;
    if (signature.uses_caller) caller = arguments.take_keyword("caller");
    Dict kwargs;
    if (signature.uses_kwargs) {
        for (const auto& [key, value] : arguments.keyword) {
            kwargs.set(Value::string(key), value, budget_);
        }
    } else if (!arguments.keyword.empty()) {
        if (arguments.keyword.front().first == "caller") {
            throw Failure("macro '" + macro.name +
                          "' was invoked with two values for the special 'caller' argument. This "
                          "is most likely a bug.");
        }
        throw Failure("macro '" + macro.name + "' takes no keyword argument '" +
                      arguments.keyword.front().first + "'");
    }
    std::vector<Value> varargs;
    if (arguments.positional.size() > count) {
        if (!signature.uses_varargs) {
            throw Failure("macro '" + macro.name + "' takes not more than " +
                          std::to_string(count) + " argument(s)");
        }
        varargs.assign(arguments.positional.begin() + static_cast<std::ptrdiff_t>(count),
                       arguments.positional.end());
    }

    auto scope = child_of(macro.closure);
    buffers_.emplace_back(budget_);
    try {
        ScopeSwitch in(scope_, scope);
        for (size_t i = 0; i < count; ++i) {
            const MacroParameter& parameter = signature.parameters[i];
            Value value;
            if (values[i].has_value()) {
                value = std::move(*values[i]);
            } else if (parameter.default_value) {
                value = evaluate(*parameter.default_value);
            } else {
                value = Value::undefined("parameter '" + parameter.name + "' was not provided");
            }
            scope->variables[parameter.name] = std::move(value);
        }
        if (signature.uses_caller) {
            scope->variables["caller"] = caller ? *caller : Value::undefined("No caller defined");
        }
        if (signature.uses_kwargs) scope->variables["kwargs"] = Value::dict(std::move(kwargs));
        if (signature.uses_varargs) scope->variables["varargs"] = Value::tuple(std::move(varargs));
        execute(*macro.body);
    } catch (...) {
        buffers_.pop_back();
        throw;
    }
    std::string text = buffers_.back().take();
    buffers_.pop_back();
    return Value::string(std::move(text));
}

Flow Interpreter::execute_node(const Statement& statement) {
    return std::visit(
        [&](const auto& n) -> Flow {
            using T = std::decay_t<decltype(n)>;
            if constexpr (std::is_same_v<T, Text>) {
                output(n.text);
            } else if constexpr (std::is_same_v<T, Print>) {
                output(evaluate(*n.expression));
            } else if constexpr (std::is_same_v<T, If>) {
                for (const auto& [test, body] : n.branches) {
                    if (evaluate(*test).truthy()) return execute(body);
                }
                return execute(n.otherwise);
            } else if constexpr (std::is_same_v<T, For>) {
                execute_for(n, evaluate(*n.iterable), 0);
            } else if constexpr (std::is_same_v<T, Set>) {
                assign(n.target, evaluate(*n.value));
            } else if constexpr (std::is_same_v<T, SetBlock>) {
                Value text = Value::string(capture(n.body, scope_));
                assign(n.target, apply_filters(std::move(text), n.filters));
            } else if constexpr (std::is_same_v<T, MacroDefinition>) {
                auto macro =
                    std::make_shared<Macro>(n.name, n.signature, n.body, capture_scope(), program_);
                scope_->variables[n.name] = Value::object(std::move(macro));
            } else if constexpr (std::is_same_v<T, CallBlock>) {
                const auto& call = std::get<Call>(n.call->node);
                auto caller = std::make_shared<Macro>("caller", n.signature, n.body,
                                                      capture_scope(), program_);
                Value result;
                try {
                    Value callee;
                    if (const auto* access = std::get_if<AttributeAccess>(&call.callee->node)) {
                        callee = get_attribute(evaluate(*access->object), access->name, budget_);
                    } else {
                        callee = evaluate(*call.callee);
                    }
                    Arguments arguments = evaluate_arguments(call.arguments);
                    arguments.keyword.emplace_back("caller", Value::object(std::move(caller)));
                    result = call_value(callee, arguments);
                } catch (const Failure& failure) {
                    fail(n.call->line, failure.what());
                }
                output(result);
            } else if constexpr (std::is_same_v<T, FilterBlock>) {
                Value text = Value::string(capture(n.body, scope_));
                output(apply_filters(std::move(text), n.filters));
            } else if constexpr (std::is_same_v<T, With>) {
                std::vector<Value> values;
                for (const auto& [target, value] : n.assignments)
                    values.push_back(evaluate(*value));
                ScopeSwitch in(scope_, child_of(scope_));
                for (size_t i = 0; i < values.size(); ++i)
                    assign(n.assignments[i].first, values[i]);
                return execute(n.body);
            } else if constexpr (std::is_same_v<T, Scoped>) {
                ScopeSwitch in(scope_, child_of(scope_));
                return execute(n.body);
            } else if constexpr (std::is_same_v<T, Break>) {
                return Flow::Break;
            } else if constexpr (std::is_same_v<T, Continue>) {
                return Flow::Continue;
            }
            return Flow::Normal;
        },
        statement.node);
}

}  // namespace tessera::jinja
