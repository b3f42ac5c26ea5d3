#include "tests/jinja_fixtures.h"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "tests/test_paths.h"

namespace tessera::test {

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

OrderedJson read_template_fixture(const std::string& name) {
    return OrderedJson::parse(read_text_file(source_dir() + "/tests/fixtures/templates/" + name));
}

jinja::Value value_from_json(const OrderedJson& json) {
    using jinja::Value;
    switch (json.type()) {
        case OrderedJson::value_t::null:
            return Value::none();
        case OrderedJson::value_t::boolean:
            return Value::boolean(json.get<bool>());
        case OrderedJson::value_t::number_integer:
        case OrderedJson::value_t::number_unsigned:
            return Value::integer(json.get<int64_t>());
        case OrderedJson::value_t::number_float:
            return Value::number(json.get<double>());
        case OrderedJson::value_t::string:
            return Value::string(json.get<std::string>());
        case OrderedJson::value_t::array: {
            std::vector<Value> items;
            for (const auto& item : json) items.push_back(value_from_json(item));
            return Value::list(std::move(items));
        }
        case OrderedJson::value_t::object: {
            jinja::Dict dict;
            for (const auto& [key, item] : json.items()) {
                dict.set(Value::string(key), value_from_json(item));
            }
            return Value::dict(std::move(dict));
        }
        default:
            throw std::runtime_error("unexpected JSON value in a fixture");
    }
}

std::tm parse_iso_time(const std::string& text) {
    std::tm time{};
    if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d", &time.tm_year, &time.tm_mon, &time.tm_mday,
                    &time.tm_hour, &time.tm_min, &time.tm_sec) != 6) {
        throw std::runtime_error("not an ISO time: " + text);
    }
    time.tm_year -= 1900;
    time.tm_mon -= 1;
    return time;
}

}  // namespace tessera::test
