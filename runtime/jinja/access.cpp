#include "runtime/jinja/access.h"

#include <algorithm>
#include <optional>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/methods.h"
#include "runtime/jinja/python_text.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {

Value missing_attribute(const Value& object, const std::string& name, Budget& budget) {
    budget.allocate_text(name.size());  // the name, copied into the message
    return Value::undefined(
        concat("'", object_description(object), "' has no attribute '", name, "'"));
}

Value missing_element(const Value& object, const Value& key, Budget& budget) {
    return Value::undefined(object_description(object) + " has no element " + to_repr(key, budget));
}

// Python's index normalization: negative counts from the end; nothing when out of range.
std::optional<size_t> normalized_index(int64_t index, size_t size) {
    const auto n = static_cast<int64_t>(size);
    if (index < 0) index += n;
    if (index < 0 || index >= n) return std::nullopt;
    return static_cast<size_t>(index);
}

int64_t slice_bound(const Value& v, const char* what) {
    if (v.is_integral()) return v.as_int();
    throw Failure(std::string("slice ") + what + " must be an integer or None, not " +
                  v.type_name());
}

// What object[start:stop:step] selects from a sequence of `size` items: `count` items, the
// first at `first`, each `step` after the one before.
struct SliceRange {
    int64_t first;
    int64_t step;
    size_t count;

    size_t index(size_t k) const {
        return static_cast<size_t>(first + static_cast<int64_t>(k) * step);
    }
};

SliceRange slice_range(size_t size, const Value& start_value, const Value& stop_value,
                       const Value& step_value) {
    const int64_t step = step_value.is_none() ? 1 : slice_bound(step_value, "step");
    if (step == 0) throw Failure("slice step cannot be zero");
    const auto n = static_cast<int64_t>(size);
    const auto clamp = [&](const Value& v, int64_t if_none) {
        if (v.is_none()) return if_none;
        int64_t i = slice_bound(v, "index");
        if (i < 0) i += n;
        if (step > 0) return std::clamp<int64_t>(i, 0, n);
        return std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t start = clamp(start_value, step > 0 ? 0 : n - 1);
    const int64_t stop = clamp(stop_value, step > 0 ? n : -1);
    // Counted in unsigned arithmetic, which no step (not even the most negative) overflows.
    uint64_t count = 0;
    if (step > 0 && stop > start) {
        count = static_cast<uint64_t>(stop - start - 1) / static_cast<uint64_t>(step) + 1;
    } else if (step < 0 && start > stop) {
        count = static_cast<uint64_t>(start - stop - 1) / (0 - static_cast<uint64_t>(step)) + 1;
    }
    return {start, step, static_cast<size_t>(count)};
}

// The code point at `index` of `text` (from the end when negative), or nothing when there is
// none. From the start it is found by counting to it; from the end, by counting them all first.
std::optional<std::string> character_at(const std::string& text, int64_t index, Budget& budget) {
    size_t position;
    if (index >= 0) {
        position = static_cast<size_t>(index);
    } else {
        budget.charge_bytes(text.size());
        const auto i = normalized_index(index, code_point_count(text));
        if (!i) return std::nullopt;
        position = *i;
    }
    const size_t begin = code_point_offset(text, position);
    budget.charge_bytes(begin);
    if (begin == text.size()) return std::nullopt;
    const size_t length = code_point_offset(std::string_view(text).substr(begin), 1);
    return text.substr(begin, length);
}

// text[start:stop:step]. A forward run between bounds that count from the start (s[:n],
// s[n:]) is found by counting to its end; anything else needs the number of code points, and
// a step other than 1 all of them decoded.
Value slice_string(const std::string& text, const Value& start, const Value& stop,
                   const Value& step, Budget& budget) {
    const auto from_start = [](const Value& v) {
        return v.is_none() || (v.is_integral() && v.as_int() >= 0);
    };
    const bool unit_step = step.is_none() || (step.is_integral() && step.as_int() == 1);
    if (unit_step && from_start(start) && from_start(stop)) {
        const size_t first = start.is_none() ? 0 : static_cast<size_t>(start.as_int());
        const size_t begin = code_point_offset(text, first);
        size_t end = text.size();
        if (!stop.is_none()) {
            const auto last = static_cast<size_t>(stop.as_int());
            end = last <= first ? begin
                                : begin + code_point_offset(std::string_view(text).substr(begin),
                                                            last - first);
        }
        budget.charge_bytes(end);
        budget.allocate_text(end - begin);
        return Value::string(text.substr(begin, end - begin));
    }
    budget.charge_bytes(text.size());
    const SliceRange range = slice_range(code_point_count(text), start, stop, step);
    if (range.count == 0) return Value::string("");
    if (range.step == 1) {
        // A run of characters: found by counting, and copied as it is.
        budget.charge_bytes(text.size());
        const size_t begin = code_point_offset(text, range.index(0));
        const std::string_view rest = std::string_view(text).substr(begin);
        const size_t length = code_point_offset(rest, range.count);
        budget.allocate_text(length);
        return Value::string(std::string(rest.substr(0, length)));
    }
    budget.charge_characters(text.size());
    const std::u32string code_points = decode_utf8(text);
    std::u32string out;
    out.reserve(range.count);
    for (size_t k = 0; k < range.count; ++k) out += code_points[range.index(k)];
    std::string sliced = encode_utf8(out);
    budget.allocate_text(sliced.size());
    return Value::string(std::move(sliced));
}

}  // namespace

