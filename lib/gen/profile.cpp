#include "shadownet/gen/profile.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <numbers>

#include <fmt/format.h>

#include "shadownet/core/error.hpp"

namespace shadownet::gen {

namespace {

double clean(double v) noexcept
{
    return std::isfinite(v) && v > 0 ? v : 0;
}

} // namespace

profile::profile(profile_params p) : p_(std::move(p))
{
    if (p_.kind == profile_kind::trace) {
        const double top = p_.trace.empty() ? 0 : *std::max_element(p_.trace.begin(), p_.trace.end());
        trace_scale_ = top > 0 ? p_.rate / top : 0;
    }
}

double profile::rate_at(double t) const noexcept
{
    if (!(t >= 0))
        t = 0;
    switch (p_.kind) {
    case profile_kind::constant:
        return clean(p_.rate);
    case profile_kind::step:
        return clean(t < p_.at ? p_.base : p_.rate);
    case profile_kind::ramp:
    case profile_kind::dos: {
        if (t <= p_.at)
            return clean(p_.base);
        if (t >= p_.until || p_.until <= p_.at)
            return clean(p_.rate);
        const double f = (t - p_.at) / (p_.until - p_.at);
        return clean(p_.base + (p_.rate - p_.base) * f);
    }
    case profile_kind::diurnal: {
        const double x = 2 * std::numbers::pi * (t + p_.phase) / std::max(p_.period, 1e-9);
        return clean(p_.base + (p_.rate - p_.base) * (1 - std::cos(x)) / 2);
    }
    case profile_kind::flash: {
        // A surge from base to the peak over `rise`, then an exponential decay back.
        const double peak = p_.rate > p_.base ? p_.rate : p_.base * p_.factor;
        if (t < p_.at)
            return clean(p_.base);
        const double since = t - p_.at;
        if (since < p_.rise)
            return clean(p_.base + (peak - p_.base) * since / std::max(p_.rise, 1e-9));
        const double d = since - p_.rise;
        return clean(p_.base + (peak - p_.base) * std::exp(-d / std::max(p_.decay, 1e-9)));
    }
    case profile_kind::trace: {
        if (p_.trace.empty())
            return 0;
        auto i = static_cast<std::size_t>(t / std::max(p_.slot, 1e-9));
        if (i >= p_.trace.size()) {
            if (!p_.loop)
                return 0;
            i %= p_.trace.size();
        }
        return clean(p_.trace[i] * trace_scale_);
    }
    }
    return 0;
}

double profile::peak(double horizon) const noexcept
{
    if (p_.kind == profile_kind::trace) {
        // Exact: the slots within the horizon (sampling could step over the top one).
        const auto slots = std::min(p_.trace.size(), static_cast<std::size_t>(horizon / std::max(p_.slot, 1e-9)) + 1);
        double top = 0;
        for (std::size_t i = 0; i < slots; ++i)
            top = std::max(top, p_.trace[i]);
        return clean(top * trace_scale_);
    }
    double top = 0;
    const double step = std::max(horizon / 10'000, 1e-3);
    for (double t = 0; t <= horizon; t += step)
        top = std::max(top, rate_at(t));
    return top;
}

profile_kind profile_kind_from_name(const std::string& name)
{
    static const std::pair<const char*, profile_kind> names[] = {
        {"constant", profile_kind::constant}, {"step", profile_kind::step},   {"ramp", profile_kind::ramp},
        {"diurnal", profile_kind::diurnal},   {"flash", profile_kind::flash}, {"dos", profile_kind::dos},
        {"trace", profile_kind::trace}};
    for (const auto& [n, k] : names)
        if (name == n)
            return k;
    throw config_error(
        fmt::format("profile '{}' is not one of constant, step, ramp, diurnal, flash, dos, trace", name));
}

std::string name_of(profile_kind k)
{
    switch (k) {
    case profile_kind::constant: return "constant";
    case profile_kind::step: return "step";
    case profile_kind::ramp: return "ramp";
    case profile_kind::diurnal: return "diurnal";
    case profile_kind::flash: return "flash";
    case profile_kind::dos: return "dos";
    case profile_kind::trace: return "trace";
    }
    return "?";
}

std::vector<double> read_trace_csv(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        throw config_error(fmt::format("trace '{}': cannot open", path));
    std::vector<double> out;
    std::string line;
    unsigned lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty())
            continue;
        const auto comma = line.find(',');
        const std::string value = comma == std::string::npos ? line : line.substr(comma + 1);
        double v = 0;
        const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc() || ptr != value.data() + value.size() || !std::isfinite(v)) {
            if (lineno == 1 && out.empty())
                continue; // the header
            throw config_error(fmt::format("trace '{}' line {}: '{}' is not a number", path, lineno, value));
        }
        out.push_back(std::max(v, 0.0));
    }
    if (out.empty())
        throw config_error(fmt::format("trace '{}': no values", path));
    return out;
}

} // namespace shadownet::gen
