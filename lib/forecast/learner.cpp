// Continuous learning (see learner.hpp).
#include "shadownet/forecast/learner.hpp"

#include "shadownet/forecast/filter.hpp"
#include "shadownet/forecast/intervals.hpp"
#include "shadownet/forecast/refit_pool.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace shadownet::forecast {

namespace {

std::uint32_t season_of(const learner_options& o) {
    if (o.model && o.model->seasonal()) return std::max<std::uint32_t>(o.model->period, 1);
    return std::max<std::uint32_t>(o.period, 1);
}

// Refit job ids: unique in the process, so an outcome can never be mistaken
// for another learner's (or for a later job of the same learner).
std::atomic<std::uint64_t> next_job_id{1};

// Below this many tail points the refit contest uses AICc, not a holdout.
constexpr std::size_t short_tail = 24;
// Relative errors (a strictly positive series) are in units of the forecast,
// but never of less than this share of the window's mean level: a forecast
// that dips toward zero on a noisy series (a trend extrapolating a drop)
// made errors of 5-10x and capacity quantiles ten times the demand.
constexpr double relative_floor = 0.5;

// Fit for the horizon forecasts are issued at (shadow sizing looks further
// ahead than rerouting): an h-step loss when h > 1.
fit_options fit_options_for(const learner_options& o) {
    fit_options fo;
    if (o.horizon > 1) {
        fo.loss = loss_kind::h_step_sse;
        fo.horizon = o.horizon;
    }
    return fo;
}

learner_options resolve(learner_options o) {
    const std::size_t m = season_of(o);
    const bool seasonal = m >= 2;
    o.horizon = std::max<std::uint32_t>(o.horizon, 1);
    if (o.model && o.model->seasonal()) o.model->period = static_cast<std::uint32_t>(m);
    // Three periods, plus room for a holdout at the horizon so the first
    // selection can already try the seasonal models (they need 2m + 1 points
    // before the holdout).
    if (o.warmup == 0) o.warmup = seasonal ? 3 * m + (o.horizon > 1 ? std::min<std::size_t>(o.horizon, m) : 0) : 10;
    if (o.model) o.warmup = std::max(o.warmup, min_points(*o.model));
    if (o.window == 0) {
        // A week of five-minute points for a daily season; at least three
        // periods so a seasonal refit has two to start from and one to learn.
        // At least 120 points so short periods (monthly, quarterly) refit
        // on years of history, not on a handful of points.
        o.window = seasonal ? std::max<std::size_t>(3 * m, std::min<std::size_t>(std::max<std::size_t>(7 * m, 120), 4032))
                            : 500;
    }
    o.window = std::max(o.window, o.warmup);
    if (o.refit_every == 0) o.refit_every = seasonal ? m : 50;
    if (o.residual_window == 0) o.residual_window = 1000;
    if (o.candidates.empty()) o.candidates = default_candidates(seasonal ? static_cast<std::uint32_t>(m) : 1);
    return o;
}

} // namespace

series_learner::series_learner(learner_options opt)
    : opt_(resolve(std::move(opt))),
      hist_(opt_.window),
      issued_(opt_.horizon),
      issued_scale_(opt_.horizon, 0.0),
      warm_(opt_.candidates.size(), params{}),
      scores_(opt_.candidates.size(), std::numeric_limits<double>::infinity()),
      errs_(opt_.residual_window),
      scratch_(opt_.residual_window),
      a_lo_((1.0 - opt_.level) / 2.0),
      a_hi_((1.0 - opt_.level) / 2.0),
      a_cap_(1.0 - opt_.capacity_q) {
    if (!(opt_.level > 0.0 && opt_.level < 1.0)) throw std::invalid_argument("level must be in (0, 1)");
    if (!(opt_.capacity_q > 0.0 && opt_.capacity_q < 1.0))
        throw std::invalid_argument("capacity quantile must be in (0, 1)");
}

