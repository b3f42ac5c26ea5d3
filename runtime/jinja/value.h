// A Jinja value with Python's data model: None, bool, int, float and str are values; list,
// tuple, dict and namespace are shared references, so that `xs.append(x)` or `ns.count = 1`
// changes what every name bound to them sees, as in Python. Dicts keep insertion order.
//
// A string is immutable and shared between the values that hold it, as in Python: copying a
// value never copies text, so the work a render does is in the operations that make, read or
// compare text, and those charge the budget for it (see budget.h).
//
// Integers are 64-bit; an operation whose exact result does not fit fails instead of wrapping.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/jinja/budget.h"

namespace tessera::jinja {

class Value;
class Dict;
class Object;
class Interpreter;
struct Arguments;

// jinja2's Undefined: what a missing variable, key or attribute evaluates to. It prints as
// nothing, is false, iterates as empty; most other operations fail with `message`.
struct Undefined {
    std::string message;  // "'x' is undefined", "'dict object' has no attribute 'y'"
};

struct None {};

// The Python sequence types a template can hold. Views and groups print like Python's.
enum class SequenceKind : uint8_t {
    List,
    Tuple,
    Group,  // groupby's (grouper, list) named tuple
    DictKeys,
    DictValues,
    DictItems,
};

struct Sequence {
    SequenceKind kind = SequenceKind::List;
    std::vector<Value> items;
    ~Sequence();  // iterative: a list nested a million deep is freed without deep recursion
};

struct Namespace;

// A generator or iterator a filter returned (select, map, items, reverse, ...): iterated once,
// always true, without a length, as in Python.
struct Iterator {
    std::string type_name;  // "generator", "list_reverseiterator"
    std::vector<Value> items;
    size_t next = 0;
    ~Iterator();
};

class Value {
  public:
    using Data =
        std::variant<Undefined, None, bool, int64_t, double, std::shared_ptr<const std::string>,
                     std::shared_ptr<Sequence>, std::shared_ptr<Dict>, std::shared_ptr<Namespace>,
                     std::shared_ptr<Iterator>, std::shared_ptr<Object>>;

    Value() = default;  // undefined
    static Value undefined(std::string message);
    static Value none();
    static Value boolean(bool b);
    static Value integer(int64_t i);
    static Value number(double d);
    static Value string(std::string s);
    static Value sequence(SequenceKind kind, std::vector<Value> items);
    static Value list(std::vector<Value> items) {
        return sequence(SequenceKind::List, std::move(items));
    }
    static Value tuple(std::vector<Value> items) {
        return sequence(SequenceKind::Tuple, std::move(items));
    }
    static Value dict(Dict d);
    static Value namespace_of(Dict attributes);
    static Value iterator(std::string type_name, std::vector<Value> items);
    static Value object(std::shared_ptr<Object> o);

    bool is_undefined() const { return std::holds_alternative<Undefined>(data_); }
    bool is_none() const { return std::holds_alternative<None>(data_); }
    bool is_bool() const { return std::holds_alternative<bool>(data_); }
    bool is_int() const { return std::holds_alternative<int64_t>(data_); }  // not bool
    bool is_float() const { return std::holds_alternative<double>(data_); }
    bool is_number() const { return is_bool() || is_int() || is_float(); }
    bool is_integral() const { return is_bool() || is_int(); }
    bool is_string() const {
        return std::holds_alternative<std::shared_ptr<const std::string>>(data_);
    }
    bool is_sequence() const { return std::holds_alternative<std::shared_ptr<Sequence>>(data_); }
    bool is_list() const { return is_sequence() && sequence().kind == SequenceKind::List; }
    bool is_tuple() const {
        return is_sequence() &&
               (sequence().kind == SequenceKind::Tuple || sequence().kind == SequenceKind::Group);
    }
    bool is_dict() const { return std::holds_alternative<std::shared_ptr<Dict>>(data_); }
    bool is_namespace() const { return std::holds_alternative<std::shared_ptr<Namespace>>(data_); }
    bool is_iterator() const { return std::holds_alternative<std::shared_ptr<Iterator>>(data_); }
    bool is_object() const { return std::holds_alternative<std::shared_ptr<Object>>(data_); }

