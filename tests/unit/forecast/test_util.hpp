// Helpers for the forecast unit tests: locating reference data and traces,
// and reading the small reference CSVs written by data/make_reference.R and
// data/make_ets_reference.py.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace fc_test {

inline std::string source_root() {
    const char* s = std::getenv("SHADOWNET_SOURCE_ROOT");
    return s ? s : ".";
}

inline std::string data_path(const std::string& file) { return source_root() + "/tests/unit/forecast/data/" + file; }

// The traces folder, or nullopt when it is absent (tests then GTEST_SKIP).
inline std::optional<std::string> traffic_dir() {
    const char* s = std::getenv("SHADOWNET_TRAFFIC_DIR");
    if (!s || !*s) return std::nullopt;
    std::ifstream probe(std::string(s) + "/README.md");
    if (!probe) return std::nullopt;
    return std::string(s);
}

using row = std::map<std::string, std::string>;

inline std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r\"");
    const auto e = s.find_last_not_of(" \t\r\"");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

inline std::vector<row> read_table(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open " + path);
    std::string line;
    std::getline(f, line);
    std::vector<std::string> cols;
    {
        std::stringstream ss(line);
        std::string c;
        while (std::getline(ss, c, ',')) cols.push_back(trim(c));
    }
    std::vector<row> out;
    while (std::getline(f, line)) {
        if (trim(line).empty()) continue;
        std::stringstream ss(line);
        std::string c;
        row r;
        for (const auto& name : cols) {
            std::getline(ss, c, ',');
            r[name] = trim(c);
        }
        out.push_back(std::move(r));
    }
    return out;
}

inline double num(const row& r, const std::string& k) {
    const std::string& v = r.at(k);
    if (v == "NA" || v == "nan" || v.empty()) return std::nan("");
    return std::stod(v);
}

// Values of one series from a series,t,value table.
inline std::vector<double> series_values(const std::vector<row>& t, const std::string& name) {
    std::vector<double> y;
    for (const auto& r : t)
        if (r.at("series") == name) y.push_back(num(r, "value"));
    return y;
}

// A trace file (t,value), optionally a slice [first, first+n) with first 0-based.
inline std::vector<double> read_trace(const std::string& dir, const std::string& file, std::size_t first = 0,
                                      std::size_t n = 0) {
    const auto t = read_table(dir + "/" + file);
    std::vector<double> y;
    for (std::size_t i = first; i < t.size() && (n == 0 || y.size() < n); ++i) y.push_back(num(t[i], "value"));
    return y;
}

// |a - b| within rel * max(|a|, |b|) + abs.
inline ::testing::AssertionResult close(double a, double b, double rel, double abs = 0.0) {
    const double tol = rel * std::max(std::abs(a), std::abs(b)) + abs;
    if (std::abs(a - b) <= tol) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << a << " vs " << b << " (diff " << std::abs(a - b) << " > tol " << tol
                                         << ")";
}

} // namespace fc_test