void series_learner::set_capacity_quantile(double q) {
    if (!(q > 0.0 && q < 1.0)) throw std::invalid_argument("capacity quantile must be in (0, 1)");
    opt_.capacity_q = q;
    a_cap_ = 1.0 - q;
    d_cap_ = 0.0;
}

const live_point& series_learner::current() const noexcept {
    return issued_[(issued_head_ + issued_.size() - 1) % issued_.size()];
}

std::vector<double> series_learner::window_copy() const {
    std::vector<double> w(hist_size_);
    const std::size_t cap = hist_.size();
    const std::size_t first = (hist_head_ + cap - hist_size_) % cap;
    for (std::size_t i = 0; i < hist_size_; ++i) w[i] = hist_[(first + i) % cap];
    return w;
}

live_metrics series_learner::metrics() const noexcept {
    live_metrics m;
    m.n = n_;
    m.mape = n_ape_ ? sum_ape_ / static_cast<double>(n_ape_) : 0.0;
    m.smape = n_ ? sum_sape_ / static_cast<double>(n_) : 0.0;
    m.mase = n_mase_ ? sum_abs_ / static_cast<double>(n_mase_) : 0.0;
    m.coverage = n_ ? static_cast<double>(n_cov_) / static_cast<double>(n_) : 0.0;
    m.capacity_coverage = n_ ? static_cast<double>(n_cap_) / static_cast<double>(n_) : 0.0;
    m.refits = refits_;
    m.switches = switches_;
    return m;
}

live_point series_learner::observe(double y) {
    live_point out = issued_[issued_head_];
    issued_[issued_head_].valid = false;
    if (out.valid) {
        out.actual = y;
        if (std::isfinite(y)) {
            const double e = y - out.mean;
            ++n_;
            if (y != 0.0) {
                sum_ape_ += 100.0 * std::abs(e) / std::abs(y);
                ++n_ape_;
            }
            const double den = std::abs(y) + std::abs(out.mean);
            if (den > 0.0) sum_sape_ += 200.0 * std::abs(e) / den;
            // MASE: each error in units of the scale in force when it was made.
            if (mase_scale_ > 0.0) {
                sum_abs_ += std::abs(e) / mase_scale_;
                ++n_mase_;
            }
            const bool miss_lo = y < out.lower, miss_hi = y > out.upper, miss_cap = y > out.capacity;
            n_cov_ += (!miss_lo && !miss_hi) ? 1U : 0U;
            n_cap_ += miss_cap ? 0U : 1U;
            if (opt_.aci_rate > 0.0) {
                // Adaptive conformal: alpha += rate * (target - miss).
                const double t2 = (1.0 - opt_.level) / 2.0, tc = 1.0 - opt_.capacity_q;
                a_lo_ = std::clamp(a_lo_ + opt_.aci_rate * (t2 - (miss_lo ? 1.0 : 0.0)), 1e-4, 0.5);
                a_hi_ = std::clamp(a_hi_ + opt_.aci_rate * (t2 - (miss_hi ? 1.0 : 0.0)), 1e-4, 0.5);
                a_cap_ = std::clamp(a_cap_ + opt_.aci_rate * (tc - (miss_cap ? 1.0 : 0.0)), 1e-4, 0.5);
            }
            if (opt_.track_rate > 0.0 && err_size_ >= 30) {
                // Quantile tracking (SGD on the pinball loss) on top of the
                // window quantile. It can reach beyond the largest error in
                // the window, which the level correction above cannot: at a
                // day-ahead horizon misses come a day late and a whole bad
                // day at once. Steps scale with the mean recent |error|.
                const double eta = opt_.track_rate * err_abs_sum_ / static_cast<double>(err_size_);
                const double t2 = (1.0 - opt_.level) / 2.0, tc = 1.0 - opt_.capacity_q;
                d_lo_ -= eta * ((miss_lo ? 1.0 : 0.0) - t2);
                d_hi_ += eta * ((miss_hi ? 1.0 : 0.0) - t2);
                d_cap_ += eta * ((miss_cap ? 1.0 : 0.0) - tc);
            }
            const double unit = issued_scale_[issued_head_];
            const double rec = relative_ ? (unit > 0.0 ? e / unit : std::numeric_limits<double>::quiet_NaN()) : e;
            if (std::isfinite(rec)) {
                if (err_size_ == errs_.size()) err_abs_sum_ -= std::abs(errs_[err_head_]);
                err_abs_sum_ += std::abs(rec);
                errs_[err_head_] = rec;
                err_head_ = (err_head_ + 1) % errs_.size();
                err_size_ = std::min(err_size_ + 1, errs_.size());
            }
        }
    }

    if (hist_size_ == hist_.size() && std::isfinite(hist_[hist_head_])) {
        hist_sum_ -= hist_[hist_head_];
        --hist_finite_;
    }
    if (std::isfinite(y)) {
        hist_sum_ += y;
        ++hist_finite_;
    }
    hist_[hist_head_] = y;
    hist_head_ = (hist_head_ + 1) % hist_.size();
    hist_size_ = std::min(hist_size_ + 1, hist_.size());
    ++seen_;

    if (!fitted_) {
        if (hist_size_ >= opt_.warmup) initial_fit();
    } else {
        (void)run_filter(spec_, par_, std::span<const double>(&y, 1), 0, state_);
        ++since_refit_;
    }
    if (fitted_) issue(issued_head_);
    issued_head_ = (issued_head_ + 1) % issued_.size();
    if (!opt_.defer_refits && refit_due()) refit();
    return out;
}

