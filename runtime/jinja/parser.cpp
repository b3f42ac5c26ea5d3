#include "runtime/jinja/parser.h"

#include <algorithm>
#include <initializer_list>

#include "formats/error.h"
#include "runtime/jinja/failure.h"

namespace tessera::jinja {

namespace {

// Deeper nesting than any real template has; keeps the recursive descent (and the recursive
// evaluation of the tree it builds) far from the end of the stack.
constexpr int kMaxNesting = 100;

int child_depth(const Expression* e) {
    return e != nullptr ? e->depth : 0;
}

int arguments_depth(const CallArguments& arguments) {
    int depth = 0;
    for (const auto& a : arguments.positional) depth = std::max(depth, a->depth);
    for (const auto& [name, a] : arguments.keyword) depth = std::max(depth, a->depth);
    return depth;
}

// The depth of the deepest child of a node, from the children's stored depths.
int deepest_child(const Expression& e) {
    return std::visit(
        [](const auto& n) -> int {
            using T = std::decay_t<decltype(n)>;
            int depth = 0;
            const auto take = [&](const ExpressionPointer& p) {
                depth = std::max(depth, child_depth(p.get()));
            };
            if constexpr (std::is_same_v<T, ListLiteral> || std::is_same_v<T, TupleLiteral>) {
                for (const auto& item : n.items) take(item);
            } else if constexpr (std::is_same_v<T, DictLiteral>) {
                for (const auto& [key, value] : n.entries) take(key), take(value);
            } else if constexpr (std::is_same_v<T, AttributeAccess>) {
                take(n.object);
            } else if constexpr (std::is_same_v<T, ItemAccess>) {
                take(n.object), take(n.index);
            } else if constexpr (std::is_same_v<T, SliceAccess>) {
                take(n.object), take(n.start), take(n.stop), take(n.step);
            } else if constexpr (std::is_same_v<T, Unary>) {
                take(n.operand);
            } else if constexpr (std::is_same_v<T, Binary> || std::is_same_v<T, Logical>) {
                take(n.left), take(n.right);
            } else if constexpr (std::is_same_v<T, Concat>) {
                for (const auto& part : n.parts) take(part);
            } else if constexpr (std::is_same_v<T, Comparison>) {
                take(n.first);
                for (const auto& [op, operand] : n.rest) take(operand);
            } else if constexpr (std::is_same_v<T, Conditional>) {
                take(n.condition), take(n.if_true), take(n.if_false);
            } else if constexpr (std::is_same_v<T, Call>) {
                take(n.callee);
                depth = std::max(depth, arguments_depth(n.arguments));
            } else if constexpr (std::is_same_v<T, Filtered>) {
                take(n.input);
                depth = std::max(depth, arguments_depth(n.filter.arguments));
            } else if constexpr (std::is_same_v<T, TestApplication>) {
                take(n.input);
                depth = std::max(depth, arguments_depth(n.arguments));
            }
            return depth;
        },
        e.node);
}

// A parsed subscript: an index, or a slice's bounds.
struct Subscript {
    ExpressionPointer index;
    bool is_slice = false;
    ExpressionPointer start;
    ExpressionPointer stop;
    ExpressionPointer step;
};

class Parser {
  public:
    Parser(std::vector<Token> tokens, const std::string& name)
        : tokens_(std::move(tokens)), name_(name) {}

    Body parse_template() {
        Body body = subparse({});
        if (current().kind != TokenKind::End) fail("unexpected " + describe(current()));
        for (const UnknownUse& use : unknown_uses_) {
            if (!use.soft) fail(use.what, use.line);
        }
        return body;
    }

  private:
    // --- the token stream ---

    const Token& current() const { return tokens_[position_]; }
    const Token& look() const { return tokens_[std::min(position_ + 1, tokens_.size() - 1)]; }
    const Token& advance() {
        const Token& token = tokens_[position_];
        if (position_ + 1 < tokens_.size()) ++position_;
        return token;
    }
    bool is_operator(const char* symbol) const {
        return current().kind == TokenKind::Operator && current().text == symbol;
    }
    bool is_name(const char* name) const {
        return current().kind == TokenKind::Name && current().text == name;
    }
    bool skip_operator(const char* symbol) {
        if (!is_operator(symbol)) return false;
        advance();
        return true;
    }
    bool skip_name(const char* name) {
        if (!is_name(name)) return false;
        advance();
        return true;
    }
    void expect_operator(const char* symbol) {
        if (!skip_operator(symbol)) {
            fail(std::string("expected '") + symbol + "', got " + describe(current()));
        }
    }
    void expect_name(const char* name) {
        if (!skip_name(name))
            fail(std::string("expected '") + name + "', got " + describe(current()));
    }
    std::string expect_any_name() {
        if (current().kind != TokenKind::Name) fail("expected a name, got " + describe(current()));
        return advance().text;
    }
    void expect_kind(TokenKind kind) {
        if (current().kind != kind) {
            fail(std::string("expected ") + token_kind_name(kind) + ", got " + describe(current()));
        }
        advance();
    }

