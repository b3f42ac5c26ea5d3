// The syntax tree of a parsed template: expressions and statements, each with its line for
// error messages. Filters and tests are resolved to their functions when parsed: an unknown one
// is a parse error, except inside an if statement or a conditional expression, where (as in
// jinja2) it is an error only when evaluated.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/jinja/filters.h"
#include "runtime/jinja/operators.h"
#include "runtime/jinja/tests.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

struct Expression;
using ExpressionPointer = std::unique_ptr<Expression>;

struct CallArguments {
    std::vector<ExpressionPointer> positional;
    std::vector<std::pair<std::string, ExpressionPointer>> keyword;
};

struct Literal {
    Value value;  // none, booleans, numbers, strings
};
struct Name {
    std::string name;
};
struct ListLiteral {
    std::vector<ExpressionPointer> items;
};
struct TupleLiteral {
    std::vector<ExpressionPointer> items;
};
struct DictLiteral {
    std::vector<std::pair<ExpressionPointer, ExpressionPointer>> entries;
};
struct AttributeAccess {  // object.name
    ExpressionPointer object;
    std::string name;
};
struct ItemAccess {  // object[index]
    ExpressionPointer object;
    ExpressionPointer index;
};
struct SliceAccess {  // object[start:stop:step]; absent bounds are null
    ExpressionPointer object;
    ExpressionPointer start;
    ExpressionPointer stop;
    ExpressionPointer step;
};
enum class UnaryOperator { Not, Negate, Plus };
struct Unary {
    UnaryOperator op;
    ExpressionPointer operand;
};
struct Binary {
    BinaryOperator op;
    ExpressionPointer left;
    ExpressionPointer right;
};
enum class LogicalOperator { And, Or };
struct Logical {
    LogicalOperator op;
    ExpressionPointer left;
    ExpressionPointer right;
};
struct Concat {  // a ~ b ~ c
    std::vector<ExpressionPointer> parts;
};
struct Comparison {  // a < b <= c, chained as Python chains them
    ExpressionPointer first;
    std::vector<std::pair<CompareOperator, ExpressionPointer>> rest;
};
struct Conditional {  // if_true if condition else if_false; if_false may be null
    ExpressionPointer condition;
    ExpressionPointer if_true;
    ExpressionPointer if_false;
};
struct Call {
    ExpressionPointer callee;
    CallArguments arguments;
};
struct FilterApplication {
    std::string name;
    FilterFunction function = nullptr;  // null: unknown, in a conditional branch
    CallArguments arguments;
    int line = 0;
};
struct Filtered {  // input | filter(...)
    ExpressionPointer input;
    FilterApplication filter;
};
struct TestApplication {  // input is test(...)
    ExpressionPointer input;
    std::string name;
    TestFunction function = nullptr;  // null: unknown, in a conditional branch
    CallArguments arguments;
};

struct Expression {
    int line = 0;
    int depth = 1;  // of the tree below: the parser bounds it, so evaluation cannot recurse deeply
    std::variant<Literal, Name, ListLiteral, TupleLiteral, DictLiteral, AttributeAccess, ItemAccess,
                 SliceAccess, Unary, Binary, Logical, Concat, Comparison, Conditional, Call,
                 Filtered, TestApplication>
        node;
};

// Where `for` and `set` put values: a name, a namespace attribute (`ns.count`) or a tuple of
// targets to unpack into.
struct Target {
    enum class Kind { Name, NamespaceAttribute, Tuple };
    Kind kind = Kind::Name;
    std::string name;
    std::string attribute;
    std::vector<Target> items;
    int line = 0;
};

struct Statement;
using Body = std::vector<Statement>;

struct Text {
    std::string text;
};
struct Print {
    ExpressionPointer expression;
};
struct If {
    std::vector<std::pair<ExpressionPointer, Body>> branches;  // if, then the elifs
    Body otherwise;
};
struct For {
    Target target;
    ExpressionPointer iterable;
    ExpressionPointer condition;  // `for x in xs if condition`; may be null
    bool recursive = false;
    Body body;
    Body otherwise;  // runs when no item was visited
};
struct Set {
    Target target;
    ExpressionPointer value;
};
struct SetBlock {  // {% set x | filters %}body{% endset %}
    Target target;
    std::vector<FilterApplication> filters;
    Body body;
};
struct MacroParameter {
    std::string name;
    ExpressionPointer default_value;  // may be null
};
// What a macro body refers to, deciding which special arguments it accepts.
struct MacroSignature {
    std::vector<MacroParameter> parameters;
    bool uses_caller = false;
    bool uses_varargs = false;
    bool uses_kwargs = false;
};
struct MacroDefinition {
    std::string name;
    MacroSignature signature;
    std::shared_ptr<const Body> body;
};
struct CallBlock {  // {% call(params) macro(args) %}body{% endcall %}
    MacroSignature signature;
    std::shared_ptr<const Body> body;
    ExpressionPointer call;
};
struct FilterBlock {
    std::vector<FilterApplication> filters;
    Body body;
};
struct With {
    std::vector<std::pair<Target, ExpressionPointer>> assignments;
    Body body;
};
struct Scoped {  // {% generation %}: rendered in place, in its own scope
    Body body;
};
struct Break {};
struct Continue {};

struct Statement {
    int line = 0;
    std::variant<Text, Print, If, For, Set, SetBlock, MacroDefinition, CallBlock, FilterBlock, With,
                 Scoped, Break, Continue>
        node;
};

}  // namespace tessera::jinja