void series_learner::issue(std::size_t slot) {
    live_point& p = issued_[slot];
    double mean = point_forecast(spec_, par_, state_, opt_.horizon);
    if (!std::isfinite(mean)) {
        mean = 0.0;
        for (std::size_t i = 0; i < hist_size_; ++i) {
            const double v = hist_[(hist_head_ + hist_.size() - 1 - i) % hist_.size()];
            if (std::isfinite(v)) { mean = v; break; }
        }
    }
    p.valid = true;
    p.mean = mean;
    const double scale = relative_ ? relative_scale(mean) : 1.0;
    issued_scale_[slot] = scale;
    double ql = 0, qh = 0, qc = 0;
    if (err_size_ >= 30) {
        const auto s = std::span<double>(scratch_.data(), err_size_);
        const auto refill = [&] { std::copy_n(errs_.begin(), err_size_, scratch_.begin()); };
        refill();
        ql = empirical_quantile(s, a_lo_);
        refill();
        qh = empirical_quantile(s, 1.0 - a_hi_);
        refill();
        qc = empirical_quantile(s, 1.0 - a_cap_);
    } else {
        const double sd = (relative_ ? sigma_rel_ : sigma_abs_) *
                          std::sqrt(variance_multiplier(spec_, par_, opt_.horizon));
        ql = normal_quantile(a_lo_) * sd;
        qh = normal_quantile(1.0 - a_hi_) * sd;
        qc = normal_quantile(1.0 - a_cap_) * sd;
    }
    p.lower = mean + (ql + d_lo_) * scale;
    p.upper = mean + (qh + d_hi_) * scale;
    p.capacity = mean + (qc + d_cap_) * scale;
    if (!std::isfinite(p.lower)) p.lower = mean;
    if (!std::isfinite(p.upper)) p.upper = mean;
    if (!std::isfinite(p.capacity)) p.capacity = mean;
    // The tracking offsets move each bound on its own; never let them cross.
    if (p.lower > p.upper) p.lower = p.upper = 0.5 * (p.lower + p.upper);
}

double series_learner::relative_scale(double mean) const noexcept {
    const double level = hist_finite_ ? hist_sum_ / static_cast<double>(hist_finite_) : 0.0;
    return std::max(std::abs(mean), relative_floor * std::abs(level));
}