    std::string describe(const Token& token) const {
        switch (token.kind) {
            case TokenKind::Name:
            case TokenKind::Operator:
                return "'" + token.text + "'";
            case TokenKind::String:
                return "string";
            case TokenKind::Integer:
                return "integer";
            case TokenKind::Float:
                return "float";
            default:
                return token_kind_name(token.kind);
        }
    }

    [[noreturn]] void fail(const std::string& what) { fail(what, current().line); }
    [[noreturn]] void fail(const std::string& what, int line) {
        throw Error(name_ + ":" + std::to_string(line) + ": " + what);
    }

    // Bounds the recursion of the descent.
    class Nesting {
      public:
        explicit Nesting(Parser& parser) : parser_(parser) {
            if (++parser_.nesting_ > kMaxNesting) parser_.fail("the template is nested too deeply");
        }
        ~Nesting() { --parser_.nesting_; }
        Nesting(const Nesting&) = delete;
        Nesting& operator=(const Nesting&) = delete;

      private:
        Parser& parser_;
    };

    template <typename Node>
    ExpressionPointer make(int line, Node node) {
        auto e = std::make_unique<Expression>();
        e->line = line;
        e->node = std::move(node);
        e->depth = 1 + deepest_child(*e);
        if (e->depth > kMaxNesting) fail("the expression is nested too deeply", line);
        return e;
    }

    // Parses with jinja2's "soft frame" set or cleared: inside an if statement or a conditional
    // expression, an unknown filter or test fails only when evaluated.
    template <typename Parse>
    auto with_soft(bool soft, Parse parse) {
        const bool saved = soft_;
        soft_ = soft;
        struct Restore {
            bool& flag;
            bool value;
            ~Restore() { flag = value; }
        } restore{soft_, saved};
        return parse();
    }

    // --- statements ---

    bool at_end_tag(const std::vector<std::string>& end_tags) const {
        if (current().kind != TokenKind::Name) return false;
        return std::find(end_tags.begin(), end_tags.end(), current().text) != end_tags.end();
    }

    // Statements until a block tag named in `end_tags`; the stream is left on that name.
    Body subparse(const std::vector<std::string>& end_tags) {
        Body body;
        while (current().kind != TokenKind::End) {
            const Token& token = current();
            if (token.kind == TokenKind::Data) {
                Statement s;
                s.line = token.line;
                s.node = Text{token.text};
                body.push_back(std::move(s));
                advance();
            } else if (token.kind == TokenKind::VariableBegin) {
                advance();
                Statement s;
                s.line = current().line;
                s.node = Print{parse_tuple(false, true, {}, false)};
                body.push_back(std::move(s));
                expect_kind(TokenKind::VariableEnd);
            } else if (token.kind == TokenKind::BlockBegin) {
                advance();
                if (!end_tags.empty() && at_end_tag(end_tags)) return body;
                parse_statement(body);
                expect_kind(TokenKind::BlockEnd);
            } else {
                fail("unexpected " + describe(token));
            }
        }
        return body;
    }

    Body parse_statements(const std::vector<std::string>& end_tags, bool drop_needle) {
        skip_operator(":");
        expect_kind(TokenKind::BlockEnd);
        Body body = subparse(end_tags);
        if (current().kind == TokenKind::End) {
            std::string expected;
            for (const std::string& tag : end_tags) {
                expected += (expected.empty() ? "'" : " or '") + tag + "'";
            }
            fail("unexpected end of template, expected " + expected + " to close '" +
                 tag_stack_.back().first + "' from line " +
                 std::to_string(tag_stack_.back().second));
        }
        if (drop_needle) advance();
        return body;
    }

