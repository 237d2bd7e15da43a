// A small streaming JSON writer for reports (summary JSON, console -j output).
// Control plane only. It keeps a stack of open containers so commas and nesting
// are always right; misuse (a value where a key is due) throws std::logic_error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shadownet {

class json_writer {
public:
    explicit json_writer(bool pretty = true) : pretty_(pretty) {}

    json_writer& begin_object();
    json_writer& end_object();
    json_writer& begin_array();
    json_writer& end_array();
    json_writer& key(std::string_view k);

    json_writer& value(std::string_view v);
    json_writer& value(const char* v) { return value(std::string_view(v)); }
    json_writer& value(const std::string& v) { return value(std::string_view(v)); }
    json_writer& value(bool v);
    json_writer& value(double v);
    json_writer& value(std::int64_t v);
    json_writer& value(std::uint64_t v);
    json_writer& value(int v) { return value(static_cast<std::int64_t>(v)); }
    json_writer& value(unsigned v) { return value(static_cast<std::uint64_t>(v)); }
    json_writer& null();

    template <typename T>
    json_writer& member(std::string_view k, const T& v) { return key(k).value(v); }

    // The document; throws std::logic_error when containers are still open.
    [[nodiscard]] const std::string& str() const;

    static std::string escape(std::string_view s);

private:
    enum class frame : std::uint8_t { object, array };
    void before_value();
    void newline();

    std::string out_;
    std::vector<frame> stack_;
    std::vector<bool> first_;
    bool key_pending_ = false;
    bool pretty_;
};

} // namespace shadownet
