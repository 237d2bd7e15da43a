// Batch filtering: run the recursion of model.hpp over a whole series from a
// given start state. This is the inner loop of fitting (called hundreds of
// times per fit), so it is header-inline and branch-free per step; it is also
// what the R-reference tests check number for number against stats::HoltWinters.
#pragma once

#include "shadownet/forecast/model.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace shadownet::forecast {

// Full state of one series (control-plane copy; the online bank keeps the same
// numbers in a packed layout). season[k] is the factor for phase k; `phase`
// is the slot the *next* observation uses.
struct series_state {
    double level = 0.0;
    double trend = 0.0;
    std::vector<double> season;
    std::uint32_t phase = 0;
};

// The point forecast h >= 1 steps past the state.
[[nodiscard]] inline double point_forecast(const model_spec& spec, const params& p, const series_state& st,
                                           std::uint32_t h) noexcept {
    const double base = st.level + trend_multiplier(spec.trend, p.phi, h) * st.trend;
    if (!spec.seasonal() || st.season.empty()) return base;
    const auto m = static_cast<std::uint32_t>(st.season.size());
    const double s = st.season[(st.phase + h - 1) % m];
    switch (spec.season) {
    case season_kind::additive: return base + s;
    case season_kind::multiplicative: return base * s;
    case season_kind::naive: return s;
    case season_kind::none: break;
    }
    return base;
}

struct filter_result {
    double sse = 0.0;      // sum of squared one-step (or h-step) errors over scored points
    double sae = 0.0;      // sum of absolute errors (robust contest scores); run_loss_h only
    std::size_t n = 0;     // number of scored points (non-missing actuals)
};

namespace detail {
template <trend_kind T, season_kind S>
filter_result run_filter(const params& p, std::span<const double> y, std::size_t start, series_state& st,
                         std::span<double> fitted) noexcept {
    filter_result r;
    double l = st.level;
    double b = st.trend;
    double no_season = S == season_kind::multiplicative ? 1.0 : 0.0;
    double* season = st.season.empty() ? &no_season : st.season.data();
    const std::size_t m = st.season.empty() ? 1 : st.season.size();
    std::size_t k = st.phase % m;
    for (std::size_t t = start; t < y.size(); ++t) {
        double& s = season[k];
        const double yhat = step<T, S>(y[t], l, b, s, p);
        if (!fitted.empty()) fitted[t] = yhat;
        const double e = y[t] - yhat;
        if (std::isfinite(e)) {
            r.sse += e * e;
            ++r.n;
        }
        k = S == season_kind::none ? 0 : (k + 1 == m ? 0 : k + 1);
    }
    st.level = l;
    st.trend = b;
    st.phase = static_cast<std::uint32_t>(k);
    return r;
}

// Squared h-step errors: at each origin t (state has seen y[0..t-1]) the
// h-step forecast is compared with y[t+h-1]. O(n) for one horizon.
template <trend_kind T, season_kind S>
filter_result run_loss_h(const params& p, std::span<const double> y, std::size_t start, series_state st,
                         std::uint32_t h, std::size_t score_from) noexcept {
    filter_result r;
    double no_season = S == season_kind::multiplicative ? 1.0 : 0.0;
    double* season = st.season.empty() ? &no_season : st.season.data();
    const std::size_t m = st.season.empty() ? 1 : st.season.size();
    std::size_t k = st.phase % m;
    const double mult = trend_multiplier(T, p.phi, h);
    double l = st.level;
    double b = st.trend;
    for (std::size_t t = start; t < y.size(); ++t) {
        if (t + h - 1 < y.size() && t + h - 1 >= score_from) {
            const double base = l + mult * b;
            const double s = season[(k + h - 1) % m];
            double f = base;
            if constexpr (S == season_kind::additive) f = base + s;
            if constexpr (S == season_kind::multiplicative) f = base * s;
            if constexpr (S == season_kind::naive) f = s;
            const double e = y[t + h - 1] - f;
            if (std::isfinite(e)) {
                r.sse += e * e;
                r.sae += std::abs(e);
                ++r.n;
            }
        }
        (void)step<T, S>(y[t], l, b, season[k], p);
        k = S == season_kind::none ? 0 : (k + 1 == m ? 0 : k + 1);
    }
    return r;
}
} // namespace detail

// Filter y[start..] from `st` (updated in place to the end state). `fitted`,
// when non-empty, must have y.size() entries and receives the one-step
// forecast of each y[t], t >= start. Exactly R's C_HoltWinters loop for
// phi = 1 (tests/unit/forecast checks this against R output).
inline filter_result run_filter(const model_spec& spec, const params& p, std::span<const double> y,
                                std::size_t start, series_state& st, std::span<double> fitted = {}) noexcept {
    return dispatch(spec, [&]<trend_kind T, season_kind S>() {
        return detail::run_filter<T, S>(p, y, start, st, fitted);
    });
}

// The h-step loss over y[start..] from `st` (st is not modified). Only
// targets at index >= score_from count: a holdout scores the h-step forecasts
// that land in it, made from origins before it.
inline filter_result run_loss_h(const model_spec& spec, const params& p, std::span<const double> y,
                                std::size_t start, const series_state& st, std::uint32_t h,
                                std::size_t score_from = 0) {
    return dispatch(spec, [&]<trend_kind T, season_kind S>() {
        return detail::run_loss_h<T, S>(p, y, start, st, h, score_from);
    });
}

} // namespace shadownet::forecast