    void parse_statement(Body& body) {
        Nesting nesting(*this);
        const Token& token = current();
        if (token.kind != TokenKind::Name) fail("tag name expected, got " + describe(token));
        const std::string tag = token.text;
        const int line = token.line;
        tag_stack_.emplace_back(tag, line);
        Statement s;
        s.line = line;
        if (tag == "if") {
            s.node = parse_if();
        } else if (tag == "for") {
            s.node = parse_for();
        } else if (tag == "set") {
            parse_set(s);
        } else if (tag == "macro") {
            s.node = parse_macro();
        } else if (tag == "call") {
            s.node = parse_call_block();
        } else if (tag == "filter") {
            advance();
            FilterBlock block;
            block.filters = parse_filter_chain(true, false);
            block.body = with_soft(false, [&] { return parse_statements({"endfilter"}, true); });
            s.node = std::move(block);
        } else if (tag == "with") {
            s.node = parse_with();
        } else if (tag == "print") {
            advance();
            bool first = true;
            while (current().kind != TokenKind::BlockEnd) {
                if (!first) expect_operator(",");
                first = false;
                Statement print;
                print.line = current().line;
                print.node = Print{parse_expression(true)};
                body.push_back(std::move(print));
            }
            tag_stack_.pop_back();
            return;
        } else if (tag == "generation") {
            advance();
            s.node =
                Scoped{with_soft(false, [&] { return parse_statements({"endgeneration"}, true); })};
        } else if (tag == "break" || tag == "continue") {
            advance();
            if (loop_depth_ == 0) fail("'" + tag + "' outside of a loop", line);
            if (tag == "break") {
                s.node = Break{};
            } else {
                s.node = Continue{};
            }
        } else if (tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
                   tag == "block" || tag == "autoescape") {
            fail("unsupported statement '" + tag + "' (a chat template is a single template)",
                 line);
        } else if (tag.rfind("end", 0) == 0 || tag == "elif" || tag == "else") {
            fail("unexpected '" + tag + "'", line);
        } else {
            fail("unknown statement '" + tag + "'", line);
        }
        tag_stack_.pop_back();
        body.push_back(std::move(s));
    }

    If parse_if() {
        return with_soft(true, [&] { return parse_if_branches(); });
    }

    If parse_if_branches() {
        advance();
        If result;
        while (true) {
            ExpressionPointer test = parse_tuple(false, false, {}, false);
            Body branch = parse_statements({"elif", "else", "endif"}, false);
            result.branches.emplace_back(std::move(test), std::move(branch));
            const std::string tag = advance().text;
            if (tag == "elif") continue;
            if (tag == "else") result.otherwise = parse_statements({"endif"}, true);
            break;
        }
        return result;
    }

    For parse_for() {
        advance();
        For loop;
        loop.target = parse_assign_target(true, false, {"in"}, false);
        expect_name("in");
        loop.iterable = parse_tuple(false, false, {"recursive"}, false);
        with_soft(false, [&] {
            if (skip_name("if")) loop.condition = parse_expression(true);
            loop.recursive = skip_name("recursive");
            ++loop_depth_;
            loop.body = parse_statements({"endfor", "else"}, false);
            --loop_depth_;
            if (advance().text == "else") loop.otherwise = parse_statements({"endfor"}, true);
            return 0;
        });
        return loop;
    }

    void parse_set(Statement& s) {
        advance();
        Target target = parse_assign_target(true, false, {}, true);
        if (skip_operator("=")) {
            s.node = Set{std::move(target), parse_tuple(false, true, {}, false)};
            return;
        }
        SetBlock block;
        block.target = std::move(target);
        block.filters = parse_filter_chain(false, false);
        block.body = with_soft(false, [&] { return parse_statements({"endset"}, true); });
        s.node = std::move(block);
    }

    // A macro or call-block body: its own loop nesting, and it records which of caller,
    // varargs and kwargs it refers to.
    std::shared_ptr<const Body> parse_macro_body(MacroSignature& signature,
                                                 const std::string& end_tag) {
        const int saved_loops = loop_depth_;
        loop_depth_ = 0;
        open_signatures_.push_back(&signature);
        auto body = std::make_shared<const Body>(
            with_soft(false, [&] { return parse_statements({end_tag}, true); }));
        open_signatures_.pop_back();
        loop_depth_ = saved_loops;
        return body;
    }

    MacroDefinition parse_macro() {
        advance();
        MacroDefinition macro;
        macro.name = expect_any_name();
        parse_signature(macro.signature);
        macro.body = parse_macro_body(macro.signature, "endmacro");
        return macro;
    }

