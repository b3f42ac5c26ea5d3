#include "runtime/jinja/arguments.h"

#include "runtime/jinja/failure.h"

namespace tessera::jinja {

std::optional<Value> Arguments::take_keyword(std::string_view name) {
    for (auto it = keyword.begin(); it != keyword.end(); ++it) {
        if (it->first == name) {
            Value value = std::move(it->second);
            keyword.erase(it);
            return value;
        }
    }
    return std::nullopt;
}

std::vector<Value> bind(const Arguments& arguments, std::string_view function,
                        std::initializer_list<Parameter> parameters) {
    const std::string name(function);
    if (arguments.positional.size() > parameters.size()) {
        throw Failure(name + "() takes at most " + std::to_string(parameters.size()) +
                      " argument(s) (" + std::to_string(arguments.positional.size()) + " given)");
    }
    std::vector<std::optional<Value>> bound(parameters.size());
    for (size_t i = 0; i < arguments.positional.size(); ++i) bound[i] = arguments.positional[i];
    for (const auto& [key, value] : arguments.keyword) {
        size_t index = 0;
        for (const Parameter& p : parameters) {
            if (p.name == key) break;
            ++index;
        }
        if (index == parameters.size()) {
            throw Failure(name + "() got an unexpected keyword argument '" + key + "'");
        }
        if (bound[index].has_value()) {
            throw Failure(name + "() got multiple values for argument '" + key + "'");
        }
        bound[index] = value;
    }
    std::vector<Value> out;
    out.reserve(parameters.size());
    size_t index = 0;
    for (const Parameter& p : parameters) {
        if (bound[index].has_value()) {
            out.push_back(std::move(*bound[index]));
        } else if (p.default_value.has_value()) {
            out.push_back(*p.default_value);
        } else {
            throw Failure(name + "() missing required argument '" + std::string(p.name) + "'");
        }
        ++index;
    }
    return out;
}

}  // namespace tessera::jinja