void series_learner::install(const fit_result& f, const std::vector<double>& w) {
    spec_ = f.spec;
    par_ = f.par;
    state_ = f.state;
    fitted_ = true;
    since_refit_ = 0;

    const bool rel = strictly_positive(w);
    if (rel != relative_) {
        // The error scale changed meaning: old errors would mix units.
        err_size_ = 0;
        err_head_ = 0;
        err_abs_sum_ = 0.0;
        d_lo_ = d_hi_ = d_cap_ = 0.0;
        relative_ = rel;
    }
    double s_abs = 0, s_rel = 0, w_sum = 0;
    std::size_t k_abs = 0, k_rel = 0, w_n = 0;
    for (const double v : w)
        if (std::isfinite(v)) {
            w_sum += v;
            ++w_n;
        }
    const double floor = w_n ? relative_floor * std::abs(w_sum / static_cast<double>(w_n)) : 0.0;
    for (std::size_t t = 0; t < f.residuals.size() && t < w.size(); ++t) {
        const double e = f.residuals[t];
        if (!std::isfinite(e)) continue;
        s_abs += e * e;
        ++k_abs;
        const double fc = w[t] - e;
        if (fc > 0.0) {
            const double unit = std::max(fc, floor);
            s_rel += (e / unit) * (e / unit);
            ++k_rel;
        }
    }
    sigma_abs_ = k_abs ? std::sqrt(s_abs / static_cast<double>(k_abs)) : 0.0;
    sigma_rel_ = k_rel ? std::sqrt(s_rel / static_cast<double>(k_rel)) : 0.0;

    // MASE scale: in-sample mean absolute seasonal (or lag-1) difference.
    std::size_t lag = season_of(opt_);
    if (lag >= w.size()) lag = 1;
    double sd = 0.0;
    std::size_t kd = 0;
    for (std::size_t t = lag; t < w.size(); ++t) {
        const double d = w[t] - w[t - lag];
        if (std::isfinite(d)) { sd += std::abs(d); ++kd; }
    }
    if (kd && sd > 0.0) mase_scale_ = sd / static_cast<double>(kd);
}

void series_learner::initial_fit() {
    const auto w = window_copy();
    const fit_options fo = fit_options_for(opt_);
    if (opt_.model && !check_applicable(*opt_.model, w)) {
        install(fit(*opt_.model, w, fo), w);
        return;
    }
    // Auto mode, or the fixed model cannot take this data (e.g. a
    // multiplicative season and a zero): fall back to selection.
    selection_options so;
    so.period = season_of(opt_);
    so.candidates = opt_.candidates;
    so.fit = fo;
    std::vector<std::size_t> index; // so.candidates[i] is opt_.candidates[index[i]]
    if (opt_.horizon > 1) {
        // Choose for the horizon we act on, and seed the contest with it.
        // Non-seasonal models only enter later through the contest: a single
        // warm-up holdout day can crown a flat line, which then costs days.
        so.by = criterion::holdout;
        so.horizon = opt_.horizon;
        so.only_horizon = true;
        so.candidates.clear();
        for (std::size_t c = 0; c < opt_.candidates.size(); ++c)
            if (opt_.candidates[c].seasonal() && !check_applicable(opt_.candidates[c], w)) {
                so.candidates.push_back(opt_.candidates[c]);
                index.push_back(c);
            }
        if (so.candidates.empty()) {
            so.candidates = opt_.candidates;
            index.clear();
        }
    }
    if (index.empty())
        for (std::size_t c = 0; c < so.candidates.size(); ++c) index.push_back(c);
    try {
        auto sel = select_model(w, so);
        if (so.by == criterion::holdout)
            for (std::size_t i = 0; i < sel.tried.size() && i < index.size(); ++i)
                scores_[index[i]] = sel.tried[i].ok ? sel.tried[i].score : std::numeric_limits<double>::infinity();
        install(sel.best, w);
    } catch (const fit_error&) {
        // No finite value yet: wait for more data.
    }
}

