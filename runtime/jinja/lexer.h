// Template source to tokens, as jinja2's lexer makes them with transformers' settings:
// trim_blocks (a newline right after a block or comment tag is dropped), lstrip_blocks (spaces
// and tabs before a block or comment tag at the start of a line are dropped), the whitespace
// control signs {%- -%} {{- -}} {#- -#} and {%+ +%}, raw blocks, newlines normalized to "\n" and
// one trailing newline of the source dropped (keep_trailing_newline off).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::jinja {

enum class TokenKind {
    Data,           // text outside tags
    VariableBegin,  // {{
    VariableEnd,    // }}
    BlockBegin,     // {%
    BlockEnd,       // %}
    Name,
    String,    // text holds the unescaped value
    Integer,   // integer holds the value
    Float,     // number holds the value
    Operator,  // text holds the symbol: "+", "==", "(", ...
    End,       // end of the template
};

struct Token {
    TokenKind kind = TokenKind::End;
    std::string text;
    int64_t integer = 0;
    double number = 0.0;
    int line = 1;
};

// Throws tessera::Error "NAME:LINE: what" for a lexical error (an unterminated comment, an
// unexpected character, unbalanced brackets, a bad escape).
std::vector<Token> tokenize(std::string_view source, const std::string& name);

const char* token_kind_name(TokenKind kind);

}  // namespace tessera::jinja
