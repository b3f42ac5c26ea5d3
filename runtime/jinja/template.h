// A parsed Jinja template that renders like Python's jinja2 with the settings Hugging Face
// transformers uses for chat templates (see lexer.h for the whitespace rules, interpreter.h for
// the semantics). Parsing and rendering never abort or print; every failure is tessera::Error
// "NAME:LINE: what".
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "runtime/jinja/ast.h"
#include "runtime/jinja/interpreter.h"
#include "runtime/jinja/value.h"

namespace tessera::jinja {

class Template {
  public:
    static Template parse(std::string_view source, std::string name);

    // Renders with these variables (keys are names). The parsed template is immutable: renders
    // are independent of each other. Lists and namespaces the template added items to are
    // emptied when the render ends (which frees any reference cycle it made), so a context
    // should not hold lists the caller reads afterwards.
    std::string render(const Dict& context, const RenderOptions& options = {}) const;

    const std::string& name() const { return name_; }

  private:
    Template(std::string name, std::shared_ptr<const Body> program)
        : name_(std::move(name)), program_(std::move(program)) {}

    std::string name_;
    std::shared_ptr<const Body> program_;
};

}  // namespace tessera::jinja
