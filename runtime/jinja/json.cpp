#include "runtime/jinja/json.h"

#include <cmath>
#include <cstdio>
#include <vector>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/operators.h"
#include "runtime/jinja/python_text.h"
#include "runtime/jinja/text_builder.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {

constexpr size_t kMaxDepth = 512;

void append_escaped(TextBuilder& out, const std::string& text, bool ensure_ascii) {
    out.budget().charge_characters(text.size());
    out += '"';
    const auto hex4 = [&](unsigned value) {
        char buffer[16];
        std::snprintf(buffer, sizeof buffer, "\\u%04x", value & 0xFFFFu);
        out += buffer;
    };
    for (char32_t c : decode_utf8(text)) {
        switch (c) {
            case '"':
                out += "\\\"";
                continue;
            case '\\':
                out += "\\\\";
                continue;
            case '\n':
                out += "\\n";
                continue;
            case '\r':
                out += "\\r";
                continue;
            case '\t':
                out += "\\t";
                continue;
            case '\b':
                out += "\\b";
                continue;
            case '\f':
                out += "\\f";
                continue;
            default:
                break;
        }
        if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
            if (c >= 0x10000) {
                const char32_t v = c - 0x10000;
                hex4(static_cast<unsigned>(0xD800 | (v >> 10)));
                hex4(static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
            } else {
                hex4(static_cast<unsigned>(c));
            }
        } else {
            out.append_code_point(c);
        }
    }
    out += '"';
}

std::string float_text(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return float_repr(d);
}

class Encoder {
  public:
    Encoder(const JsonOptions& options, Budget& budget)
        : out(budget), options_(options), budget_(budget) {
        item_separator_ = options.item_separator.value_or(options.indent ? "," : ", ");
        key_separator_ = options.key_separator.value_or(": ");
    }

    void encode(const Value& value, size_t depth) {
        budget_.charge(1);
        if (value.is_none()) {
            out += "null";
        } else if (value.is_bool()) {
            out += value.as_bool() ? "true" : "false";
        } else if (value.is_int()) {
            out += std::to_string(value.as_int());
        } else if (value.is_float()) {
            budget_.charge(kFloatReprSteps);
            out += float_text(value.as_float());
        } else if (value.is_string()) {
            append_escaped(out, value.as_string(), options_.ensure_ascii);
        } else if (value.is_list() || value.is_tuple()) {
            enter(value, depth);
            const auto& items = value.sequence().items;
            if (items.empty()) {
                out += "[]";
            } else {
                out += '[';
                for (size_t i = 0; i < items.size(); ++i) {
                    separate(i, depth + 1);
                    encode(items[i], depth + 1);
                }
                close(depth);
                out += ']';
            }
            leave();
        } else if (value.is_dict()) {
            enter(value, depth);
            encode_dict(value.dict(), depth);
            leave();
        } else {
            throw Failure("Object of type " + value.type_name() + " is not JSON serializable");
        }
    }

    TextBuilder out;

  private:
    void enter(const Value& container, size_t depth) {
        if (depth > kMaxDepth) throw Failure("maximum recursion depth exceeded in tojson");
        // Looks through the containers being encoded: deep nesting makes this dear.
        budget_.charge_bytes(open_.size() * sizeof(const void*));
        for (const void* open : open_) {
            if (open == container.identity()) throw Failure("Circular reference detected");
        }
        open_.push_back(container.identity());
    }
    void leave() { open_.pop_back(); }

    void newline(size_t depth) {
        out += '\n';
        for (size_t i = 0; i < depth; ++i) out += *options_.indent;
    }
    void separate(size_t index, size_t depth) {
        if (index > 0) out += item_separator_;
        if (options_.indent) newline(depth);
    }
    void close(size_t depth) {
        if (options_.indent) newline(depth);
    }

    std::string key_text(const Value& key) {
        if (key.is_string()) return key.as_string();
        if (key.is_bool()) return key.as_bool() ? "true" : "false";
        if (key.is_none()) return "null";
        if (key.is_int()) return std::to_string(key.as_int());
        if (key.is_float()) return float_text(key.as_float());
        throw Failure("keys must be str, int, float, bool or None, not " + key.type_name());
    }

    void encode_dict(const Dict& dict, size_t depth) {
        if (dict.size() == 0) {
            out += "{}";
            return;
        }
        std::vector<size_t> order(dict.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        if (options_.sort_keys) {
            std::vector<Value> keys;
            for (const auto& entry : dict.entries()) keys.push_back(entry.first);
            order = sorted_order(keys, false, budget_);
        }
        out += '{';
        for (size_t i = 0; i < order.size(); ++i) {
            const auto& [key, item] = dict.entries()[order[i]];
            separate(i, depth + 1);
            append_escaped(out, key_text(key), options_.ensure_ascii);
            out += key_separator_;
            encode(item, depth + 1);
        }
        close(depth);
        out += '}';
    }

    const JsonOptions& options_;
    Budget& budget_;
    std::string item_separator_;
    std::string key_separator_;
    std::vector<const void*> open_;
};

}  // namespace

std::string to_json(const Value& value, const JsonOptions& options, Budget& budget) {
    Encoder encoder(options, budget);
    encoder.encode(value, 0);
    return encoder.out.take();
}

}  // namespace tessera::jinja
