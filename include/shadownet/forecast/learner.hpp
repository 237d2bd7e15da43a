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
// A refit can also run off the owner's thread, in three steps: take_refit()
// (owner's thread) copies everything the fit reads into a refit_job;
// run_refit(job) is pure and thread-safe (it reads only the job); and
// apply_refit() (owner's thread, later) installs the outcome, bringing the
// new model up to date over the points observed meanwhile. refit() is exactly
// these three steps in a row, so an outcome applied at the point it was taken
// gives the same learner as refit() there. refit_pool (refit_pool.hpp) runs
// jobs in the background on a TBB arena confined to a control cpuset.
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

// What a refit reads, copied from a learner (series_learner::take_refit): a
// job owns all of it, so it may outlive the learner.
struct refit_job {
    std::uint64_t id = 0;        // unique in the process; the learner waits for this one
    std::uint64_t seen = 0;      // the learner's observations when it was taken
    learner_options opt;         // resolved
    std::vector<double> window;  // the refit window, oldest first
    model_spec spec{};           // the live model and its parameters
    params par{};
    std::vector<params> warm;    // per candidate (auto mode)
    std::vector<double> scores;  // per candidate (auto mode)
};

// What a refit produced (series_learner::run_refit), for apply_refit().
struct refit_outcome {
    std::uint64_t id = 0;
    std::uint64_t seen = 0;
    bool failed = false;                // the job threw something other than fit_error: nothing to apply
    bool switched = false;              // counts as a model switch
    std::optional<fit_result> install;  // the new model; nullopt: keep the live one
    std::vector<double> window;         // the job's window (install's interval and MASE scales)
    std::vector<params> warm;
    std::vector<double> scores;
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
    // False while a job taken by take_refit() has not come back (apply_refit).
    [[nodiscard]] bool refit_due() const noexcept {
        return fitted_ && pending_ == 0 && since_refit_ >= opt_.refit_every;
    }
    // Refit now over the window (and in auto mode run the contest). A job in
    // flight is superseded: its outcome will be discarded.
    void refit();

    // Refit in three steps (see the top of this file). take_refit() marks the
    // learner as waiting for the job (refit_due() is false meanwhile; a newer
    // take_refit() or refit() supersedes it).
    [[nodiscard]] refit_job take_refit();
    // Pure: reads only the job. Thread-safe.
    [[nodiscard]] static refit_outcome run_refit(refit_job job);
    // Installs the outcome of the job the learner is waiting for. The
    // staleness rule: an outcome is applied when it is the learner's latest
    // job and fewer than refit_every points came since it was taken (the new
    // model's state is then replayed over those points, and the forecast just
    // issued is reissued from it); otherwise it is discarded, returns false,
    // and the learner is due again at once when it was waiting for it.
    bool apply_refit(refit_outcome&& o);
    // Observations so far (also those before warm-up).
    [[nodiscard]] std::uint64_t seen() const noexcept { return seen_; }

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
    void install(const fit_result& f, const std::vector<double>& w);
    void issue(std::size_t slot);
    [[nodiscard]] double relative_scale(double mean) const noexcept;
    [[nodiscard]] std::vector<double> window_copy() const;

    learner_options opt_;
    // History ring (the refit window).
    std::vector<double> hist_;
    std::size_t hist_head_ = 0, hist_size_ = 0;
    double hist_sum_ = 0.0;      // of the finite values in hist_: their mean is the level relative errors are floored at
    std::size_t hist_finite_ = 0;
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
    std::uint64_t seen_ = 0;     // observations
    std::uint64_t pending_ = 0;  // id of the refit job waited for; 0: none
    // Issued forecasts: a ring of `horizon` entries; issued_[issued_head_]
    // targets the next observation.
    std::vector<live_point> issued_;
    std::vector<double> issued_scale_; // per issued forecast: what its relative errors and bounds are in units of
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

class refit_pool;

// Many series, one observation each per tick; due refits run in parallel
// (refit_pool::parallel_for), and observe() returns when they are done.
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
    std::vector<series_learner> learners_;
    std::unique_ptr<refit_pool> pool_;
};

} // namespace shadownet::forecast