    void parse_signature(MacroSignature& signature) {
        expect_operator("(");
        while (!is_operator(")")) {
            if (!signature.parameters.empty()) expect_operator(",");
            MacroParameter parameter;
            parameter.name = expect_any_name();
            if (skip_operator("=")) {
                parameter.default_value = parse_expression(true);
            } else if (!signature.parameters.empty() &&
                       signature.parameters.back().default_value != nullptr) {
                fail("non-default argument follows default argument");
            }
            signature.parameters.push_back(std::move(parameter));
        }
        expect_operator(")");
    }

    CallBlock parse_call_block() {
        const int line = advance().line;
        CallBlock block;
        if (is_operator("(")) parse_signature(block.signature);
        block.call = parse_expression(true);
        if (!std::holds_alternative<Call>(block.call->node)) fail("expected call", line);
        block.body = parse_macro_body(block.signature, "endcall");
        return block;
    }

    With parse_with() {
        advance();
        With with;
        while (current().kind != TokenKind::BlockEnd) {
            if (!with.assignments.empty()) expect_operator(",");
            Target target = parse_assign_target(true, false, {}, false);
            expect_operator("=");
            with.assignments.emplace_back(std::move(target), parse_expression(true));
        }
        with.body = with_soft(false, [&] { return parse_statements({"endwith"}, true); });
        return with;
    }

    Target to_target(const Expression& e) {
        Target target;
        target.line = e.line;
        if (const auto* name = std::get_if<Name>(&e.node)) {
            target.kind = Target::Kind::Name;
            target.name = name->name;
            return target;
        }
        if (const auto* tuple = std::get_if<TupleLiteral>(&e.node)) {
            target.kind = Target::Kind::Tuple;
            for (const auto& item : tuple->items) target.items.push_back(to_target(*item));
            return target;
        }
        fail("can't assign to this expression", e.line);
    }

    Target parse_assign_target(bool with_tuple, bool name_only,
                               const std::vector<std::string>& extra_end, bool with_namespace) {
        const int line = current().line;
        if (name_only || (with_namespace && current().kind == TokenKind::Name &&
                          look().kind == TokenKind::Operator && look().text == ".")) {
            Target target;
            target.line = line;
            target.name = expect_any_name();
            if (!name_only) {
                advance();
                target.kind = Target::Kind::NamespaceAttribute;
                target.attribute = expect_any_name();
            }
            return target;
        }
        ExpressionPointer e =
            with_tuple ? parse_tuple(true, true, extra_end, false) : parse_primary();
        if (const auto* literal = std::get_if<Literal>(&e->node)) {
            (void)literal;
            fail("can't assign to a constant", line);
        }
        return to_target(*e);
    }

    // --- expressions ---

    ExpressionPointer parse_expression(bool with_conditional) {
        Nesting nesting(*this);
        return with_conditional ? parse_conditional() : parse_or();
    }

    ExpressionPointer parse_conditional() {
        const size_t first_use = unknown_uses_.size();
        ExpressionPointer expr = parse_or();
        while (is_name("if")) {
            const int line = advance().line;
            Conditional c;
            with_soft(true, [&] {
                c.condition = parse_or();
                if (skip_name("else")) c.if_false = parse_conditional();
                return 0;
            });
            c.if_true = std::move(expr);
            for (size_t i = first_use; i < unknown_uses_.size(); ++i) unknown_uses_[i].soft = true;
            expr = make(line, std::move(c));
        }
        return expr;
    }

    ExpressionPointer parse_or() {
        ExpressionPointer left = parse_and();
        while (is_name("or")) {
            const int line = advance().line;
            left = make(line, Logical{LogicalOperator::Or, std::move(left), parse_and()});
        }
        return left;
    }

    ExpressionPointer parse_and() {
        ExpressionPointer left = parse_not();
        while (is_name("and")) {
            const int line = advance().line;
            left = make(line, Logical{LogicalOperator::And, std::move(left), parse_not()});
        }
        return left;
    }

    ExpressionPointer parse_not() {
        if (is_name("not")) {
            Nesting nesting(*this);
            const int line = advance().line;
            return make(line, Unary{UnaryOperator::Not, parse_not()});
        }
        return parse_compare();
    }

