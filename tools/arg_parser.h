// Command-line parsing for the tessera subcommands: flags, options with values, positionals,
// and generated help text.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tessera::tools {

// A mistake in the command line; main prints it with a pointer to --help and exits with 2.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class ArgParser {
  public:
    // `command` is e.g. "tessera inspect"; `summary` is one line saying what it does.
    ArgParser(std::string command, std::string summary);

    void flag(std::string names, bool* out, std::string help);  // names: "-j, --json"
    void option(std::string names, std::string* out, std::string value_name, std::string help);
    void option(std::string names, int64_t* out, std::string value_name, std::string help);
    // An option whose absence matters: `out` stays empty unless it is given (even as "").
    void option(std::string names, std::optional<std::string>* out, std::string value_name,
                std::string help);
    void positional(std::string name, std::string* out, std::string help, bool required = true);

    // Parses argv (without the program and command names). Returns false when --help was asked
    // for (the help has been printed to stdout). Throws UsageError on a bad command line.
    bool parse(const std::vector<std::string>& args);
    std::string help() const;

  private:
    struct Spec {
        std::vector<std::string> names;
        std::string value_name;  // empty for flags
        std::string help;
        std::function<void(const std::string&)> set;
    };
    struct Positional {
        std::string name;
        std::string help;
        bool required;
        std::string* out;
    };
    const Spec* find(const std::string& name) const;

    std::string command_;
    std::string summary_;
    std::vector<Spec> specs_;
    std::vector<Positional> positionals_;
};

}  // namespace tessera::tools
