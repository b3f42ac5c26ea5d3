#include "runtime/jinja/value.h"

#include <cmath>
#include <cstring>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/unicode.h"

namespace tessera::jinja {

namespace {
// Deeper than any data a template builds; stops cyclic lists from recursing forever, and deep
// ones from overflowing the stack.
constexpr int kMaxCompareDepth = 200;
constexpr int kMaxHashDepth = 200;

bool equals_at(const Value& a, const Value& b, int depth, Budget& budget);

bool sequences_equal(const Sequence& a, const Sequence& b, int depth, Budget& budget) {
    const bool a_tuple = a.kind == SequenceKind::Tuple || a.kind == SequenceKind::Group;
    const bool b_tuple = b.kind == SequenceKind::Tuple || b.kind == SequenceKind::Group;
    if (a_tuple != b_tuple) return false;
    if (!a_tuple && a.kind != b.kind) return false;
    if (a.kind == SequenceKind::DictValues) return &a == &b;
    if (a.items.size() != b.items.size()) return false;
    if (a.kind == SequenceKind::DictKeys || a.kind == SequenceKind::DictItems) {
        // Views compare as sets.
        for (const Value& x : a.items) {
            bool found = false;
            for (const Value& y : b.items) {
                if (equals_at(x, y, depth + 1, budget)) {
                    found = true;
                    break;
                }
            }
            if (!found) return false;
        }
        return true;
    }
    for (size_t i = 0; i < a.items.size(); ++i) {
        if (!equals_at(a.items[i], b.items[i], depth + 1, budget)) return false;
    }
    return true;
}

bool equals_at(const Value& a, const Value& b, int depth, Budget& budget) {
    if (depth > kMaxCompareDepth) throw Failure("maximum recursion depth exceeded in comparison");
    budget.charge(1);
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            if (a.is_float() && b.is_float()) return a.as_float() == b.as_float();
            const double f = a.is_float() ? a.as_float() : b.as_float();
            const int64_t i = a.is_float() ? b.as_int() : a.as_int();
            // Exact, as Python compares int with float.
            if (!std::isfinite(f) || f != std::floor(f) || std::fabs(f) >= 9.3e18) return false;
            return static_cast<int64_t>(f) == i;
        }
        return a.as_int() == b.as_int();
    }
    if (a.data().index() != b.data().index()) return false;
    if (a.is_undefined() || a.is_none()) return true;
    if (a.is_string()) {
        const std::string& x = a.as_string();
        const std::string& y = b.as_string();
        if (x.size() != y.size()) return false;
        budget.charge_bytes(x.size());
        return x == y;
    }
    if (a.is_sequence()) return sequences_equal(a.sequence(), b.sequence(), depth, budget);
    if (a.is_dict()) {
        const Dict& x = a.dict();
        const Dict& y = b.dict();
        if (x.size() != y.size()) return false;
        for (const auto& [key, value] : x.entries()) {
            const Value* other = y.find(key, budget);
            if (other == nullptr || !equals_at(value, *other, depth + 1, budget)) return false;
        }
        return true;
    }
    return a.identity() == b.identity();
}

std::string hex_bits(double d) {
    uint64_t bits = 0;
    std::memcpy(&bits, &d, sizeof bits);
    static const char* const kDigits = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i, bits >>= 4) out[static_cast<size_t>(i)] = kDigits[bits & 15];
    return out;
}
// Frees values whose containers may nest deeply: each uniquely held container hands its items
// to the work list before it is destroyed empty.
void release_all(std::vector<Value> pending) {
    while (!pending.empty()) {
        Value value = std::move(pending.back());
        pending.pop_back();
        value.release_into(pending);
    }
}
}  // namespace

Sequence::~Sequence() {
    if (!items.empty()) release_all(std::move(items));
}

Iterator::~Iterator() {
    if (!items.empty()) release_all(std::move(items));
}

Dict::~Dict() {
    if (entries_.empty()) return;
    std::vector<Value> pending;
    release_into(pending);
    release_all(std::move(pending));
}

void Dict::release_into(std::vector<Value>& pending) {
    pending.reserve(pending.size() + entries_.size() * 2);
    for (auto& [key, value] : entries_) {
        pending.push_back(std::move(key));
        pending.push_back(std::move(value));
    }
    entries_.clear();
    index_.clear();
}

void Value::release_into(std::vector<Value>& pending) {
    if (auto* s = std::get_if<std::shared_ptr<Sequence>>(&data_); s && s->use_count() == 1) {
        for (Value& item : (*s)->items) pending.push_back(std::move(item));
        (*s)->items.clear();
    } else if (auto* d = std::get_if<std::shared_ptr<Dict>>(&data_); d && d->use_count() == 1) {
        (*d)->release_into(pending);
    } else if (auto* n = std::get_if<std::shared_ptr<Namespace>>(&data_);
               n && n->use_count() == 1) {
        (*n)->attributes.release_into(pending);
    } else if (auto* i = std::get_if<std::shared_ptr<Iterator>>(&data_); i && i->use_count() == 1) {
        for (Value& item : (*i)->items) pending.push_back(std::move(item));
        (*i)->items.clear();
    }
}

