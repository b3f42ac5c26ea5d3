#include "runtime/jinja/globals.h"

#include <chrono>
#include <cmath>
#include <memory>

#include "runtime/jinja/failure.h"
#include "runtime/jinja/interpreter.h"
#include "runtime/jinja/python_text.h"

namespace tessera::jinja {

namespace {

// jinja2's sandbox refuses ranges longer than this.
constexpr int64_t kMaxRange = 100000;

Value range_function(Arguments& arguments, Interpreter& interpreter) {
    if (!arguments.keyword.empty()) throw Failure("range() takes no keyword arguments");
    const auto& a = arguments.positional;
    if (a.empty() || a.size() > 3) {
        throw Failure("range expected at most 3 arguments, got " + std::to_string(a.size()));
    }
    for (const Value& v : a) {
        if (v.is_undefined()) throw Failure(v.undefined_message());
        if (!v.is_integral()) {
            throw Failure("'" + v.type_name() + "' object cannot be interpreted as an integer");
        }
    }
    const int64_t start = a.size() == 1 ? 0 : a[0].as_int();
    const int64_t stop = a.size() == 1 ? a[0].as_int() : a[1].as_int();
    const int64_t step = a.size() == 3 ? a[2].as_int() : 1;
    if (step == 0) throw Failure("range() arg 3 must not be zero");
    // The length, computed without overflow.
    const long double span =
        step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
    const long double length =
        span <= 0 ? 0 : std::ceil(span / std::abs(static_cast<long double>(step)));
    if (length > kMaxRange) {
        throw Failure("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    interpreter.budget().allocate_items(static_cast<size_t>(length));
    std::vector<Value> items;
    items.reserve(static_cast<size_t>(length));
    int64_t v = start;
    for (int64_t i = 0; i < static_cast<int64_t>(length); ++i, v += step)
        items.push_back(Value::integer(v));
    return Value::list(std::move(items));
}

// dict(mapping_or_pairs, **keyword), as Python builds it.
Dict dict_from(const Arguments& arguments, const char* function, Budget& budget) {
    if (arguments.positional.size() > 1) {
        throw Failure(std::string(function) + " expected at most 1 argument, got " +
                      std::to_string(arguments.positional.size()));
    }
    Dict out;
    if (!arguments.positional.empty()) {
        const Value& source = arguments.positional[0];
        if (source.is_dict()) {
            for (const auto& [key, value] : source.dict().entries()) out.set(key, value, budget);
        } else if (source.is_namespace()) {
            throw Failure("'Namespace' object is not iterable");
        } else {
            size_t index = 0;
            for (const Value& pair : iterate(source, budget)) {
                std::vector<Value> items;
                if (pair.is_string() || pair.is_sequence() || pair.is_iterator())
                    items = iterate(pair, budget);
                if (items.size() != 2) {
                    throw Failure("dictionary update sequence element #" + std::to_string(index) +
                                  " has length " + std::to_string(items.size()) +
                                  "; 2 is required");
                }
                out.set(items[0], items[1], budget);
                ++index;
            }
        }
    }
    for (const auto& [key, value] : arguments.keyword) out.set(Value::string(key), value, budget);
    return out;
}

Value namespace_function(Arguments& arguments, Interpreter& interpreter) {
    Dict attributes = dict_from(arguments, "namespace", interpreter.budget());
    for (const auto& [key, value] : attributes.entries()) {
        if (key.is_string() && !key.as_string().empty() && key.as_string()[0] == '_') {
            throw Failure(
                "Chat templates cannot store underscore-prefixed attributes on a "
                "namespace, but got " +
                to_repr(key, interpreter.budget()) + ". Please rename the attribute.");
        }
    }
    return Value::namespace_of(std::move(attributes));
}

Value joiner_function(Arguments& arguments, Interpreter& interpreter) {
    const auto a = bind(arguments, "joiner", {{"sep", Value::string(", ")}});
    auto used = std::make_shared<bool>(false);
    const Value separator = Value::string(to_str(a[0], interpreter.budget()));
    return make_function("joiner", [used, separator](Arguments& call, Interpreter&) {
        bind(call, "joiner", {});
        if (!*used) {
            *used = true;
            return Value::string("");
        }
        return separator;
    });
}

// cycler(*items): .next() returns the items in turn, .current the one next() returns next.
class Cycler : public Object, public std::enable_shared_from_this<Cycler> {
  public:
    explicit Cycler(std::vector<Value> items) : items_(std::move(items)) {}
    std::string type_name() const override { return "Cycler"; }
    std::string repr() const override { return "<jinja2.utils.Cycler object>"; }
    Value attribute(const std::string& name) override {
        if (name == "current") return items_[position_];
        if (name == "next" || name == "reset") {
            auto self = shared_from_this();
            return make_function(name, [self, name](Arguments& a, Interpreter&) {
                bind(a, name, {});
                if (name == "reset") {
                    self->position_ = 0;
                    return Value::none();
                }
                Value v = self->items_[self->position_];
                self->position_ = (self->position_ + 1) % self->items_.size();
                return v;
            });
        }
        return Object::attribute(name);
    }

  private:
    std::vector<Value> items_;
    size_t position_ = 0;
};

Value cycler_function(Arguments& arguments, Interpreter&) {
    if (!arguments.keyword.empty()) throw Failure("cycler() takes no keyword arguments");
    if (arguments.positional.empty()) throw Failure("at least one item has to be provided");
    return Value::object(std::make_shared<Cycler>(arguments.positional));
}

std::tm local_now() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm out{};
    localtime_r(&t, &out);
    return out;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm), for the weekday.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2 ? 1 : 0;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

// Fills tm_wday and tm_yday from the date, so that %a, %A and %j are right for a fixed time.
std::tm normalized(std::tm t) {
    const int64_t year = t.tm_year + 1900;
    const int64_t days = days_from_civil(year, t.tm_mon + 1, t.tm_mday);
    t.tm_wday = static_cast<int>(((days % 7) + 11) % 7);
    t.tm_yday = static_cast<int>(days - days_from_civil(year, 1, 1));
    return t;
}

std::string format_time(const std::string& format, const std::tm& time, Budget& budget) {
    if (format.empty()) return "";
    budget.charge_characters(format.size());
    // Python formats with the C library's strftime; %f (microseconds) is Python's own.
    std::string expanded;
    for (size_t i = 0; i < format.size(); ++i) {
        if (format[i] == '%' && i + 1 < format.size()) {
            if (format[i + 1] == 'f') {
                expanded += "000000";
                ++i;
                continue;
            }
            expanded += format[i];
            expanded += format[++i];
            continue;
        }
        expanded += format[i];
    }
    // No conversion makes more than 16 bytes of its 2 (%c makes 24 of "%c"): room enough.
    budget.check_text(expanded.size() * 16);
    std::string out(256 + expanded.size() * 16, '\0');
    const size_t written = std::strftime(out.data(), out.size(), expanded.c_str(), &time);
    out.resize(written);
    budget.allocate_text(out.size());
    return out;
}

}  // namespace

Value make_function(std::string name, BuiltinFunction::Function function) {
    return Value::object(std::make_shared<BuiltinFunction>(std::move(name), std::move(function)));
}

Dict make_globals(const std::optional<std::tm>& now) {
    Dict globals;
    globals.set(Value::string("range"), make_function("range", range_function));
    globals.set(Value::string("dict"),
                make_function("dict", [](Arguments& a, Interpreter& interpreter) {
                    return Value::dict(dict_from(a, "dict", interpreter.budget()));
                }));
    globals.set(Value::string("namespace"), make_function("namespace", namespace_function));
    globals.set(Value::string("joiner"), make_function("joiner", joiner_function));
    globals.set(Value::string("cycler"), make_function("cycler", cycler_function));
    globals.set(
        Value::string("raise_exception"),
        make_function("raise_exception", [](Arguments& a, Interpreter& interpreter) -> Value {
            const auto args = bind(a, "raise_exception", {{"message", {}}});
            throw Failure(to_str(args[0], interpreter.budget()));
        }));
    globals.set(
        Value::string("strftime_now"),
        make_function("strftime_now", [now](Arguments& a, Interpreter& interpreter) {
            const auto args = bind(a, "strftime_now", {{"format", {}}});
            if (!args[0].is_string()) {
                throw Failure("strftime() argument 1 must be str, not " + args[0].type_name());
            }
            return Value::string(format_time(
                args[0].as_string(), now ? normalized(*now) : local_now(), interpreter.budget()));
        }));
    return globals;
}

}  // namespace tessera::jinja