std::string object_description(const Value& object) {
    if (object.is_none()) return "None";
    if (object.is_namespace()) return "jinja2.utils.Namespace object";
    return object.type_name() + " object";
}

Value get_attribute(const Value& object, const std::string& name, Budget& budget) {
    if (object.is_undefined()) throw Failure(object.undefined_message());
    // A name from the template is short, but attr() and map(attribute=...) take any string.
    budget.charge_bytes(name.size());
    if (has_method(object, name)) return bound_method(object, name);
    if (object.is_dict()) {
        if (const Value* v = object.dict().find(std::string_view(name), budget)) return *v;
        return missing_attribute(object, name, budget);
    }
    if (object.is_namespace()) {
        if (const Value* v = object.namespace_().attributes.find(std::string_view(name), budget)) {
            return *v;
        }
        return missing_attribute(object, name, budget);
    }
    if (object.is_sequence() && object.sequence().kind == SequenceKind::Group) {
        if (name == "grouper") return object.sequence().items.at(0);
        if (name == "list") return object.sequence().items.at(1);
    }
    if (object.is_object()) {
        Value attribute = object.object().attribute(name);
        // An undefined attribute's message has the name in it.
        if (attribute.is_undefined()) budget.allocate_text(name.size());
        return attribute;
    }
    return missing_attribute(object, name, budget);
}

Value get_item(const Value& object, const Value& key, Budget& budget) {
    if (object.is_undefined()) throw Failure(object.undefined_message());
    const bool indexable = object.is_sequence() &&
                           object.sequence().kind != SequenceKind::DictKeys &&
                           object.sequence().kind != SequenceKind::DictValues &&
                           object.sequence().kind != SequenceKind::DictItems;
    if (indexable && key.is_integral()) {
        const auto& items = object.sequence().items;
        if (auto i = normalized_index(key.as_int(), items.size())) return items[*i];
        return missing_element(object, key, budget);
    }
    if (object.is_string() && key.is_integral()) {
        if (auto c = character_at(object.as_string(), key.as_int(), budget)) {
            return Value::string(std::move(*c));
        }
        return missing_element(object, key, budget);
    }
    if (object.is_dict()) {
        try {
            if (const Value* v = object.dict().find(key, budget)) return *v;
        } catch (const Failure&) {
            // An unhashable key is a TypeError in Python, which jinja2 turns into undefined.
        }
    }
    // jinja2 falls back to the attribute when the key is a string.
    if (key.is_string()) return get_attribute(object, key.as_string(), budget);
    return missing_element(object, key, budget);
}

Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step,
                Budget& budget) {
    if (object.is_undefined()) throw Failure(object.undefined_message());
    if (object.is_string()) return slice_string(object.as_string(), start, stop, step, budget);
    if (object.is_list() || object.is_tuple()) {
        const auto& items = object.sequence().items;
        const SliceRange range = slice_range(items.size(), start, stop, step);
        budget.allocate_items(range.count);
        std::vector<Value> out;
        out.reserve(range.count);
        for (size_t k = 0; k < range.count; ++k) out.push_back(items[range.index(k)]);
        return object.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
    }
    return Value::undefined(object_description(object) + " has no element slice(" +
                            to_repr(start, budget) + ", " + to_repr(stop, budget) + ", " +
                            to_repr(step, budget) + ")");
}

}  // namespace tessera::jinja