void empty_container(const Value& container) {
    std::vector<Value> pending;
    if (container.is_sequence()) {
        for (Value& item : container.sequence().items) pending.push_back(std::move(item));
        container.sequence().items.clear();
    } else if (container.is_dict()) {
        container.dict().release_into(pending);
    } else if (container.is_namespace()) {
        container.namespace_().attributes.release_into(pending);
    } else if (container.is_iterator()) {
        for (Value& item : container.iterator().items) pending.push_back(std::move(item));
        container.iterator().items.clear();
    }
    release_all(std::move(pending));
}

Value Value::undefined(std::string message) {
    return Value(std::in_place_type<Undefined>, Undefined{std::move(message)});
}
Value Value::none() {
    return Value(std::in_place_type<None>);
}
Value Value::boolean(bool b) {
    return Value(std::in_place_type<bool>, b);
}
Value Value::integer(int64_t i) {
    return Value(std::in_place_type<int64_t>, i);
}
Value Value::number(double d) {
    return Value(std::in_place_type<double>, d);
}
Value Value::string(std::string s) {
    return Value(std::in_place_type<std::shared_ptr<const std::string>>,
                 std::make_shared<const std::string>(std::move(s)));
}
Value Value::sequence(SequenceKind kind, std::vector<Value> items) {
    return Value(std::in_place_type<std::shared_ptr<Sequence>>,
                 std::make_shared<Sequence>(Sequence{kind, std::move(items)}));
}
Value Value::dict(Dict d) {
    return Value(std::in_place_type<std::shared_ptr<Dict>>, std::make_shared<Dict>(std::move(d)));
}
Value Value::namespace_of(Dict attributes) {
    return Value(std::in_place_type<std::shared_ptr<Namespace>>,
                 std::make_shared<Namespace>(Namespace{std::move(attributes)}));
}
Value Value::iterator(std::string type_name, std::vector<Value> items) {
    return Value(std::in_place_type<std::shared_ptr<Iterator>>,
                 std::make_shared<Iterator>(Iterator{std::move(type_name), std::move(items), 0}));
}
Value Value::object(std::shared_ptr<Object> o) {
    return Value(std::in_place_type<std::shared_ptr<Object>>, std::move(o));
}

int64_t Value::as_int() const {
    if (is_bool()) return as_bool() ? 1 : 0;
    return std::get<int64_t>(data_);
}

double Value::as_float() const {
    if (is_float()) return std::get<double>(data_);
    return static_cast<double>(as_int());
}

const void* Value::identity() const {
    return std::visit(
        [](const auto& d) -> const void* {
            using T = std::decay_t<decltype(d)>;
            if constexpr (std::is_same_v<T, std::shared_ptr<Sequence>> ||
                          std::is_same_v<T, std::shared_ptr<Dict>> ||
                          std::is_same_v<T, std::shared_ptr<Namespace>> ||
                          std::is_same_v<T, std::shared_ptr<Iterator>> ||
                          std::is_same_v<T, std::shared_ptr<Object>>) {
                return d.get();
            } else {
                return nullptr;
            }
        },
        data_);
}

std::string Value::type_name() const {
    if (is_undefined()) return "Undefined";
    if (is_none()) return "NoneType";
    if (is_bool()) return "bool";
    if (is_int()) return "int";
    if (is_float()) return "float";
    if (is_string()) return "str";
    if (is_dict()) return "dict";
    if (is_namespace()) return "Namespace";
    if (is_iterator()) return iterator().type_name;
    if (is_object()) return object().type_name();
    switch (sequence().kind) {
        case SequenceKind::List:
            return "list";
        case SequenceKind::Tuple:
            return "tuple";
        case SequenceKind::Group:
            return "_GroupTuple";
        case SequenceKind::DictKeys:
            return "dict_keys";
        case SequenceKind::DictValues:
            return "dict_values";
        case SequenceKind::DictItems:
            return "dict_items";
    }
    return "object";
}

bool Value::truthy() const {
    if (is_undefined() || is_none()) return false;
    if (is_bool()) return as_bool();
    if (is_int()) return as_int() != 0;
    if (is_float()) return as_float() != 0.0;
    if (is_string()) return !as_string().empty();
    if (is_sequence()) return !sequence().items.empty();
    if (is_dict()) return dict().size() != 0;
    return true;
}