    bool as_bool() const { return std::get<bool>(data_); }
    int64_t as_int() const;   // bool or int
    double as_float() const;  // bool, int or float
    const std::string& as_string() const {
        return *std::get<std::shared_ptr<const std::string>>(data_);
    }
    const std::string& undefined_message() const { return std::get<Undefined>(data_).message; }
    Sequence& sequence() const { return *std::get<std::shared_ptr<Sequence>>(data_); }
    Dict& dict() const { return *std::get<std::shared_ptr<Dict>>(data_); }
    Namespace& namespace_() const { return *std::get<std::shared_ptr<Namespace>>(data_); }
    Iterator& iterator() const { return *std::get<std::shared_ptr<Iterator>>(data_); }
    Object& object() const { return *std::get<std::shared_ptr<Object>>(data_); }
    const Data& data() const { return data_; }
    // The address of a list, dict, namespace, iterator or object (Python's identity); else null.
    const void* identity() const;

    // When this value is the only reference to a container, moves the container's items into
    // `pending` (the destructors' loop that frees nested data without recursing).
    void release_into(std::vector<Value>& pending);

    // type(x).__name__, for messages and the `callable`/`sequence` tests.
    std::string type_name() const;
    // bool(x) as Python computes it.
    bool truthy() const;

  private:
    // Constructs the alternative in place: going through a temporary Data and moving it makes
    // GCC 12 warn, wrongly, that the moved-from string may be uninitialized.
    template <class T, class... Args>
    explicit Value(std::in_place_type_t<T> type, Args&&... args)
        : data_(type, std::forward<Args>(args)...) {}
    Data data_;
};

// A dict: entries in insertion order, looked up through a hash of the key that follows
// Python's equality (1, 1.0 and True are one key).
class Dict {
  public:
    Dict() = default;
    Dict(const Dict&) = default;
    Dict(Dict&&) noexcept = default;
    Dict& operator=(const Dict&) = default;
    Dict& operator=(Dict&&) noexcept = default;
    ~Dict();

    // A render's keys are untrusted: it looks them up and sets them with its budget, which is
    // charged for hashing the key, and a new entry as two items. Code that builds a context
    // uses the others.
    const Value* find(const Value& key, Budget& budget) const;  // Failure for an unhashable key
    const Value* find(std::string_view key, Budget& budget) const;
    void set(const Value& key, Value value, Budget& budget);
    const Value* find(const Value& key) const;
    const Value* find(std::string_view key) const;
    void set(const Value& key, Value value);
    bool erase(const Value& key);
    size_t size() const { return entries_.size(); }
    const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
    // Empties the dict, moving its keys and values into `pending` (see Value::release_into).
    void release_into(std::vector<Value>& pending);

  private:
    const Value* find_hashed(const std::string& hashed) const;
    void set_hashed(std::string hashed, const Value& key, Value value);
    void reindex();
    std::vector<std::pair<Value, Value>> entries_;
    std::unordered_map<std::string, size_t> index_;
};

// jinja2's namespace(): an object whose attributes can be assigned from inside loops.
struct Namespace {
    Dict attributes;
};

// A text that equal hashable values share and unequal ones do not. Throws Failure
// "unhashable type: 'list'" for lists, dicts and tuples holding them. Making it is charged to
// `budget` when there is one (a tuple of tuples that share items can have a key far larger
// than itself).
std::string hash_key(const Value& value, Budget* budget = nullptr);

// Empties a list, dict, namespace or iterator in place (whoever else refers to it), freeing
// what it held without deep recursion. The interpreter empties the containers a render
// mutated once it is done, which breaks any reference cycle the mutation made (`xs.append(xs)`
// is allowed, as in Python).
void empty_container(const Value& container);

// Python's == (deep for containers), charged a step for each pair of items compared and the
// bytes of the strings compared. Throws Failure when nesting is too deep to compare.
bool equals(const Value& a, const Value& b, Budget& budget);

// The items `for x in value` visits: a sequence's items, a dict's keys, a string's characters,
// nothing for undefined; an iterator is consumed. Throws Failure "'int' object is not iterable".
// Charged as a copy of the items (a string's characters are new values).
std::vector<Value> iterate(const Value& value, Budget& budget);

// len(value), counting code points for strings; nothing when the type has no length.
std::optional<int64_t> length_of(const Value& value, Budget& budget);

// Runtime objects implemented by the interpreter: macros, builtin functions, the loop variable.
class Object {
  public:
    virtual ~Object() = default;
    virtual std::string type_name() const = 0;
    virtual std::string repr() const = 0;
    virtual bool is_callable() const { return false; }
    // Throws Failure "'X' object is not callable" unless overridden.
    virtual Value call(Arguments& arguments, Interpreter& interpreter);
    // The attribute, or undefined.
    virtual Value attribute(const std::string& name);
};

}  // namespace tessera::jinja
