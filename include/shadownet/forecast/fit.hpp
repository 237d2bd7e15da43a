// Fitting: R-compatible start values, bounded parameter estimation by one-step
// SSE or an h-step loss, and the information criterion the selector uses.
// Control plane only (allocates, may throw fit_error).
#pragma once

#include "shadownet/forecast/filter.hpp"
#include "shadownet/forecast/model.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace shadownet::forecast {

// The model cannot be fitted to this data (too short for the period,
// non-positive values under a multiplicative season, no finite value).
// what() is one line for the operator; the selector catches it and falls back.
class fit_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Why `spec` cannot be fitted to y, or nullopt when it can.
std::optional<std::string> check_applicable(const model_spec& spec, std::span<const double> y);

// Minimum number of points the model needs (R's rules: two full periods for a
// seasonal start, three points for a trend).
std::size_t min_points(const model_spec& spec) noexcept;

struct start_values {
    series_state state;  // l.start, b.start, s.start
    std::size_t start;   // first index that is filtered and scored (R's start.time - 1)
};

// Start values exactly as stats::HoltWinters (start.periods = 2): for seasonal
// models a classical decomposition of the first two periods, level/trend from a
// linear fit of its trend; for Holt l = y2, b = y2 - y1 from t = 3; for SES
// l = y1 from t = 2; seasonal naive keeps the first period. Missing points in
// the start window are linearly interpolated first (R would fail). Throws fit_error.
start_values initial_values(const model_spec& spec, std::span<const double> y);

enum class loss_kind : std::uint8_t { one_step_sse, h_step_sse };

struct fit_options {
    loss_kind loss = loss_kind::one_step_sse;
    std::uint32_t horizon = 1;        // for h_step_sse
    std::optional<params> fixed;      // filter with these instead of estimating
    double phi_lo = 0.8, phi_hi = 0.98; // forecast::ets bounds for the damping factor
    int max_evals = 600;              // per Nelder-Mead run
    bool multi_start = true;          // explore beyond R's (0.3, 0.1, 0.1) and the warm start (false: quick refit)
    std::optional<params> warm_start; // previous fit, for refits
    bool keep_residuals = true;
    // One-step SSE on a series without missing points is minimised by the
    // vectorised Levenberg-Marquardt path (lib/forecast/fast_fit.hpp); false
    // forces Nelder-Mead everywhere (benchmarks compare the two).
    bool fast = true;
};

struct fit_result {
    model_spec spec;
    params par;
    series_state state;     // after the last observation: ready to forecast / go online
    std::size_t start = 0;  // first scored index
    double sse = 0.0;       // one-step SSE over scored points (R's $SSE)
    double loss = 0.0;      // the loss that was minimised
    std::size_t n = 0;      // scored points
    double sigma2 = 0.0;    // residual variance, sse / n
    double aicc = 0.0;      // see information_criterion()
    int evals = 0;          // objective evaluations (Nelder-Mead) or batched passes (fast path)
    std::vector<double> residuals; // y[t] - one-step forecast, NaN where not scored; size = y.size()
};

// Estimate (or apply fixed) parameters and filter. Throws fit_error.
fit_result fit(const model_spec& spec, std::span<const double> y, const fit_options& opt = {});

// Number of estimated quantities: smoothing parameters plus start states
// (level, trend, m-1 seasonal), as forecast::ets counts them.
std::size_t parameter_count(const model_spec& spec) noexcept;

// AICc from a Gaussian one-step likelihood: n log(SSE/n) + 2(k+1) + 2(k+1)(k+2)/(n-k-2).
// +inf when n is too small for k.
double information_criterion(double sse, std::size_t n, std::size_t k) noexcept;

} // namespace shadownet::forecast
