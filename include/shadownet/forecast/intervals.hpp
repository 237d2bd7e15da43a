// Prediction intervals and the capacity quantile. Control plane only.
//
// Analytic: for the additive models the h-step variance is the ETS class-1
// formula sigma^2 (1 + sum_{j<h} c_j^2), c_j = alpha (1 + beta (phi+..+phi^j))
// + gamma (1-alpha) [j mod m == 0]; with phi = 1 it is predict.HoltWinters'.
// Multiplicative seasons use the same weights on relative errors (an
// approximation, as in R). Empirical: quantiles of in-sample (batch) or
// recent live (online) h-step errors, relative when the series is positive.
#pragma once

#include "shadownet/forecast/fit.hpp"
#include "shadownet/forecast/model.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace shadownet::forecast {

// Inverse standard normal CDF (Acklam's rational approximation, |err| < 1.2e-9).
double normal_quantile(double p) noexcept;

// Quantile of the finite values in `v` (R's type 7). Reorders v. NaN if none.
double empirical_quantile(std::span<double> v, double p);

// 1 + sum_{j=1}^{h-1} c_j^2: the h-step variance in units of the one-step one.
double variance_multiplier(const model_spec& spec, const params& p, std::uint32_t h) noexcept;

enum class interval_method : std::uint8_t { analytic, empirical };

struct forecast_point {
    std::uint32_t h = 0;
    double mean = 0.0;
    double lower = 0.0;    // (1-level)/2 quantile
    double upper = 0.0;    // (1+level)/2 quantile
    double capacity = 0.0; // capacity_q quantile: what the shadow network reserves
};

struct interval_options {
    double level = 0.95;
    double capacity_q = 0.95;
    interval_method method = interval_method::analytic;
    std::size_t max_origins = 2000; // empirical: most recent forecast origins used
};

// In-sample h-step errors (h = 1..H) over the last max_origins origins. When
// `relative` the errors are (y - f) / f. errors[h-1] holds horizon h.
std::vector<std::vector<double>> h_step_errors(const fit_result& fit, std::span<const double> y, std::uint32_t horizon,
                                               std::size_t max_origins, bool relative);

// Forecasts h = 1..H from the end of the fitted series. Always finite: a
// degenerate fit (flat series, no residuals) gives zero-width intervals.
std::vector<forecast_point> forecast_path(const fit_result& fit, std::span<const double> y, std::uint32_t horizon,
                                          const interval_options& opt = {});

// True when every finite value is > 0 (relative errors make sense).
bool strictly_positive(std::span<const double> y) noexcept;

} // namespace shadownet::forecast