void series_learner::refit() {
    apply_refit(run_refit(take_refit()));
}

refit_job series_learner::take_refit() {
    refit_job j;
    j.id = next_job_id.fetch_add(1, std::memory_order_relaxed);
    j.seen = seen_;
    j.opt = opt_;
    j.window = window_copy();
    j.spec = spec_;
    j.par = par_;
    j.warm = warm_;
    j.scores = scores_;
    pending_ = j.id;
    return j;
}

bool series_learner::apply_refit(refit_outcome&& o) {
    if (o.id == 0 || o.id != pending_) return false; // superseded, or not this learner's
    pending_ = 0;
    if (o.failed) return false;
    const std::uint64_t lag = seen_ - o.seen;
    if (lag >= opt_.refit_every || lag > hist_size_) return false; // stale: due again
    // What refit_model() did in place, in the same order of effect.
    since_refit_ = 0;
    ++refits_;
    if (o.switched) ++switches_;
    scores_ = std::move(o.scores);
    warm_ = std::move(o.warm);
    if (o.install) {
        install(*o.install, o.window);
        // Bring the new model up to date over the points observed since the
        // job was taken, one at a time as observe() does.
        const std::size_t cap = hist_.size();
        for (std::size_t k = lag; k > 0; --k) {
            const double y = hist_[(hist_head_ + cap - k) % cap];
            (void)run_filter(spec_, par_, std::span<const double>(&y, 1), 0, state_);
        }
    }
    since_refit_ = static_cast<std::size_t>(lag);
    // The forecast issued at this point must come from the refitted model,
    // whether the refit ran inline (observe) or later (learner_group, a pool).
    if (fitted_ && issued_[(issued_head_ + issued_.size() - 1) % issued_.size()].valid)
        issue((issued_head_ + issued_.size() - 1) % issued_.size());
    return true;
}

