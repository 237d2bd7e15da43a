// Reading series from CSV for the offline tool and the evaluation scripts:
// a header naming `t,value` (one series) or `series,t,value` (many), in any
// column order, quotes optional. Empty, NA and NaN values are missing points
// (NaN), which the models accept. Control plane only.
#pragma once

#include <cstddef>
#include <istream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shadownet::forecast {

// Bad input. what() names the source and the line ("data.csv:17: ...").
class csv_error : public std::runtime_error {
public:
    csv_error(const std::string& what, std::size_t line) : std::runtime_error(what), line_(line) {}
    [[nodiscard]] std::size_t line() const noexcept { return line_; }

private:
    std::size_t line_;
};

struct series_data {
    std::string name;               // "" for a `t,value` file
    std::vector<std::string> t;     // as written (numbers or timestamps)
    std::vector<double> y;
    std::vector<std::size_t> line;  // source line of each point, for later errors
};

// Series in order of first appearance; points in file order.
std::vector<series_data> read_series_csv(std::istream& in, std::string_view source = "input");

// Convenience: open and read a file; throws csv_error when it cannot be opened.
std::vector<series_data> read_series_csv_file(const std::string& path);

} // namespace shadownet::forecast
