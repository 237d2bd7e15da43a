// Start values, estimation and the information criterion (see fit.hpp).
#include "shadownet/forecast/fit.hpp"

#include "shadownet/forecast/optimizer.hpp"

#include "fast_fit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>

namespace shadownet::forecast {

namespace {

// Copy of y[0..n) with interior NaNs linearly interpolated and leading or
// trailing NaNs filled with the nearest finite value. Start values only.
std::vector<double> interpolate_missing(std::span<const double> y) {
    std::vector<double> out(y.begin(), y.end());
    std::size_t last = out.size();
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (!std::isfinite(out[i])) continue;
        if (last == out.size()) {
            for (std::size_t j = 0; j < i; ++j) out[j] = out[i];
        } else if (i > last + 1) {
            const double a = out[last], b = out[i];
            for (std::size_t j = last + 1; j < i; ++j)
                out[j] = a + (b - a) * static_cast<double>(j - last) / static_cast<double>(i - last);
        }
        last = i;
    }
    if (last != out.size())
        for (std::size_t j = last + 1; j < out.size(); ++j) out[j] = out[last];
    return out;
}

std::size_t count_finite(std::span<const double> y) {
    return static_cast<std::size_t>(std::count_if(y.begin(), y.end(), [](double v) { return std::isfinite(v); }));
}

// stats::decompose on exactly two periods, then the linear fit of its trend
// (HoltWinters' l.start / b.start) and the centred seasonal figure (s.start).
void decompose_start(std::span<const double> x, std::uint32_t m, bool multiplicative, series_state& st) {
    const std::size_t n = x.size(); // 2m
    std::vector<double> trend(n, std::numeric_limits<double>::quiet_NaN());
    if (m % 2 == 0) {
        const std::size_t h = m / 2;
        // Weights 0.5, 1, ..., 1, 0.5 over m+1 points, divided by m (R's filter).
        std::vector<double> pre(n + 1, 0.0);
        for (std::size_t i = 0; i < n; ++i) pre[i + 1] = pre[i] + x[i];
        for (std::size_t i = h; i + h < n; ++i) {
            double z = 0.0;
            if (m <= 48) {
                // Same weights and summation order as R's cfilter (descending index).
                const double wend = 0.5 / m, wmid = 1.0 / m;
                for (std::size_t j = i + h + 1; j-- > i - h;) z += ((j == i + h || j == i - h) ? wend : wmid) * x[j];
            } else {
                z = ((pre[i + h] - pre[i - h + 1]) + 0.5 * (x[i - h] + x[i + h])) / m;
            }
            trend[i] = z;
        }
    } else {
        const std::size_t h = (m - 1) / 2;
        for (std::size_t i = h; i + h < n; ++i) {
            double z = 0.0;
            const double w = 1.0 / m;
            for (std::size_t j = i + h + 1; j-- > i - h;) z += w * x[j];
            trend[i] = z;
        }
    }
    std::vector<double> dat;
    dat.reserve(n);
    std::vector<double> figure(m, 0.0);
    std::vector<int> count(m, 0);
    for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(trend[i])) continue;
        dat.push_back(trend[i]);
        const double s = multiplicative ? x[i] / trend[i] : x[i] - trend[i];
        if (std::isfinite(s)) {
            figure[i % m] += s;
            ++count[i % m];
        }
    }
    for (std::size_t k = 0; k < m; ++k) figure[k] = count[k] ? figure[k] / count[k] : (multiplicative ? 1.0 : 0.0);
    const double mean = std::accumulate(figure.begin(), figure.end(), 0.0) / m;
    for (auto& f : figure) f = multiplicative ? f / mean : f - mean;

    // Least squares of dat on 1..N (R: .lm.fit(cbind(1, seq_along(dat)), dat)).
    const auto nd = static_cast<double>(dat.size());
    const double tbar = (nd + 1.0) / 2.0;
    const double ybar = std::accumulate(dat.begin(), dat.end(), 0.0) / nd;
    double sxy = 0.0, sxx = 0.0;
    for (std::size_t i = 0; i < dat.size(); ++i) {
        const double dt = static_cast<double>(i + 1) - tbar;
        sxy += dt * (dat[i] - ybar);
        sxx += dt * dt;
    }
    const double slope = sxx > 0 ? sxy / sxx : 0.0;
    st.level = ybar - slope * tbar;
    st.trend = slope;
    st.season = std::move(figure);
}

using layout = detail::param_layout;
using point = detail::param_vector;
static_assert(std::tuple_size_v<point> == max_opt_dims);


