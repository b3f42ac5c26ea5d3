// Renders a parsed template: evaluates expressions with Python's semantics and runs statements
// with jinja2's scoping (each loop iteration, macro call, with block and filter block has its
// own scope; `if` has none; assignments from inside them reach outer scopes only through a
// namespace). Every failure becomes tessera::Error "NAME:LINE: what", the line being that of
// the innermost expression or statement that failed.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/jinja/ast.h"
#include "runtime/jinja/budget.h"
#include "runtime/jinja/text_builder.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

struct RenderOptions {
    Limits limits;
    // What strftime_now() formats; the local time when empty. Tests fix it.
    std::optional<std::tm> now;
};

// The variables one scope defines, and the scope it is nested in.
struct Scope {
    std::shared_ptr<Scope> parent;
    std::unordered_map<std::string, Value> variables;

    const Value* find(const std::string& name) const;
};

enum class Flow { Normal, Break, Continue };

class Interpreter {
  public:
    Interpreter(std::shared_ptr<const Body> program, std::string name,
                const RenderOptions& options);
    ~Interpreter();
    Interpreter(const Interpreter&) = delete;
    Interpreter& operator=(const Interpreter&) = delete;

    // Renders the program once with these variables.
    std::string render(const Dict& context);

    Budget& budget() { return budget_; }
    // object.name(arguments) for a str, list, tuple or dict method (see methods.h). A list that
    // gains items is remembered, and emptied when the render ends.
    Value call_method(const Value& object, std::string_view name, Arguments& arguments);

  private:
    class Macro;
    class Loop;

    Value evaluate(const Expression& e);
    Value evaluate_node(const Expression& e);
    Arguments evaluate_arguments(const CallArguments& arguments);
    Value call_value(const Value& callee, Arguments& arguments);
    Value apply_filter(const Value& input, const FilterApplication& filter);
    Value apply_filters(Value input, const std::vector<FilterApplication>& filters);

    Flow execute(const Body& body);
    Flow execute(const Statement& statement);
    Flow execute_node(const Statement& statement);
    void execute_for(const For& loop, const Value& iterable, int depth0);
    void assign(const Target& target, const Value& value);
    // Appends str(value) to the innermost buffer (the output, or what a macro, call block or
    // set block captures), charged and checked against max_text_bytes as it grows.
    void output(const Value& value);
    void output(std::string_view text) { buffers_.back() += text; }
    // Renders `body` into a string, in a new scope below `parent`.
    std::string capture(const Body& body, std::shared_ptr<Scope> parent);
    Value call_macro(const Macro& macro, Arguments& arguments);
    std::shared_ptr<Scope> capture_scope();
    [[noreturn]] void fail(int line, const std::string& what) const;

    std::shared_ptr<const Body> program_;
    std::string name_;
    RenderOptions options_;
    Budget budget_;
    std::shared_ptr<Scope> scope_;
    std::vector<TextBuilder> buffers_;
    int call_depth_ = 0;
    // Scopes that macros and loops hold on to; emptied after the render, which breaks the
    // reference cycles a macro stored in its own scope makes.
    std::vector<std::weak_ptr<Scope>> captured_scopes_;
    size_t captured_compaction_size_ = 64;
    // Containers this render added references to (list.append, ns.attr = ...); emptied after
    // the render, which breaks any reference cycle that made.
    std::vector<Value> mutated_;
    std::unordered_set<const void*> mutated_identities_;
    void note_mutation(const Value& container);
};

}  // namespace tessera::jinja
