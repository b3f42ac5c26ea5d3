#include "tools/arg_parser.h"

#include <charconv>
#include <cstdio>
#include <sstream>

namespace tessera::tools {

namespace {
std::vector<std::string> split_names(const std::string& names) {
    std::vector<std::string> out;
    std::stringstream stream(names);
    std::string name;
    while (std::getline(stream, name, ',')) {
        const auto first = name.find_first_not_of(' ');
        const auto last = name.find_last_not_of(' ');
        if (first != std::string::npos) out.push_back(name.substr(first, last - first + 1));
    }
    return out;
}
}  // namespace

ArgParser::ArgParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void ArgParser::flag(std::string names, bool* out, std::string help) {
    specs_.push_back(
        {split_names(names), "", std::move(help), [out](const std::string&) { *out = true; }});
}

void ArgParser::option(std::string names, std::string* out, std::string value_name,
                       std::string help) {
    specs_.push_back({split_names(names), std::move(value_name), std::move(help),
                      [out](const std::string& value) { *out = value; }});
}

void ArgParser::option(std::string names, std::optional<std::string>* out, std::string value_name,
                       std::string help) {
    specs_.push_back({split_names(names), std::move(value_name), std::move(help),
                      [out](const std::string& value) { *out = value; }});
}

void ArgParser::option(std::string names, int64_t* out, std::string value_name, std::string help) {
    auto name_list = split_names(names);
    const std::string display = name_list.back();
    specs_.push_back({std::move(name_list), std::move(value_name), std::move(help),
                      [out, display](const std::string& value) {
                          int64_t parsed = 0;
                          const char* end = value.data() + value.size();
                          auto [ptr, error] = std::from_chars(value.data(), end, parsed);
                          if (error != std::errc() || ptr != end) {
                              throw UsageError(display + " expects an integer, got '" + value +
                                               "'");
                          }
                          *out = parsed;
                      }});
}

void ArgParser::positional(std::string name, std::string* out, std::string help, bool required) {
    positionals_.push_back({std::move(name), std::move(help), required, out});
}

const ArgParser::Spec* ArgParser::find(const std::string& name) const {
    for (const Spec& spec : specs_) {
        for (const std::string& n : spec.names) {
            if (n == name) return &spec;
        }
    }
    return nullptr;
}

bool ArgParser::parse(const std::vector<std::string>& args) {
    size_t next_positional = 0;
    bool only_positionals = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (!only_positionals && arg == "--") {
            only_positionals = true;
            continue;
        }
        if (!only_positionals && (arg == "-h" || arg == "--help")) {
            std::fputs(help().c_str(), stdout);
            return false;
        }
        if (!only_positionals && arg.size() > 1 && arg[0] == '-') {
            std::string name = arg;
            std::string value;
            bool has_inline_value = false;
            if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
                name = arg.substr(0, eq);
                value = arg.substr(eq + 1);
                has_inline_value = true;
            }
            const Spec* spec = find(name);
            if (spec == nullptr) throw UsageError("unknown option '" + name + "'");
            if (spec->value_name.empty()) {
                if (has_inline_value) throw UsageError(name + " takes no value");
                spec->set("");
                continue;
            }
            if (!has_inline_value) {
                if (i + 1 >= args.size()) {
                    throw UsageError(name + " needs a value (" + spec->value_name + ")");
                }
                value = args[++i];
            }
            spec->set(value);
            continue;
        }
        if (next_positional >= positionals_.size()) {
            throw UsageError("unexpected argument '" + arg + "'");
        }
        *positionals_[next_positional++].out = arg;
    }
    for (size_t i = next_positional; i < positionals_.size(); ++i) {
        if (positionals_[i].required) throw UsageError("missing " + positionals_[i].name);
    }
    return true;
}

std::string ArgParser::help() const {
    std::string out = "usage: " + command_;
    if (!specs_.empty()) out += " [options]";
    for (const Positional& p : positionals_) out += p.required ? " " + p.name : " [" + p.name + "]";
    out += "\n\n" + summary_ + "\n";
    if (!positionals_.empty()) {
        out += "\narguments:\n";
        for (const Positional& p : positionals_) {
            char line[256];
            std::snprintf(line, sizeof line, "  %-22s %s\n", p.name.c_str(), p.help.c_str());
            out += line;
        }
    }
    out += "\noptions:\n";
    for (const Spec& spec : specs_) {
        std::string names;
        for (const std::string& n : spec.names) names += (names.empty() ? "" : ", ") + n;
        if (!spec.value_name.empty()) names += " " + spec.value_name;
        char line[512];
        std::snprintf(line, sizeof line, "  %-22s %s\n", names.c_str(), spec.help.c_str());
        out += line;
    }
    out += "  -h, --help             show this help\n";
    return out;
}

}  // namespace tessera::tools
