// Automatic model selection (see select.hpp).
#include "shadownet/forecast/select.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace shadownet::forecast {

std::vector<model_spec> default_candidates(std::uint32_t period) {
    std::vector<model_spec> c{models::ses(), models::holt(), models::damped()};
    if (period >= 2) {
        c.push_back({trend_kind::none, season_kind::additive, period});
        c.push_back(models::hw_add(period));
        c.push_back({trend_kind::damped, season_kind::additive, period});
        c.push_back({trend_kind::none, season_kind::multiplicative, period});
        c.push_back(models::hw_mul(period));
        c.push_back({trend_kind::damped, season_kind::multiplicative, period});
        c.push_back(models::snaive(period));
    }
    return c;
}

namespace {

// Holdout score: fit on y[0..n-k), then the mean absolute error of every
// 1..h-step forecast whose target lies in the last k points (rolling origin:
// the state keeps absorbing actuals, the parameters stay those of the train part).
double holdout_score(const model_spec& spec, std::span<const double> y, std::size_t k, std::uint32_t h,
                     bool only_h, const fit_options& fo) {
    const std::size_t n = y.size();
    const auto train = y.first(n - k);
    if (check_applicable(spec, train)) return std::numeric_limits<double>::infinity();
    fit_options o = fo;
    o.keep_residuals = false;
    const fit_result f = fit(spec, train, o);
    // Forecasts for every horizon 1..h from each origin whose targets fall
    // in the holdout, so the score is what the batch output will be judged on.
    const start_values sv = initial_values(spec, y);
    double sae = 0.0;
    std::size_t cnt = 0;
    for (std::uint32_t j = only_h ? h : 1; j <= h; ++j) {
        const filter_result r = run_loss_h(spec, f.par, y, sv.start, sv.state, j, n - k);
        sae += r.sae;
        cnt += r.n;
    }
    return cnt ? sae / static_cast<double>(cnt) : std::numeric_limits<double>::infinity();
}

} // namespace

selection select_model(std::span<const double> y, const selection_options& opt) {
    selection sel;
    auto candidates = opt.candidates.empty() ? default_candidates(opt.period) : opt.candidates;
    for (auto& c : candidates)
        if (c.seasonal()) c.period = opt.period;

    std::vector<fit_result> fits;
    std::size_t common_start = 0;
    for (const auto& c : candidates) {
        candidate_report rep;
        rep.spec = c;
        if (auto why = check_applicable(c, y)) {
            rep.reason = *why;
            sel.tried.push_back(rep);
            continue;
        }
        try {
            fits.push_back(fit(c, y, opt.fit));
            rep.ok = true;
            common_start = std::max(common_start, fits.back().start);
        } catch (const fit_error& e) {
            rep.reason = e.what();
        }
        sel.tried.push_back(rep);
    }
    if (fits.empty()) {
        // Nothing applies (e.g. every value missing): SES on the finite points
        // would also fail; report the first reason.
        throw fit_error(sel.tried.empty() ? "no candidate model" : sel.tried.front().reason);
    }

    const std::size_t n = y.size();
    std::size_t k = opt.holdout;
    if (k == 0)
        k = std::max<std::size_t>(opt.horizon, std::min<std::size_t>(n / 5, 2 * std::max<std::size_t>(opt.period, 1)));
    const bool use_holdout = opt.by == criterion::holdout && n > k + 3;

    std::size_t best = 0;
    double best_score = std::numeric_limits<double>::infinity();
    std::size_t fi = 0;
    for (auto& rep : sel.tried) {
        if (!rep.ok) continue;
        const fit_result& f = fits[fi];
        if (use_holdout) {
            try {
                rep.score = holdout_score(f.spec, y, k, opt.horizon, opt.only_horizon, opt.fit);
            } catch (const fit_error&) {
                rep.score = std::numeric_limits<double>::infinity();
            }
        } else {
            // Same points for everybody: the seasonal models do not score
            // their first period, so neither may the others.
            double sse = 0.0;
            std::size_t cnt = 0;
            for (std::size_t t = common_start; t < f.residuals.size(); ++t)
                if (std::isfinite(f.residuals[t])) {
                    sse += f.residuals[t] * f.residuals[t];
                    ++cnt;
                }
            rep.score = information_criterion(sse, cnt, parameter_count(f.spec));
        }
        // Ties and all-infinite scores keep the earlier (simpler) candidate.
        if (rep.score < best_score) {
            best_score = rep.score;
            best = fi;
        }
        ++fi;
    }
    sel.best = std::move(fits[best]);
    return sel;
}

} // namespace shadownet::forecast
