// Prediction intervals (see intervals.hpp).
#include "shadownet/forecast/intervals.hpp"

#include "shadownet/forecast/filter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace shadownet::forecast {

double normal_quantile(double p) noexcept {
    if (!(p > 0.0)) return -std::numeric_limits<double>::infinity();
    if (!(p < 1.0)) return std::numeric_limits<double>::infinity();
    static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                   1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                   6.680131188771972e+01, -1.328068155288572e+01};
    static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                   -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                   3.754408661907416e+00};
    constexpr double plow = 0.02425;
    if (p < plow) {
        const double q = std::sqrt(-2 * std::log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - plow) {
        const double q = std::sqrt(-2 * std::log(1 - p));
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    const double q = p - 0.5;
    const double r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double empirical_quantile(std::span<double> v, double p) {
    auto end = std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); });
    const auto n = static_cast<std::size_t>(end - v.begin());
    if (n == 0) return std::numeric_limits<double>::quiet_NaN();
    p = std::clamp(p, 0.0, 1.0);
    const double pos = p * static_cast<double>(n - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const double frac = pos - static_cast<double>(lo);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), end);
    const double qlo = v[lo];
    if (frac == 0.0 || lo + 1 >= n) return qlo;
    const double qhi = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, end);
    return qlo + frac * (qhi - qlo);
}

double variance_multiplier(const model_spec& spec, const params& p, std::uint32_t h) noexcept {
    if (spec.season == season_kind::naive) {
        // y_{t+h} = y_{t+h-km}: errors of k whole periods accumulate.
        const std::uint32_t m = std::max<std::uint32_t>(spec.period, 1);
        return static_cast<double>((h - 1) / m + 1);
    }
    const bool seasonal = spec.season == season_kind::additive || spec.season == season_kind::multiplicative;
    double v = 1.0;
    double phisum = 0.0, phipow = 1.0;
    for (std::uint32_t j = 1; j < h; ++j) {
        double c = p.alpha;
        if (spec.has_trend()) {
            const double phi = spec.trend == trend_kind::damped ? p.phi : 1.0;
            phipow *= phi;
            phisum += phipow;
            c += p.alpha * p.beta * phisum;
        }
        if (seasonal && spec.period > 0 && j % spec.period == 0) c += p.gamma * (1.0 - p.alpha);
        v += c * c;
    }
    return v;
}

bool strictly_positive(std::span<const double> y) noexcept {
    bool any = false;
    for (double v : y) {
        if (!std::isfinite(v)) continue;
        if (v <= 0.0) return false;
        any = true;
    }
    return any;
}

std::vector<std::vector<double>> h_step_errors(const fit_result& fit, std::span<const double> y, std::uint32_t horizon,
                                               std::size_t max_origins, bool relative) {
    std::vector<std::vector<double>> errs(horizon);
    // Replay the fitted model from its start values; origin t has seen y[0..t-1].
    const start_values sv = initial_values(fit.spec, y);
    series_state st = sv.state;
    const std::size_t n = y.size();
    const std::size_t first_origin =
        std::max(sv.start, n > max_origins + horizon ? n - max_origins - horizon : std::size_t{0});
    std::size_t t = sv.start;
    if (first_origin > t) {
        (void)run_filter(fit.spec, fit.par, y.subspan(0, first_origin), t, st);
        t = first_origin;
    }
    for (; t < n; ++t) {
        for (std::uint32_t h = 1; h <= horizon && t + h - 1 < n; ++h) {
            const double f = point_forecast(fit.spec, fit.par, st, h);
            const double a = y[t + h - 1];
            double e = a - f;
            if (relative) e = (f > 0.0) ? e / f : std::numeric_limits<double>::quiet_NaN();
            if (std::isfinite(e)) errs[h - 1].push_back(e);
        }
        (void)run_filter(fit.spec, fit.par, y.subspan(0, t + 1), t, st);
    }
    return errs;
}

namespace {
double last_finite(std::span<const double> y) {
    for (auto it = y.rbegin(); it != y.rend(); ++it)
        if (std::isfinite(*it)) return *it;
    return 0.0;
}
} // namespace

std::vector<forecast_point> forecast_path(const fit_result& fit, std::span<const double> y, std::uint32_t horizon,
                                          const interval_options& opt) {
    std::vector<forecast_point> out(horizon);
    const double fallback = last_finite(y);
    const bool mult = fit.spec.season == season_kind::multiplicative;
    const double zl = normal_quantile((1.0 - opt.level) / 2.0);
    const double zu = normal_quantile((1.0 + opt.level) / 2.0);
    const double zc = normal_quantile(opt.capacity_q);

    // One-step variance as predict.HoltWinters takes it: var(residuals), the
    // sample variance (mean removed, n - 1), so intervals match R's.
    double sigma2 = fit.sigma2;
    {
        double s = 0.0, s2 = 0.0;
        std::size_t k = 0;
        for (double e : fit.residuals)
            if (std::isfinite(e)) {
                s += e;
                ++k;
            }
        if (k > 1) {
            const double mean = s / static_cast<double>(k);
            for (double e : fit.residuals)
                if (std::isfinite(e)) s2 += (e - mean) * (e - mean);
            sigma2 = s2 / static_cast<double>(k - 1);
        }
    }
    // Relative one-step variance for the multiplicative approximation.
    if (mult) {
        double s = 0.0;
        std::size_t k = 0;
        for (std::size_t t = 0; t < fit.residuals.size() && t < y.size(); ++t) {
            const double f = y[t] - fit.residuals[t];
            if (std::isfinite(fit.residuals[t]) && f > 0.0) {
                s += (fit.residuals[t] / f) * (fit.residuals[t] / f);
                ++k;
            }
        }
        sigma2 = k ? s / static_cast<double>(k) : 0.0;
    }

    std::vector<std::vector<double>> errs;
    const bool relative = strictly_positive(y);
    if (opt.method == interval_method::empirical)
        errs = h_step_errors(fit, y, horizon, opt.max_origins, relative);

    for (std::uint32_t h = 1; h <= horizon; ++h) {
        forecast_point& fp = out[h - 1];
        fp.h = h;
        double mean = point_forecast(fit.spec, fit.par, fit.state, h);
        if (!std::isfinite(mean)) mean = fallback;
        fp.mean = mean;
        if (opt.method == interval_method::empirical && errs[h - 1].size() >= 10) {
            auto& e = errs[h - 1];
            const double ql = empirical_quantile(e, (1.0 - opt.level) / 2.0);
            const double qu = empirical_quantile(e, (1.0 + opt.level) / 2.0);
            const double qc = empirical_quantile(e, opt.capacity_q);
            const double scale = relative ? std::abs(mean) : 1.0;
            fp.lower = mean + ql * scale;
            fp.upper = mean + qu * scale;
            fp.capacity = mean + qc * scale;
        } else {
            double sd = std::sqrt(std::max(0.0, sigma2 * variance_multiplier(fit.spec, fit.par, h)));
            if (mult) sd *= std::abs(mean);
            fp.lower = mean + zl * sd;
            fp.upper = mean + zu * sd;
            fp.capacity = mean + zc * sd;
        }
        if (!std::isfinite(fp.lower)) fp.lower = mean;
        if (!std::isfinite(fp.upper)) fp.upper = mean;
        if (!std::isfinite(fp.capacity)) fp.capacity = mean;
    }
    return out;
}

} // namespace shadownet::forecast
