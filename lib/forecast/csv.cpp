// CSV input (see csv.hpp).
#include "shadownet/forecast/csv.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <unordered_map>

namespace shadownet::forecast {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.front())) != 0)) s.remove_prefix(1);
    while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) != 0)) s.remove_suffix(1);
    if (s.size() >= 2 && ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\''))) {
        s.remove_prefix(1);
        s.remove_suffix(1);
    }
    return s;
}

std::vector<std::string_view> split(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    bool quoted = false;
    std::size_t start = 0;
    for (; pos < line.size(); ++pos) {
        if (line[pos] == '"') quoted = !quoted;
        else if (line[pos] == ',' && !quoted) {
            out.push_back(trim(line.substr(start, pos - start)));
            start = pos + 1;
        }
    }
    out.push_back(trim(line.substr(start)));
    return out;
}

std::string lower(std::string_view s) {
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return r;
}

bool is_missing(std::string_view v) {
    const std::string l = lower(v);
    return l.empty() || l == "na" || l == "nan" || l == "null" || l == "none";
}

} // namespace

std::vector<series_data> read_series_csv(std::istream& in, std::string_view source) {
    std::string raw;
    std::size_t lineno = 0;
    // Header: skip leading blank lines.
    std::vector<std::string_view> cols;
    std::string header;
    while (std::getline(in, raw)) {
        ++lineno;
        if (!raw.empty() && raw.back() == '\r') raw.pop_back();
        if (trim(raw).empty()) continue;
        header = raw;
        break;
    }
    if (header.empty()) throw csv_error(fmt::format("{}: empty input, expected a header t,value or series,t,value", source), 0);
    if (header.size() >= 3 && header.compare(0, 3, "\xEF\xBB\xBF") == 0) header.erase(0, 3); // UTF-8 BOM
    const std::size_t header_line = lineno;
    cols = split(header);
    int ci_series = -1, ci_t = -1, ci_value = -1;
    for (std::size_t i = 0; i < cols.size(); ++i) {
        const std::string c = lower(cols[i]);
        if (c == "series") ci_series = static_cast<int>(i);
        else if (c == "t") ci_t = static_cast<int>(i);
        else if (c == "value") ci_value = static_cast<int>(i);
    }
    if (ci_t < 0 || ci_value < 0)
        throw csv_error(fmt::format("{}:{}: header must name the columns t,value or series,t,value (got \"{}\")",
                                    source, header_line, header),
                        header_line);

    std::vector<series_data> out;
    std::unordered_map<std::string, std::size_t> index;
    const std::size_t ncols = cols.size();
    while (std::getline(in, raw)) {
        ++lineno;
        if (!raw.empty() && raw.back() == '\r') raw.pop_back();
        if (trim(raw).empty()) continue;
        const auto f = split(raw);
        if (f.size() != ncols)
            throw csv_error(fmt::format("{}:{}: expected {} fields like the header, got {}", source, lineno, ncols,
                                        f.size()),
                            lineno);
        const std::string name = ci_series >= 0 ? std::string(f[static_cast<std::size_t>(ci_series)]) : std::string();
        const std::string_view tv = f[static_cast<std::size_t>(ci_t)];
        if (tv.empty()) throw csv_error(fmt::format("{}:{}: empty t", source, lineno), lineno);
        const std::string_view vv = f[static_cast<std::size_t>(ci_value)];
        double v = std::numeric_limits<double>::quiet_NaN();
        if (!is_missing(vv)) {
            std::string_view num = vv;
            if (!num.empty() && num.front() == '+') num.remove_prefix(1);
            const auto res = std::from_chars(num.data(), num.data() + num.size(), v);
            if (res.ec != std::errc() || res.ptr != num.data() + num.size())
                throw csv_error(fmt::format("{}:{}: value \"{}\" is not a number", source, lineno, vv), lineno);
            if (std::isinf(v))
                throw csv_error(fmt::format("{}:{}: value \"{}\" is infinite", source, lineno, vv), lineno);
        }
        auto [it, fresh] = index.try_emplace(name, out.size());
        if (fresh) {
            out.emplace_back();
            out.back().name = name;
        }
        series_data& s = out[it->second];
        s.t.emplace_back(tv);
        s.y.push_back(v);
        s.line.push_back(lineno);
    }
    if (out.empty())
        throw csv_error(fmt::format("{}:{}: no data rows after the header", source, header_line), header_line);
    return out;
}

std::vector<series_data> read_series_csv_file(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw csv_error(fmt::format("{}: cannot open", path), 0);
    return read_series_csv(f, path);
}

} // namespace shadownet::forecast