    ExpressionPointer parse_compare() {
        const int line = current().line;
        ExpressionPointer first = parse_math1();
        Comparison comparison;
        while (true) {
            CompareOperator op;
            if (is_operator("=="))
                op = CompareOperator::Equal;
            else if (is_operator("!="))
                op = CompareOperator::NotEqual;
            else if (is_operator("<"))
                op = CompareOperator::Less;
            else if (is_operator("<="))
                op = CompareOperator::LessEqual;
            else if (is_operator(">"))
                op = CompareOperator::Greater;
            else if (is_operator(">="))
                op = CompareOperator::GreaterEqual;
            else if (is_name("in"))
                op = CompareOperator::In;
            else if (is_name("not") && look().kind == TokenKind::Name && look().text == "in") {
                advance();
                op = CompareOperator::NotIn;
            } else {
                break;
            }
            advance();
            comparison.rest.emplace_back(op, parse_math1());
        }
        if (comparison.rest.empty()) return first;
        comparison.first = std::move(first);
        return make(line, std::move(comparison));
    }

    ExpressionPointer parse_math1() {
        ExpressionPointer left = parse_concat();
        while (is_operator("+") || is_operator("-")) {
            const Token& token = advance();
            const BinaryOperator op =
                token.text == "+" ? BinaryOperator::Add : BinaryOperator::Subtract;
            left = make(token.line, Binary{op, std::move(left), parse_concat()});
        }
        return left;
    }

    ExpressionPointer parse_concat() {
        const int line = current().line;
        ExpressionPointer first = parse_math2();
        if (!is_operator("~")) return first;
        Concat concat;
        concat.parts.push_back(std::move(first));
        while (skip_operator("~")) concat.parts.push_back(parse_math2());
        return make(line, std::move(concat));
    }

    ExpressionPointer parse_math2() {
        ExpressionPointer left = parse_pow();
        while (is_operator("*") || is_operator("/") || is_operator("//") || is_operator("%")) {
            const Token& token = advance();
            const BinaryOperator op = token.text == "*"    ? BinaryOperator::Multiply
                                      : token.text == "/"  ? BinaryOperator::Divide
                                      : token.text == "//" ? BinaryOperator::FloorDivide
                                                           : BinaryOperator::Modulo;
            left = make(token.line, Binary{op, std::move(left), parse_pow()});
        }
        return left;
    }

    ExpressionPointer parse_pow() {
        ExpressionPointer left = parse_unary(true);
        while (is_operator("**")) {
            const int line = advance().line;
            left = make(line, Binary{BinaryOperator::Power, std::move(left), parse_unary(true)});
        }
        return left;
    }

    ExpressionPointer parse_unary(bool with_filter) {
        Nesting nesting(*this);
        const int line = current().line;
        ExpressionPointer node;
        if (skip_operator("-")) {
            node = make(line, Unary{UnaryOperator::Negate, parse_unary(false)});
        } else if (skip_operator("+")) {
            node = make(line, Unary{UnaryOperator::Plus, parse_unary(false)});
        } else {
            node = parse_primary();
        }
        node = parse_postfix(std::move(node));
        if (with_filter) node = parse_filter_expression(std::move(node));
        return node;
    }

    ExpressionPointer parse_primary() {
        Nesting nesting(*this);
        const Token& token = current();
        const int line = token.line;
        if (token.kind == TokenKind::Name) {
            const std::string name = advance().text;
            if (name == "true" || name == "True") return make(line, Literal{Value::boolean(true)});
            if (name == "false" || name == "False")
                return make(line, Literal{Value::boolean(false)});
            if (name == "none" || name == "None") return make(line, Literal{Value::none()});
            return make(line, Name{name});
        }
        if (token.kind == TokenKind::String) {
            std::string text = advance().text;
            while (current().kind == TokenKind::String) text += advance().text;
            return make(line, Literal{Value::string(std::move(text))});
        }
        if (token.kind == TokenKind::Integer)
            return make(line, Literal{Value::integer(advance().integer)});
        if (token.kind == TokenKind::Float)
            return make(line, Literal{Value::number(advance().number)});
        if (skip_operator("(")) {
            ExpressionPointer e = parse_tuple(false, true, {}, true);
            expect_operator(")");
            return e;
        }
        if (is_operator("[")) return parse_list();
        if (is_operator("{")) return parse_dict();
        fail("unexpected " + describe(token));
    }

    bool is_tuple_end(const std::vector<std::string>& extra_end) const {
        const TokenKind kind = current().kind;
        if (kind == TokenKind::VariableEnd || kind == TokenKind::BlockEnd || is_operator(")"))
            return true;
        return at_end_tag(extra_end);
    }