// Nelder-Mead from the best of `starts` (the two best with multi_start),
// then a restart with a small simplex at the optimum: cheap insurance
// against stalling on a face of the box. The general path: h-step loss,
// missing points.
template <typename F>
nm_result nelder_mead_fit(F&& f, const layout& lay, const std::vector<params>& starts, const point& lo,
                          const point& hi, const fit_options& opt, int& evals) {
    std::vector<std::pair<double, point>> ranked;
    for (const auto& s : starts) {
        point x = detail::pack_params(lay, s);
        for (std::size_t i = 0; i < lay.dims; ++i) x[i] = std::clamp(x[i], lo[i], hi[i]);
        ranked.emplace_back(f(x), x);
        ++evals;
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    nm_options nm;
    nm.max_evals = opt.max_evals;
    nm_result best;
    const std::size_t runs = std::min<std::size_t>(ranked.size(), opt.multi_start ? 2 : 1);
    for (std::size_t i = 0; i < runs; ++i) {
        auto res = nelder_mead(f, ranked[i].second, lo, hi, lay.dims, nm);
        evals += res.evals;
        if (res.f < best.f) best = res;
    }
    nm.initial_step = 0.02;
    auto polish = nelder_mead(f, best.x, lo, hi, lay.dims, nm);
    evals += polish.evals;
    if (polish.f <= best.f) best = polish;
    return best;
}

} // namespace

std::size_t min_points(const model_spec& spec) noexcept {
    switch (spec.season) {
    case season_kind::additive:
    case season_kind::multiplicative: return 2 * static_cast<std::size_t>(spec.period) + 1;
    case season_kind::naive: return static_cast<std::size_t>(spec.period) + 1;
    case season_kind::none: break;
    }
    return spec.has_trend() ? 3 : 1;
}

std::optional<std::string> check_applicable(const model_spec& spec, std::span<const double> y) {
    if (spec.seasonal() && spec.period < 2)
        return fmt::format("{} needs a period of at least 2 (got {})", model_name(spec), spec.period);
    const std::size_t finite = count_finite(y);
    if (finite == 0) return std::string("no finite value in the series");
    if (y.size() < min_points(spec))
        return fmt::format("{} with period {} needs at least {} points, the series has {}", model_name(spec),
                           spec.period, min_points(spec), y.size());
    if (spec.season == season_kind::additive || spec.season == season_kind::multiplicative) {
        // decompose() needs two periods with enough real data in them.
        const std::size_t w = 2 * static_cast<std::size_t>(spec.period);
        if (count_finite(y.first(w)) < spec.period)
            return fmt::format("the first two periods ({} points) are mostly missing", w);
    }
    if (spec.season == season_kind::multiplicative) {
        for (std::size_t i = 0; i < y.size(); ++i)
            if (std::isfinite(y[i]) && y[i] <= 0.0)
                return fmt::format("multiplicative season needs positive data; point {} is {}", i + 1, y[i]);
    }
    return std::nullopt;
}

start_values initial_values(const model_spec& spec, std::span<const double> y) {
    if (auto why = check_applicable(spec, y)) throw fit_error(*why);
    start_values sv;
    switch (spec.season) {
    case season_kind::additive:
    case season_kind::multiplicative: {
        const std::size_t w = 2 * static_cast<std::size_t>(spec.period);
        const auto x = interpolate_missing(y.first(w));
        decompose_start(x, spec.period, spec.season == season_kind::multiplicative, sv.state);
        if (!spec.has_trend()) sv.state.trend = 0.0;
        sv.start = spec.period;
        sv.state.phase = 0;
        if (spec.season == season_kind::multiplicative && !(sv.state.level > 0.0))
            throw fit_error("multiplicative season: the start level is not positive");
        return sv;
    }
    case season_kind::naive: {
        const auto x = interpolate_missing(y.first(spec.period));
        sv.state.season.assign(x.begin(), x.end());
        sv.start = spec.period;
        return sv;
    }
    case season_kind::none: break;
    }
    const auto x = interpolate_missing(y.first(std::min<std::size_t>(y.size(), 2)));
    if (spec.has_trend()) {
        sv.state.level = x[1];
        sv.state.trend = x[1] - x[0];
        sv.start = 2;
    } else {
        sv.state.level = x[0];
        sv.start = 1;
    }
    return sv;
}

std::size_t parameter_count(const model_spec& spec) noexcept {
    const layout lay = detail::param_layout_of(spec);
    std::size_t k = lay.dims;
    if (spec.season == season_kind::naive) return 0;
    k += 1; // level
    if (spec.has_trend()) k += 1;
    if (spec.seasonal()) k += spec.period - 1;
    return k;
}

double information_criterion(double sse, std::size_t n, std::size_t k) noexcept {
    const auto nd = static_cast<double>(n);
    const auto kd = static_cast<double>(k) + 1.0; // + the error variance
    if (n <= k + 2) return std::numeric_limits<double>::infinity();
    // A perfect fit (flat series) would give log(0): floor the variance at a
    // tiny fraction so the criterion stays finite and comparable.
    const double var = std::max(sse / nd, 1e-300);
    return nd * std::log(var) + 2.0 * kd + 2.0 * kd * (kd + 1.0) / (nd - kd - 1.0);
}

