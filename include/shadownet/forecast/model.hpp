// Exponential-smoothing model vocabulary and the one-step recursion shared by
// the batch filter (fitting) and the online bank (appliance fast path).
//
// Parametrisation follows R's stats::HoltWinters ("smoothing" form), extended
// with a damping factor phi as in forecast::ets (phi = 1 is exactly R):
//   yhat = (l + phi*b) + s          additive season
//   yhat = (l + phi*b) * s          multiplicative season
//   l'   = alpha*(y - s)   + (1-alpha)*(l + phi*b)     [y / s for multiplicative]
//   b'   = beta*(l' - l)   + (1-beta)*phi*b
//   s'   = gamma*(y - l')  + (1-gamma)*s               [y / l' for multiplicative]
// forecast::ets uses the error-correction form; the two are the same model with
// beta_ets = alpha*beta and gamma_ets = (1-alpha)*gamma (docs/forecasting.md).
//
// Pure C++: no DPDK, no allocation, no exceptions on this header's paths.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shadownet::forecast {

enum class trend_kind : std::uint8_t { none, additive, damped };
// `naive` is the seasonal-naive baseline: the season slot simply holds the
// value seen one period ago, no level, no smoothing.
enum class season_kind : std::uint8_t { none, additive, multiplicative, naive };

struct model_spec {
    trend_kind trend = trend_kind::none;
    season_kind season = season_kind::none;
    std::uint32_t period = 1; // m; ignored (treated as 1) when season == none

    [[nodiscard]] constexpr bool seasonal() const noexcept { return season != season_kind::none; }
    [[nodiscard]] constexpr bool has_trend() const noexcept { return trend != trend_kind::none; }
    [[nodiscard]] constexpr std::uint32_t season_length() const noexcept { return seasonal() ? period : 0U; }
    friend constexpr bool operator==(const model_spec&, const model_spec&) = default;
};

// The names operators type (`--model`), plus the extra combinations the
// selector may try. Parsing is case-sensitive; see parse_model().
namespace models {
inline constexpr model_spec ses(std::uint32_t = 1) noexcept { return {trend_kind::none, season_kind::none, 1}; }
inline constexpr model_spec holt(std::uint32_t = 1) noexcept { return {trend_kind::additive, season_kind::none, 1}; }
inline constexpr model_spec damped(std::uint32_t = 1) noexcept { return {trend_kind::damped, season_kind::none, 1}; }
inline constexpr model_spec hw_add(std::uint32_t m) noexcept { return {trend_kind::additive, season_kind::additive, m}; }
inline constexpr model_spec hw_mul(std::uint32_t m) noexcept { return {trend_kind::additive, season_kind::multiplicative, m}; }
inline constexpr model_spec snaive(std::uint32_t m) noexcept { return {trend_kind::none, season_kind::naive, m}; }
} // namespace models

// Smoothing parameters. Unused ones are ignored by the recursion (beta without
// a trend, gamma without a season, phi unless damped).
struct params {
    double alpha = 0.3;
    double beta = 0.1;
    double gamma = 0.1;
    double phi = 1.0;
    friend constexpr bool operator==(const params&, const params&) = default;
};

// "ses", "holt", "damped", "hw-add", "hw-mul", "snaive"; other combinations
// get descriptive names ("hw-add-damped", "seasonal-add", ...). Round-trips
// with parse_model().
std::string model_name(const model_spec& s);
// nullopt for an unknown name. `period` is stored into seasonal specs.
std::optional<model_spec> parse_model(std::string_view name, std::uint32_t period);

// sum_{j=1..h} phi^j: how much of the slope an h-step forecast carries.
[[nodiscard]] inline double trend_multiplier(trend_kind t, double phi, std::uint32_t h) noexcept {
    switch (t) {
    case trend_kind::none: return 0.0;
    case trend_kind::additive: return static_cast<double>(h);
    case trend_kind::damped: {
        if (phi >= 1.0) return static_cast<double>(h);
        // phi*(1-phi^h)/(1-phi): closed form keeps h-step forecasts O(1).
        return phi * (1.0 - std::pow(phi, static_cast<double>(h))) / (1.0 - phi);
    }
    }
    return 0.0;
}

// One observation through the recursion. `s` is the season slot for this time
// step: read for the forecast, then overwritten with its new estimate. Returns
// the one-step forecast made *before* seeing y. A missing y (NaN) advances the
// state as if the forecast had come true, so phases stay aligned. A step that
// would produce a non-finite state (overflow, division by a zero season) is
// dropped: the state keeps its last finite value. The trend/season kinds are
// template parameters so the fitting loop compiles without per-step branches.
template <trend_kind T, season_kind S>
[[nodiscard]] inline double step(double y, double& l, double& b, double& s, const params& p) noexcept {
    if constexpr (S == season_kind::naive) {
        const double yhat = s;
        if (std::isfinite(y)) s = y;
        return yhat;
    } else {
        const double damped_b = T == trend_kind::none ? 0.0 : (T == trend_kind::damped ? p.phi * b : b);
        const double base = l + damped_b;
        double yhat = base;
        if constexpr (S == season_kind::additive) yhat = base + s;
        if constexpr (S == season_kind::multiplicative) yhat = base * s;
        if (!std::isfinite(y)) y = yhat;

        double nl = 0.0;
        if constexpr (S == season_kind::none) nl = p.alpha * y + (1.0 - p.alpha) * base;
        if constexpr (S == season_kind::additive) nl = p.alpha * (y - s) + (1.0 - p.alpha) * base;
        if constexpr (S == season_kind::multiplicative) nl = p.alpha * (y / s) + (1.0 - p.alpha) * base;

        double nb = 0.0;
        if constexpr (T != trend_kind::none) nb = p.beta * (nl - l) + (1.0 - p.beta) * damped_b;

        if constexpr (S == season_kind::none) {
            // No season: `s` is not touched (callers may pass a dummy).
            if (std::isfinite(nl + nb)) {
                l = nl;
                b = nb;
            }
        } else {
            double ns = 0.0;
            if constexpr (S == season_kind::additive) ns = p.gamma * (y - nl) + (1.0 - p.gamma) * s;
            if constexpr (S == season_kind::multiplicative) ns = p.gamma * (y / nl) + (1.0 - p.gamma) * s;
            // One combined test: NaN/inf in any component poisons the sum.
            if (std::isfinite(nl + nb + ns)) {
                l = nl;
                b = nb;
                s = ns;
            }
        }
        return yhat;
    }
}

// Runtime dispatch to the right step<> instantiation, for code that handles
// mixed models (the online bank). `fn` is called as fn.template operator()<T,S>().
template <typename Fn>
decltype(auto) dispatch(const model_spec& spec, Fn&& fn) {
    const auto by_season = [&]<trend_kind T>() -> decltype(auto) {
        switch (spec.season) {
        case season_kind::additive: return fn.template operator()<T, season_kind::additive>();
        case season_kind::multiplicative: return fn.template operator()<T, season_kind::multiplicative>();
        case season_kind::naive: return fn.template operator()<trend_kind::none, season_kind::naive>();
        case season_kind::none: break;
        }
        return fn.template operator()<T, season_kind::none>();
    };
    switch (spec.trend) {
    case trend_kind::additive: return by_season.template operator()<trend_kind::additive>();
    case trend_kind::damped: return by_season.template operator()<trend_kind::damped>();
    case trend_kind::none: break;
    }
    return by_season.template operator()<trend_kind::none>();
}

} // namespace shadownet::forecast