    ExpressionPointer parse_tuple(bool simplified, bool with_conditional,
                                  const std::vector<std::string>& extra_end,
                                  bool explicit_parentheses) {
        int line = current().line;
        std::vector<ExpressionPointer> items;
        bool is_tuple = false;
        while (true) {
            if (!items.empty()) expect_operator(",");
            if (is_tuple_end(extra_end)) break;
            items.push_back(simplified ? parse_primary() : parse_expression(with_conditional));
            if (is_operator(",")) {
                is_tuple = true;
            } else {
                break;
            }
            line = current().line;
        }
        if (!is_tuple) {
            if (!items.empty()) return std::move(items.front());
            if (!explicit_parentheses) fail("expected an expression, got " + describe(current()));
        }
        return make(line, TupleLiteral{std::move(items)});
    }

    ExpressionPointer parse_list() {
        const int line = advance().line;
        ListLiteral list;
        while (!is_operator("]")) {
            if (!list.items.empty()) expect_operator(",");
            if (is_operator("]")) break;
            list.items.push_back(parse_expression(true));
        }
        expect_operator("]");
        return make(line, std::move(list));
    }

    ExpressionPointer parse_dict() {
        const int line = advance().line;
        DictLiteral dict;
        while (!is_operator("}")) {
            if (!dict.entries.empty()) expect_operator(",");
            if (is_operator("}")) break;
            ExpressionPointer key = parse_expression(true);
            expect_operator(":");
            dict.entries.emplace_back(std::move(key), parse_expression(true));
        }
        expect_operator("}");
        return make(line, std::move(dict));
    }