fit_result fit(const model_spec& spec, std::span<const double> y, const fit_options& opt) {
    const start_values sv = initial_values(spec, y);
    const layout lay = detail::param_layout_of(spec);

    const auto objective = [&](const params& p) {
        if (opt.loss == loss_kind::h_step_sse && opt.horizon > 1)
            return run_loss_h(spec, p, y, sv.start, sv.state, opt.horizon).sse;
        series_state st = sv.state;
        return run_filter(spec, p, y, sv.start, st).sse;
    };

    fit_result r;
    r.spec = spec;
    r.state = sv.state;
    r.start = sv.start;
    std::vector<double> fitted;
    if (opt.keep_residuals) fitted.assign(y.size(), std::numeric_limits<double>::quiet_NaN());
    // The final pass of the exact recursion (reported SSE, state, residuals);
    // set early when it also served to check the fast kernel.
    std::optional<filter_result> final_pass;
    // Too few scored points to estimate anything: keep R's start values.
    const bool estimable = y.size() >= sv.start + lay.dims + 1;
    if (opt.fixed) {
        r.par = *opt.fixed;
        if (!lay.phi) r.par.phi = 1.0;
    } else if (lay.dims == 0 || !estimable) {
        r.par = params{};
        r.par.phi = lay.phi ? 0.98 : 1.0;
    } else {
        point lo{}, hi{};
        for (std::size_t i = 0; i < lay.dims; ++i) { lo[i] = 0.0; hi[i] = 1.0; }
        if (lay.phi) { lo[lay.dims - 1] = opt.phi_lo; hi[lay.dims - 1] = opt.phi_hi; }
        const auto f = [&](const point& x) { return objective(detail::unpack_params(lay, x)); };

        // Starts: R's optim.start, the warm start, and spread-out points (SSE
        // surfaces of seasonal models often have a second valley at high
        // alpha / low gamma). Four in all: one batched pass on the fast path.
        std::vector<params> starts{params{0.3, 0.1, 0.1, 0.9}};
        if (opt.warm_start) starts.push_back(*opt.warm_start);
        if (opt.multi_start) {
            starts.push_back({0.9, 0.02, 0.3, 0.95});
            starts.push_back({0.6, 0.01, 0.05, 0.9});
            if (!opt.warm_start) starts.push_back({0.1, 0.01, 0.4, 0.85});
        }
        const bool one_step = opt.loss == loss_kind::one_step_sse || opt.horizon <= 1;
        std::optional<detail::fast_fit_result> fast;
        if (opt.fast && one_step)
            fast = detail::fast_fit(spec, y, sv, starts, opt.phi_lo, opt.phi_hi, opt.multi_start);
        // The fast kernel evaluates the same recursion in a different order,
        // so its SSE matches the exact one to rounding, unless the model is
        // numerically fragile on this data (a multiplicative season over
        // near-zero values amplifies rounding into a rough SSE surface).
        // Then trust only the exact recursion: Nelder-Mead on it, from the
        // fast optimum and the usual starts, keeping the better.
        // The check is the final exact pass itself (it keeps its state and
        // residuals), so a fit that agrees pays for one exact pass, not two.
        if (fast) {
            final_pass = run_filter(spec, fast->par, y, sv.start, r.state, fitted);
            if (std::abs(final_pass->sse - fast->sse) > 1e-6 * std::max(fast->sse, 1e-300)) {
                std::vector<params> again{fast->par};
                again.insert(again.end(), starts.begin(), starts.end());
                int evals = fast->passes;
                const nm_result nm = nelder_mead_fit(f, lay, again, lo, hi, opt, evals);
                if (nm.f < final_pass->sse) {
                    fast->par = detail::unpack_params(lay, nm.x);
                    final_pass.reset();
                    r.state = sv.state;
                    if (opt.keep_residuals) std::fill(fitted.begin(), fitted.end(), std::numeric_limits<double>::quiet_NaN());
                }
                fast->passes = evals;
            }
        }
        if (fast) {
            r.par = fast->par;
            r.evals = fast->passes;
        } else {
            const nm_result best = nelder_mead_fit(f, lay, starts, lo, hi, opt, r.evals);
            r.par = detail::unpack_params(lay, best.x);
        }
    }

    const filter_result fr = final_pass ? *final_pass : run_filter(spec, r.par, y, sv.start, r.state, fitted);
    r.sse = fr.sse;
    r.n = fr.n;
    r.loss = (opt.loss == loss_kind::h_step_sse && opt.horizon > 1)
                 ? run_loss_h(spec, r.par, y, sv.start, sv.state, opt.horizon).sse
                 : fr.sse;
    r.sigma2 = fr.n ? fr.sse / static_cast<double>(fr.n) : 0.0;
    r.aicc = information_criterion(fr.sse, fr.n, parameter_count(spec));
    if (opt.keep_residuals) {
        r.residuals.resize(y.size());
        for (std::size_t t = 0; t < y.size(); ++t) r.residuals[t] = y[t] - fitted[t];
    }
    return r;
}

} // namespace shadownet::forecast
