#include "shadownet/core/json.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace shadownet {

void json_writer::newline()
{
    if (!pretty_)
        return;
    out_ += '\n';
    out_.append(stack_.size() * 2, ' ');
}

void json_writer::before_value()
{
    if (stack_.empty()) {
        if (!out_.empty())
            throw std::logic_error("json_writer: a second top-level value");
        return;
    }
    if (stack_.back() == frame::object) {
        if (!key_pending_)
            throw std::logic_error("json_writer: value in an object without a key");
        key_pending_ = false;
        return;
    }
    if (!first_.back())
        out_ += ',';
    first_.back() = false;
    newline();
}

json_writer& json_writer::key(std::string_view k)
{
    if (stack_.empty() || stack_.back() != frame::object || key_pending_)
        throw std::logic_error("json_writer: key outside an object");
    if (!first_.back())
        out_ += ',';
    first_.back() = false;
    newline();
    out_ += '"';
    out_ += escape(k);
    out_ += pretty_ ? "\": " : "\":";
    key_pending_ = true;
    return *this;
}

json_writer& json_writer::begin_object()
{
    before_value();
    out_ += '{';
    stack_.push_back(frame::object);
    first_.push_back(true);
    return *this;
}

json_writer& json_writer::begin_array()
{
    before_value();
    out_ += '[';
    stack_.push_back(frame::array);
    first_.push_back(true);
    return *this;
}

json_writer& json_writer::end_object()
{
    if (stack_.empty() || stack_.back() != frame::object || key_pending_)
        throw std::logic_error("json_writer: end_object without an open object");
    const bool empty = first_.back();
    stack_.pop_back();
    first_.pop_back();
    if (!empty)
        newline();
    out_ += '}';
    return *this;
}

json_writer& json_writer::end_array()
{
    if (stack_.empty() || stack_.back() != frame::array)
        throw std::logic_error("json_writer: end_array without an open array");
    const bool empty = first_.back();
    stack_.pop_back();
    first_.pop_back();
    if (!empty)
        newline();
    out_ += ']';
    return *this;
}

json_writer& json_writer::value(std::string_view v)
{
    before_value();
    out_ += '"';
    out_ += escape(v);
    out_ += '"';
    return *this;
}

json_writer& json_writer::value(bool v)
{
    before_value();
    out_ += v ? "true" : "false";
    return *this;
}

json_writer& json_writer::value(double v)
{
    before_value();
    // JSON has no NaN or infinity; a report that produced one says null.
    if (!std::isfinite(v))
        out_ += "null";
    else
        out_ += fmt::format("{}", v);
    return *this;
}

json_writer& json_writer::value(std::int64_t v)
{
    before_value();
    out_ += fmt::format("{}", v);
    return *this;
}

json_writer& json_writer::value(std::uint64_t v)
{
    before_value();
    out_ += fmt::format("{}", v);
    return *this;
}

json_writer& json_writer::null()
{
    before_value();
    out_ += "null";
    return *this;
}

const std::string& json_writer::str() const
{
    if (!stack_.empty())
        throw std::logic_error("json_writer: document has open containers");
    return out_;
}

std::string json_writer::escape(std::string_view s)
{
    std::string r;
    r.reserve(s.size());
    for (const char c : s) {
        switch (c) {
        case '"': r += "\\\""; break;
        case '\\': r += "\\\\"; break;
        case '\n': r += "\\n"; break;
        case '\r': r += "\\r"; break;
        case '\t': r += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20)
                r += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
            else
                r += c;
        }
    }
    return r;
}

} // namespace shadownet