    ExpressionPointer parse_postfix(ExpressionPointer node) {
        while (true) {
            if (is_operator(".") || is_operator("[")) {
                node = parse_subscript(std::move(node));
            } else if (is_operator("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExpressionPointer parse_filter_expression(ExpressionPointer node) {
        while (true) {
            if (is_operator("|")) {
                for (FilterApplication& filter : parse_filter_chain(false, soft_)) {
                    const int line = filter.line;
                    node = make(line, Filtered{std::move(node), std::move(filter)});
                }
            } else if (is_name("is")) {
                node = parse_test(std::move(node));
            } else if (is_operator("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExpressionPointer parse_subscript(ExpressionPointer node) {
        const Token& token = advance();
        const int line = token.line;
        if (token.text == ".") {
            const Token& attribute = current();
            if (attribute.kind == TokenKind::Name) {
                return make(line, AttributeAccess{std::move(node), advance().text});
            }
            if (attribute.kind != TokenKind::Integer) fail("expected name or number");
            ExpressionPointer index =
                make(attribute.line, Literal{Value::integer(advance().integer)});
            return make(line, ItemAccess{std::move(node), std::move(index)});
        }
        std::vector<Subscript> subscripts;
        while (!is_operator("]")) {
            if (!subscripts.empty()) expect_operator(",");
            subscripts.push_back(parse_subscribed());
        }
        expect_operator("]");
        if (subscripts.size() == 1 && subscripts[0].is_slice) {
            Subscript& s = subscripts[0];
            return make(line, SliceAccess{std::move(node), std::move(s.start), std::move(s.stop),
                                          std::move(s.step)});
        }
        if (subscripts.size() == 1)
            return make(line, ItemAccess{std::move(node), std::move(subscripts[0].index)});
        TupleLiteral tuple;
        for (Subscript& s : subscripts) {
            if (s.is_slice) fail("slices inside a tuple subscript are not supported", line);
            tuple.items.push_back(std::move(s.index));
        }
        return make(line, ItemAccess{std::move(node), make(line, std::move(tuple))});
    }

    Subscript parse_subscribed() {
        Subscript s;
        if (skip_operator(":")) {
            s.is_slice = true;
        } else {
            s.index = parse_expression(true);
            if (!skip_operator(":")) return s;
            s.is_slice = true;
            s.start = std::move(s.index);
        }
        if (!is_operator(":") && !is_operator("]") && !is_operator(","))
            s.stop = parse_expression(true);
        if (skip_operator(":")) {
            if (!is_operator("]") && !is_operator(",")) s.step = parse_expression(true);
        }
        return s;
    }

    CallArguments parse_call_arguments() {
        const int line = current().line;
        expect_operator("(");
        CallArguments arguments;
        bool require_comma = false;
        while (!is_operator(")")) {
            if (require_comma) {
                expect_operator(",");
                if (is_operator(")")) break;
            }
            if (is_operator("*") || is_operator("**")) {
                fail("*args and **kwargs in calls are not supported");
            }
            if (current().kind == TokenKind::Name && look().kind == TokenKind::Operator &&
                look().text == "=") {
                std::string key = advance().text;
                advance();
                arguments.keyword.emplace_back(std::move(key), parse_expression(true));
            } else {
                if (!arguments.keyword.empty())
                    fail("invalid syntax for function call expression", line);
                arguments.positional.push_back(parse_expression(true));
            }
            require_comma = true;
        }
        expect_operator(")");
        return arguments;
    }

    ExpressionPointer parse_call(ExpressionPointer node) {
        const int line = current().line;
        CallArguments arguments = parse_call_arguments();
        return make(line, Call{std::move(node), std::move(arguments)});
    }

    // "| f | g(x)": the filters in order. `inline_first`: the first has no "|" (filter blocks).
    // `soft`: an unknown filter fails when applied rather than when parsed (see with_soft).
    std::vector<FilterApplication> parse_filter_chain(bool inline_first, bool soft) {
        std::vector<FilterApplication> filters;
        while (is_operator("|") || inline_first) {
            if (!inline_first) advance();
            inline_first = false;
            FilterApplication filter;
            filter.line = current().line;
            filter.name = expect_any_name();
            while (skip_operator(".")) filter.name += concat(".", expect_any_name());
            filter.function = find_filter(filter.name);
            if (filter.function == nullptr) {
                unknown_uses_.push_back(
                    {concat("unknown filter '", filter.name, "'"), filter.line, soft});
            }
            if (is_operator("(")) filter.arguments = parse_call_arguments();
            filters.push_back(std::move(filter));
        }
        return filters;
    }

    ExpressionPointer parse_test(ExpressionPointer node) {
        const int line = advance().line;
        const bool negated = skip_name("not");
        TestApplication test;
        const int name_line = current().line;
        test.name = expect_any_name();
        while (skip_operator(".")) test.name += concat(".", expect_any_name());
        test.function = find_test(test.name);
        if (test.function == nullptr) {
            unknown_uses_.push_back({concat("unknown test '", test.name, "'"), name_line, soft_});
        }
        const Token& next = current();
        const bool argument_follows =
            next.kind == TokenKind::String || next.kind == TokenKind::Integer ||
            next.kind == TokenKind::Float || is_operator("[") || is_operator("{") ||
            (next.kind == TokenKind::Name && next.text != "else" && next.text != "or" &&
             next.text != "and");
        if (is_operator("(")) {
            test.arguments = parse_call_arguments();
        } else if (argument_follows) {
            if (is_name("is")) fail("You cannot chain multiple tests with is");
            test.arguments.positional.push_back(parse_postfix(parse_primary()));
        }
        test.input = std::move(node);
        ExpressionPointer result = make(line, std::move(test));
        if (negated) result = make(line, Unary{UnaryOperator::Not, std::move(result)});
        return result;
    }

    // Names a macro body refers to decide whether it takes caller, varargs and kwargs.
    void note_name(const std::string& name) {
        for (MacroSignature* signature : open_signatures_) {
            if (name == "caller") signature->uses_caller = true;
            if (name == "varargs") signature->uses_varargs = true;
            if (name == "kwargs") signature->uses_kwargs = true;
        }
    }

    ExpressionPointer make(int line, Name node) {
        note_name(node.name);
        auto e = std::make_unique<Expression>();
        e->line = line;
        e->node = std::move(node);
        return e;
    }

    std::vector<Token> tokens_;
    const std::string& name_;
    size_t position_ = 0;
    int nesting_ = 0;
    int loop_depth_ = 0;
    std::vector<std::pair<std::string, int>> tag_stack_;
    std::vector<MacroSignature*> open_signatures_;
    // Filters and tests no table has: errors at the end of parsing, unless in a soft context.
    struct UnknownUse {
        std::string what;
        int line;
        bool soft;
    };
    std::vector<UnknownUse> unknown_uses_;
    bool soft_ = false;
};

}  // namespace

Body parse_template(std::vector<Token> tokens, const std::string& name) {
    return Parser(std::move(tokens), name).parse_template();
}

}  // namespace tessera::jinja
