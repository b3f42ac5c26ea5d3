#include "runtime/jinja/access.h"

#include <algorithm>
#include <optional>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/methods.h"
#include "runtime/jinja/python_text.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {

Value missing_attribute(const Value& object, const std::string& name) {
    return Value::undefined(
        concat("'", object_description(object), "' has no attribute '", name, "'"));
}

Value missing_element(const Value& object, const Value& key) {
    return Value::undefined(object_description(object) + " has no element " + to_repr(key));
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

// The indices object[start:stop:step] selects, for a sequence of `size` items.
std::vector<size_t> slice_indices(size_t size, const Value& start_value, const Value& stop_value,
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
    std::vector<size_t> indices;
    if (step > 0) {
        for (int64_t i = start; i < stop; i += step) indices.push_back(static_cast<size_t>(i));
    } else {
        for (int64_t i = start; i > stop; i += step) indices.push_back(static_cast<size_t>(i));
    }
    return indices;
}

}  // namespace

std::string object_description(const Value& object) {
    if (object.is_none()) return "None";
    if (object.is_namespace()) return "jinja2.utils.Namespace object";
    return object.type_name() + " object";
}

Value get_attribute(const Value& object, const std::string& name) {
    if (object.is_undefined()) throw Failure(object.undefined_message());
    if (has_method(object, name)) return bound_method(object, name);
    if (object.is_dict()) {
        if (const Value* v = object.dict().find(std::string_view(name))) return *v;
        return missing_attribute(object, name);
    }
    if (object.is_namespace()) {
        if (const Value* v = object.namespace_().attributes.find(std::string_view(name))) {
            return *v;
        }
        return missing_attribute(object, name);
    }
    if (object.is_sequence() && object.sequence().kind == SequenceKind::Group) {
        if (name == "grouper") return object.sequence().items.at(0);
        if (name == "list") return object.sequence().items.at(1);
    }
    if (object.is_object()) return object.object().attribute(name);
    return missing_attribute(object, name);
}

Value get_item(const Value& object, const Value& key) {
    if (object.is_undefined()) throw Failure(object.undefined_message());
    const bool indexable = object.is_sequence() &&
                           object.sequence().kind != SequenceKind::DictKeys &&
                           object.sequence().kind != SequenceKind::DictValues &&
                           object.sequence().kind != SequenceKind::DictItems;
    if (indexable && key.is_integral()) {
        const auto& items = object.sequence().items;
        if (auto i = normalized_index(key.as_int(), items.size())) return items[*i];
        return missing_element(object, key);
    }
    if (object.is_string() && key.is_integral()) {
        const std::u32string text = decode_utf8(object.as_string());
        if (auto i = normalized_index(key.as_int(), text.size())) {
            return Value::string(encode_utf8(text.substr(*i, 1)));
        }
        return missing_element(object, key);
    }
    if (object.is_dict()) {
        try {
            if (const Value* v = object.dict().find(key)) return *v;
        } catch (const Failure&) {
            // An unhashable key is a TypeError in Python, which jinja2 turns into undefined.
        }
    }
    // jinja2 falls back to the attribute when the key is a string.
    if (key.is_string()) return get_attribute(object, key.as_string());
    return missing_element(object, key);
}

Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
    if (object.is_undefined()) throw Failure(object.undefined_message());
    if (object.is_string()) {
        const std::u32string text = decode_utf8(object.as_string());
        std::u32string out;
        for (size_t i : slice_indices(text.size(), start, stop, step)) out += text[i];
        return Value::string(encode_utf8(out));
    }
    if (object.is_list() || object.is_tuple()) {
        const auto& items = object.sequence().items;
        std::vector<Value> out;
        for (size_t i : slice_indices(items.size(), start, stop, step)) out.push_back(items[i]);
        return object.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
    }
    return Value::undefined(object_description(object) + " has no element slice(" + to_repr(start) +
                            ", " + to_repr(stop) + ", " + to_repr(step) + ")");
}

}  // namespace tessera::jinja
