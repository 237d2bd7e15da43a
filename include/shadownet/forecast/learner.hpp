// Continuous learning for one series, and a group of series refitted in
// parallel.
//
// series_learner walks a series point by point as the appliance does: it
// keeps the live model's state (O(1) per point), scores the forecast it issued
// `horizon` steps ago (MAPE, sMAPE, MASE, interval coverage), keeps a sliding
// window of history and recent errors, and every `refit_every` points refits
// over the window. In auto mode a refit is a contest: every candidate is
// fitted on the window minus its tail and scored on the tail; the incumbent is
// replaced only when a challenger would have done better by `switch_gain`
// (hysteresis, so models do not flap); when the tail would be under 24 points
// (monthly, quarterly data) the contest is AICc on the whole window, with a
// switch only on a 2-unit difference. Intervals come from the recent live
// errors (relative when the series is positive), with an adaptive-conformal
// correction of the tail levels and a quantile-tracking offset so long-run
// coverage tracks the target even a day ahead.
//
// Threads: a series_learner is used by one thread at a time. learner_group
// calls observe() for all series on the caller's thread and runs the due
// refits on a TBB arena confined to a control cpuset.
#pragma once

#include "shadownet/forecast/fit.hpp"
#include "shadownet/forecast/model.hpp"
#include "shadownet/forecast/select.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace shadownet::forecast {

struct learner_options {
    std::optional<model_spec> model;   // fixed model; nullopt: automatic selection
    std::uint32_t period = 1;
    std::uint32_t horizon = 1;         // forecasts are issued this many steps ahead
    double level = 0.95;               // two-sided interval
    double capacity_q = 0.95;          // one-sided capacity quantile
    std::size_t warmup = 0;            // points before the first fit; 0: 3m (+ min(h, m) when h > 1), 10 without season
    std::size_t window = 0;            // refit window; 0: max(3m, min(max(7m, 120), 4032)), 500 without season
    std::size_t refit_every = 0;       // 0: m, or 50 without season
    std::size_t residual_window = 0;   // live errors kept for intervals; 0: 1000
    double switch_gain = 0.03;         // a challenger must be this much better (relative tail MAE)
    double score_weight = 0.3;         // weight of the newest tail in a candidate's smoothed contest score
    double aci_rate = 0.005;           // adaptive-conformal step on the tail levels; 0 disables
    double track_rate = 0.05;          // quantile-tracking step, x mean |recent error|; 0 disables
    bool defer_refits = false;         // true: the owner calls refit() (learner_group does)
    std::vector<model_spec> candidates; // auto mode; empty: the defaults for the period
};

struct live_metrics {
    std::size_t n = 0;          // scored points
    double mape = 0.0;          // % over points with actual != 0
    double smape = 0.0;         // %
    double mase = 0.0;          // mean of |e| / in-sample mean |seasonal difference| of the window
    double coverage = 0.0;      // fraction of actuals inside [lower, upper]
    double capacity_coverage = 0.0; // fraction of actuals <= capacity
    std::size_t refits = 0;
    std::size_t switches = 0;
};

// One issued forecast, and (from observe()) the actual it was made for.
struct live_point {
    bool valid = false;   // false during warm-up
    double actual = 0.0;
    double mean = 0.0;
    double lower = 0.0;
    double upper = 0.0;
    double capacity = 0.0;
};

class series_learner {
public:
    explicit series_learner(learner_options opt);

    // One new observation (NaN = missing). Returns the forecast that was
    // issued `horizon` steps ago for this point, with the actual filled in.
    live_point observe(double y);

    // The forecast for `horizon` steps past the last observation.
    [[nodiscard]] const live_point& current() const noexcept;

    [[nodiscard]] bool fitted() const noexcept { return fitted_; }
    [[nodiscard]] bool refit_due() const noexcept { return fitted_ && since_refit_ >= opt_.refit_every; }
    // Refit now over the window (and in auto mode run the contest).
    void refit();

    [[nodiscard]] const model_spec& model() const noexcept { return spec_; }
    [[nodiscard]] const params& parameters() const noexcept { return par_; }
    [[nodiscard]] live_metrics metrics() const noexcept;
    [[nodiscard]] const learner_options& options() const noexcept { return opt_; }
    // A new one-sided capacity quantile, from the next issued forecast on (the
    // shadow manager adapts it from its outcomes). The adaptive-conformal tail
    // and the tracking offset restart from the new target: they were steering
    // toward the old one. Throws std::invalid_argument outside (0, 1).
    void set_capacity_quantile(double q);

private:
    void initial_fit();
    void install(const fit_result& f);
    void issue(std::size_t slot);
    void refit_model();
    [[nodiscard]] std::vector<double> window_copy() const;

    learner_options opt_;
    // History ring (the refit window).
    std::vector<double> hist_;
    std::size_t hist_head_ = 0, hist_size_ = 0;
    // Live model.
    bool fitted_ = false;
    model_spec spec_{};
    params par_{};
    series_state state_;
    double sigma_rel_ = 0.0; // fallback interval scale until enough live errors
    double sigma_abs_ = 0.0;
    bool relative_ = true;
    double mase_scale_ = 0.0;
    std::size_t since_refit_ = 0;
    // Issued forecasts: a ring of `horizon` entries; issued_[issued_head_]
    // targets the next observation.
    std::vector<live_point> issued_;
    std::size_t issued_head_ = 0;
    std::vector<params> warm_;    // last parameters per candidate (auto mode)
    std::vector<double> scores_;  // smoothed contest score per candidate (auto mode)
    // Live errors for intervals (relative or absolute, see relative_).
    std::vector<double> errs_, scratch_;
    std::size_t err_head_ = 0, err_size_ = 0;
    // Adaptive-conformal tail probabilities (lower, upper, capacity).
    double a_lo_, a_hi_, a_cap_;
    // Quantile-tracking offsets added to the window quantiles (lower, upper,
    // capacity), in the units of errs_; and the running sum of |errs_|.
    double d_lo_ = 0.0, d_hi_ = 0.0, d_cap_ = 0.0;
    double err_abs_sum_ = 0.0;
    // Accumulators.
    std::size_t n_ = 0, n_ape_ = 0, n_mase_ = 0, n_cov_ = 0, n_cap_ = 0, refits_ = 0, switches_ = 0;
    double sum_ape_ = 0.0, sum_sape_ = 0.0, sum_abs_ = 0.0; // sum_abs_: |e| / MASE scale
};

// Many series, one observation each per tick; due refits run in parallel.
class learner_group {
public:
    // cpus: the control cpuset the refit workers are confined to (empty: no
    // pinning); threads: arena size (0: TBB's default).
    learner_group(std::size_t series, const learner_options& opt, std::vector<int> cpus = {}, int threads = 0);
    ~learner_group();
    learner_group(const learner_group&) = delete;
    learner_group& operator=(const learner_group&) = delete;

    // y[i] is series i's new observation; out (optional) receives each series'
    // scored point. Then refits whatever is due, in parallel.
    void observe(std::span<const double> y, std::span<live_point> out = {});
    [[nodiscard]] std::size_t size() const noexcept { return learners_.size(); }
    [[nodiscard]] const series_learner& at(std::size_t i) const { return learners_.at(i); }

private:
    struct arena;
    std::vector<series_learner> learners_;
    std::unique_ptr<arena> arena_;
};

} // namespace shadownet::forecast
