#include "runtime/jinja/template.h"

#include "runtime/jinja/lexer.h"
#include "runtime/jinja/parser.h"

namespace tessera::jinja {

Template Template::parse(std::string_view source, std::string name) {
    Body body = parse_template(tokenize(source, name), name);
    return Template(std::move(name), std::make_shared<const Body>(std::move(body)));
}

std::string Template::render(const Dict& context, const RenderOptions& options) const {
    Interpreter interpreter(program_, name_, options);
    return interpreter.render(context);
}

}  // namespace tessera::jinja