refit_outcome series_learner::run_refit(refit_job job) {
    refit_outcome out;
    out.id = job.id;
    out.seen = job.seen;
    out.warm = std::move(job.warm);
    out.scores = std::move(job.scores);
    out.window = std::move(job.window);
    const learner_options& opt = job.opt;
    const model_spec& spec = job.spec;
    const params& par = job.par;
    const std::vector<double>& w = out.window;
    auto& scores = out.scores;
    auto& warm_c = out.warm;
    fit_options fo = fit_options_for(opt);
    fo.multi_start = false;
    fo.max_evals = 300;
    try {
        if (opt.model) {
            // The operator's model while the data allows it; otherwise the
            // best candidate until the offending points leave the window.
            if (!check_applicable(*opt.model, w)) {
                if (spec == *opt.model) fo.warm_start = par;
                out.install = fit(*opt.model, w, fo);
                return out;
            }
            if (spec == *opt.model) out.switched = true;
            selection_options so;
            so.period = season_of(opt);
            so.candidates = opt.candidates;
            so.fit = fo;
            out.install = select_model(w, so).best;
            return out;
        }
        // The contest: fit each candidate on the window minus its tail and
        // score the tail at the horizon we act on.
        const std::size_t tail = std::min<std::size_t>(std::max<std::size_t>(opt.refit_every, 2 * opt.horizon),
                                                       w.size() / 3);
        if (tail < short_tail) {
            // Short series (monthly, quarterly): a tail of a few points is a
            // coin toss, so compare by AICc on the whole window instead, and
            // switch only on a clear difference (2 units: "substantial
            // support" in Burnham & Anderson's terms).
            selection_options so;
            so.period = season_of(opt);
            so.candidates = opt.candidates;
            so.fit = fo;
            auto sel = select_model(w, so);
            double inc = std::numeric_limits<double>::infinity();
            double top = std::numeric_limits<double>::infinity();
            for (const auto& c : sel.tried) {
                if (!c.ok) continue;
                if (c.spec == spec) inc = c.score;
                top = std::min(top, c.score);
            }
            if (sel.best.spec == spec || (std::isfinite(inc) && top > inc - 2.0)) {
                if (check_applicable(spec, w)) return out;
                fo.warm_start = par;
                out.install = fit(spec, w, fo);
            } else {
                out.switched = true;
                out.install = std::move(sel.best);
            }
            return out;
        }
        const auto train = std::span<const double>(w).first(w.size() - tail);
        double inc_score = std::numeric_limits<double>::infinity();
        double best_score = std::numeric_limits<double>::infinity();
        std::size_t best = opt.candidates.size();
        std::vector<params> trained(opt.candidates.size());
        for (std::size_t c = 0; c < opt.candidates.size(); ++c) {
            const model_spec& cand = opt.candidates[c];
            if (check_applicable(cand, train) || check_applicable(cand, w)) {
                scores[c] = std::numeric_limits<double>::infinity();
                continue;
            }
            fit_options o = fo;
            o.keep_residuals = false;
            if (cand == spec) o.warm_start = par;
            else o.warm_start = warm_c[c];
            const fit_result f = fit(cand, train, o);
            trained[c] = f.par;
            // Replay the whole window with the train-fitted parameters and
            // score only the horizon-step forecasts that land in the tail.
            const start_values sv = initial_values(cand, w);
            const filter_result r = run_loss_h(cand, f.par, w, sv.start, sv.state, opt.horizon, train.size());
            // Mean absolute error: outages and spikes in one tail should not
            // decide the contest the way they would under squared error.
            const double score = r.n ? r.sae / static_cast<double>(r.n) : std::numeric_limits<double>::infinity();
            // Scores are smoothed over refits: one tail (a day, at a day-ahead
            // horizon) is too noisy a contest on its own, and a model should
            // win on a run of tails before it takes over.
            double& sm = scores[c];
            sm = std::isfinite(score) ? (std::isfinite(sm) ? (1.0 - opt.score_weight) * sm + opt.score_weight * score : score)
                                      : std::numeric_limits<double>::infinity();
            if (cand == spec) inc_score = sm;
            if (sm < best_score) { best_score = sm; best = c; }
        }
        model_spec next = spec;
        params warm = par;
        if (best < opt.candidates.size() && !(opt.candidates[best] == spec) &&
            (!std::isfinite(inc_score) || best_score < inc_score * (1.0 - opt.switch_gain))) {
            next = opt.candidates[best];
            warm = trained[best];
            out.switched = true;
        }
        if (check_applicable(next, w)) return out;
        fo.warm_start = warm;
        fit_result f = fit(next, w, fo);
        for (std::size_t c = 0; c < opt.candidates.size(); ++c)
            if (opt.candidates[c] == next) warm_c[c] = f.par;
        out.install = std::move(f);
    } catch (const fit_error&) {
        // Keep the live model: a refit that cannot run is not a reason to stop forecasting.
    }
    return out;
}

// ---------------------------------------------------------------------------

learner_group::learner_group(std::size_t series, const learner_options& opt, std::vector<int> cpus, int threads)
    : pool_(std::make_unique<refit_pool>(std::move(cpus), threads)) {
    learner_options o = opt;
    o.defer_refits = true;
    learners_.reserve(series);
    for (std::size_t i = 0; i < series; ++i) learners_.emplace_back(o);
}

learner_group::~learner_group() = default;

void learner_group::observe(std::span<const double> y, std::span<live_point> out) {
    const std::size_t n = std::min(y.size(), learners_.size());
    std::vector<std::size_t> due;
    for (std::size_t i = 0; i < n; ++i) {
        const live_point p = learners_[i].observe(y[i]);
        if (i < out.size()) out[i] = p;
        if (learners_[i].refit_due()) due.push_back(i);
    }
    if (due.empty()) return;
    pool_->parallel_for(due.size(), [&](std::size_t k) { learners_[due[k]].refit(); });
}

} // namespace shadownet::forecast
