// Reading the committed jinja2 fixtures (tests/fixtures/templates/) into interpreter values.
#pragma once

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/jinja/value.h"

namespace tessera::test {

using OrderedJson = nlohmann::ordered_json;

// tests/fixtures/templates/NAME, parsed keeping the key order (Python dicts keep it).
OrderedJson read_template_fixture(const std::string& name);
// JSON as Python's json.loads gives it: objects are dicts in order, 1 and 1.0 differ.
jinja::Value value_from_json(const OrderedJson& json);
// "2025-03-14T15:09:26" as a broken-down time.
std::tm parse_iso_time(const std::string& text);
std::string read_text_file(const std::string& path);

}  // namespace tessera::test