namespace {

void append_hash_key(std::string& key, const Value& value, int depth, Budget* budget) {
    if (depth > kMaxHashDepth) throw Failure("maximum recursion depth exceeded while hashing");
    if (budget != nullptr) budget->charge(1);
    if (value.is_undefined()) {
        key += 'U';
    } else if (value.is_none()) {
        key += 'N';
    } else if (value.is_integral()) {
        key += concat("i", std::to_string(value.as_int()));
    } else if (value.is_float()) {
        const double d = value.as_float();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) {
            key += concat("i", std::to_string(static_cast<int64_t>(d)));
        } else {
            key += concat("f", hex_bits(d));
        }
    } else if (value.is_string()) {
        const std::string& text = value.as_string();
        if (budget != nullptr) {
            budget->check_text(key.size() + text.size());
            budget->charge_bytes(text.size());
        }
        key += 's';
        key += text;
    } else if (value.is_tuple()) {
        // Each item's key, prefixed by its length, so that no two tuples share a key.
        key += concat("t", std::to_string(value.sequence().items.size()));
        for (const Value& item : value.sequence().items) {
            std::string part;
            append_hash_key(part, item, depth + 1, budget);
            if (budget != nullptr) {
                budget->check_text(key.size() + part.size());
                budget->charge_bytes(part.size());
            }
            key += concat(":", std::to_string(part.size()), ":", part);
        }
    } else if (value.is_namespace() || value.is_iterator() || value.is_object()) {
        key += concat("o", std::to_string(reinterpret_cast<uintptr_t>(value.identity())));
    } else {
        throw Failure(concat("unhashable type: '", value.type_name(), "'"));
    }
}

}  // namespace

std::string hash_key(const Value& value, Budget* budget) {
    std::string key;
    append_hash_key(key, value, 0, budget);
    return key;
}

bool equals(const Value& a, const Value& b, Budget& budget) {
    return equals_at(a, b, 0, budget);
}

std::vector<Value> iterate(const Value& value, Budget& budget) {
    if (value.is_undefined()) return {};
    if (value.is_sequence()) {
        budget.charge(value.sequence().items.size());
        return value.sequence().items;
    }
    if (value.is_dict()) {
        budget.charge(value.dict().size());
        std::vector<Value> keys;
        keys.reserve(value.dict().size());
        for (const auto& entry : value.dict().entries()) keys.push_back(entry.first);
        return keys;
    }
    if (value.is_string()) {
        // Each character becomes a string of its own: counted, and checked, before any is made.
        const std::string& text = value.as_string();
        const size_t count = code_point_count(text);
        budget.charge_bytes(text.size());
        budget.check_items(count);
        budget.allocate_items(count);
        budget.allocate_text(text.size());
        std::vector<Value> characters;
        characters.reserve(count);
        for (char32_t c : decode_utf8(text)) {
            std::string one;
            append_utf8(one, c);
            characters.push_back(Value::string(std::move(one)));
        }
        return characters;
    }
    if (value.is_iterator()) {
        Iterator& it = value.iterator();
        budget.charge(it.items.size() - it.next);
        std::vector<Value> rest(it.items.begin() + static_cast<std::ptrdiff_t>(it.next),
                                it.items.end());
        it.next = it.items.size();
        return rest;
    }
    throw Failure(concat("'", value.type_name(), "' object is not iterable"));
}

std::optional<int64_t> length_of(const Value& value, Budget& budget) {
    if (value.is_undefined()) return 0;
    if (value.is_string()) {
        budget.charge_bytes(value.as_string().size());
        return static_cast<int64_t>(code_point_count(value.as_string()));
    }
    if (value.is_sequence()) return static_cast<int64_t>(value.sequence().items.size());
    if (value.is_dict()) return static_cast<int64_t>(value.dict().size());
    return std::nullopt;
}

const Value* Dict::find_hashed(const std::string& hashed) const {
    const auto it = index_.find(hashed);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Value* Dict::find(const Value& key, Budget& budget) const {
    return find_hashed(hash_key(key, &budget));
}

const Value* Dict::find(const Value& key) const {
    return find_hashed(hash_key(key));
}

const Value* Dict::find(std::string_view key, Budget& budget) const {
    budget.charge_bytes(key.size());
    return find(key);
}

const Value* Dict::find(std::string_view key) const {
    std::string hashed;
    hashed.reserve(key.size() + 1);
    hashed += 's';
    hashed += key;
    return find_hashed(hashed);
}

void Dict::set(const Value& key, Value value, Budget& budget) {
    std::string hashed = hash_key(key, &budget);
    if (!index_.contains(hashed)) {
        budget.check_items(entries_.size() + 1);
        budget.allocate_items(2);
    }
    set_hashed(std::move(hashed), key, std::move(value));
}

void Dict::set(const Value& key, Value value) {
    set_hashed(hash_key(key), key, std::move(value));
}

void Dict::set_hashed(std::string hashed, const Value& key, Value value) {
    const auto it = index_.find(hashed);
    if (it != index_.end()) {
        entries_[it->second].second = std::move(value);
        return;
    }
    index_.emplace(std::move(hashed), entries_.size());
    entries_.emplace_back(key, std::move(value));
}

bool Dict::erase(const Value& key) {
    const auto it = index_.find(hash_key(key));
    if (it == index_.end()) return false;
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(it->second));
    reindex();
    return true;
}

void Dict::reindex() {
    index_.clear();
    for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(hash_key(entries_[i].first), i);
}

Value Object::call(Arguments&, Interpreter&) {
    throw Failure(concat("'", type_name(), "' object is not callable"));
}

Value Object::attribute(const std::string& name) {
    return Value::undefined(concat("'", type_name(), " object' has no attribute '", name, "'"));
}

}  // namespace tessera::jinja
