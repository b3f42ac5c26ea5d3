#include "runtime/jinja/container_methods.h"

#include <algorithm>
#include <array>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/operators.h"
#include "runtime/jinja/python_text.h"

namespace tessera::jinja {

namespace {

constexpr std::array<std::string_view, 11> kListMethods = {"append", "clear",   "copy",   "count",
                                                           "extend", "index",   "insert", "pop",
                                                           "remove", "reverse", "sort"};
constexpr std::array<std::string_view, 2> kTupleMethods = {"count", "index"};
constexpr std::array<std::string_view, 11> kDictMethods = {
    "clear", "copy",    "fromkeys",   "get",    "items", "keys",
    "pop",   "popitem", "setdefault", "update", "values"};

template <size_t N>
bool contains_name(const std::array<std::string_view, N>& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

void no_arguments(const Arguments& arguments, std::string_view type, std::string_view name) {
    if (!arguments.empty()) {
        throw Failure(std::string(type) + "." + std::string(name) + "() takes no arguments");
    }
}

int64_t index_argument(const Value& v) {
    if (!v.is_integral()) {
        throw Failure("'" + v.type_name() + "' object cannot be interpreted as an integer");
    }
    return v.as_int();
}

Value count_of(const std::vector<Value>& items, const Arguments& arguments, std::string_view type,
               Budget& budget) {
    const auto a = bind(arguments, std::string(type) + ".count", {{"value", {}}});
    int64_t count = 0;
    for (const Value& item : items) count += equals(item, a[0], budget) ? 1 : 0;
    return Value::integer(count);
}

Value index_of(const std::vector<Value>& items, const Arguments& arguments, std::string_view type,
               Budget& budget) {
    const auto a =
        bind(arguments, std::string(type) + ".index",
             {{"value", {}}, {"start", Value::integer(0)}, {"stop", Value::integer(INT64_MAX)}});
    const auto n = static_cast<int64_t>(items.size());
    const auto resolve = [&](const Value& v) {
        int64_t i = index_argument(v);
        if (i < 0) i = std::max<int64_t>(i + n, 0);
        return std::min(i, n);
    };
    for (int64_t i = resolve(a[1]); i < resolve(a[2]); ++i) {
        if (equals(items[static_cast<size_t>(i)], a[0], budget)) return Value::integer(i);
    }
    throw Failure(to_repr(a[0], budget) + " is not in " + std::string(type));
}

}  // namespace

bool is_python_list_method(std::string_view name) {
    return contains_name(kListMethods, name);
}
bool is_python_tuple_method(std::string_view name) {
    return contains_name(kTupleMethods, name);
}
bool is_python_dict_method(std::string_view name) {
    return contains_name(kDictMethods, name);
}

Value call_list_method(const Value& self, std::string_view name, Arguments& arguments,
                       Budget& budget) {
    std::vector<Value>& items = self.sequence().items;
    if (name == "append") {
        const auto a = bind(arguments, "list.append", {{"object", {}}});
        budget.check_items(items.size() + 1);
        budget.allocate_items(1);
        items.push_back(a[0]);
        return Value::none();
    }
    if (name == "extend") {
        const auto a = bind(arguments, "list.extend", {{"iterable", {}}});
        std::vector<Value> more = iterate(a[0], budget);
        budget.check_items(items.size() + more.size());
        budget.allocate_items(more.size());
        items.insert(items.end(), more.begin(), more.end());
        return Value::none();
    }
    if (name == "insert") {
        const auto a = bind(arguments, "list.insert", {{"index", {}}, {"object", {}}});
        budget.check_items(items.size() + 1);
        budget.allocate_items(1);
        const auto n = static_cast<int64_t>(items.size());
        int64_t i = index_argument(a[0]);
        if (i < 0) i = std::max<int64_t>(i + n, 0);
        i = std::min(i, n);
        budget.charge(static_cast<uint64_t>(n - i));  // the items moved up
        items.insert(items.begin() + static_cast<std::ptrdiff_t>(i), a[1]);
        return Value::none();
    }
    if (name == "pop") {
        const auto a = bind(arguments, "list.pop", {{"index", Value::integer(-1)}});
        if (items.empty()) throw Failure("pop from empty list");
        const auto n = static_cast<int64_t>(items.size());
        int64_t i = index_argument(a[0]);
        if (i < 0) i += n;
        if (i < 0 || i >= n) throw Failure("pop index out of range");
        budget.charge(static_cast<uint64_t>(n - i));  // the items moved down
        Value popped = std::move(items[static_cast<size_t>(i)]);
        items.erase(items.begin() + static_cast<std::ptrdiff_t>(i));
        return popped;
    }
    if (name == "remove") {
        const auto a = bind(arguments, "list.remove", {{"value", {}}});
        for (auto it = items.begin(); it != items.end(); ++it) {
            if (equals(*it, a[0], budget)) {
                budget.charge(static_cast<uint64_t>(items.end() - it));  // the items moved down
                items.erase(it);
                return Value::none();
            }
        }
        throw Failure("list.remove(x): x not in list");
    }
    if (name == "index") return index_of(items, arguments, "list", budget);
    if (name == "count") return count_of(items, arguments, "list", budget);
    if (name == "reverse") {
        no_arguments(arguments, "list", name);
        budget.charge(items.size());
        std::reverse(items.begin(), items.end());
        return Value::none();
    }
    if (name == "sort") {
        const auto a = bind(arguments, "list.sort", {{"reverse", Value::boolean(false)}});
        std::vector<Value> sorted = sort_values(items, a[0].truthy(), budget);
        items = std::move(sorted);
        return Value::none();
    }
    if (name == "copy") {
        no_arguments(arguments, "list", name);
        budget.allocate_items(items.size());
        return Value::list(items);
    }
    if (name == "clear") {
        no_arguments(arguments, "list", name);
        items.clear();
        return Value::none();
    }
    throw Failure("unknown method 'list." + std::string(name) + "'");
}

Value call_tuple_method(const Value& self, std::string_view name, Arguments& arguments,
                        Budget& budget) {
    if (name == "index") return index_of(self.sequence().items, arguments, "tuple", budget);
    if (name == "count") return count_of(self.sequence().items, arguments, "tuple", budget);
    throw Failure("unknown method 'tuple." + std::string(name) + "'");
}

Value call_dict_method(const Value& self, std::string_view name, Arguments& arguments,
                       Budget& budget) {
    const Dict& dict = self.dict();
    if (name == "items" || name == "keys" || name == "values") {
        no_arguments(arguments, "dict", name);
        // items() makes a pair for each entry as well.
        budget.allocate_items(name == "items" ? 3 * dict.size() : dict.size());
        std::vector<Value> view;
        view.reserve(dict.size());
        for (const auto& [key, value] : dict.entries()) {
            if (name == "items") {
                view.push_back(Value::tuple({key, value}));
            } else {
                view.push_back(name == "keys" ? key : value);
            }
        }
        const SequenceKind kind = name == "items"  ? SequenceKind::DictItems
                                  : name == "keys" ? SequenceKind::DictKeys
                                                   : SequenceKind::DictValues;
        return Value::sequence(kind, std::move(view));
    }
    if (name == "get") {
        const auto a = bind(arguments, "dict.get", {{"key", {}}, {"default", Value::none()}});
        const Value* found = dict.find(a[0], budget);
        return found != nullptr ? *found : a[1];
    }
    if (name == "copy") {
        no_arguments(arguments, "dict", name);
        // A copy of the index too, with its keys' text.
        for (const auto& entry : dict.entries()) hash_key(entry.first, &budget);
        budget.allocate_items(2 * dict.size());
        return Value::dict(dict);
    }
    throw Failure("unknown method 'dict." + std::string(name) + "'");
}

}  // namespace tessera::jinja
