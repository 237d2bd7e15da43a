// Properties of the models that need no reference: robustness on hostile
// series (flat, zero, negative, very short, missing points, huge values),
// refusal of non-positive data by multiplicative seasons with a fallback in
// selection, and the online bank agreeing bit for bit with the batch filter
// for every model and periods from 2 to 2016.
#include "shadownet/forecast/filter.hpp"
#include "shadownet/forecast/fit.hpp"
#include "shadownet/forecast/intervals.hpp"
#include "shadownet/forecast/learner.hpp"
#include "shadownet/forecast/model.hpp"
#include "shadownet/forecast/online.hpp"
#include "shadownet/forecast/select.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace fc = shadownet::forecast;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

// A positive daily-shaped series with trend and noise.
std::vector<double> seasonal_series(std::size_t n, std::uint32_t m, unsigned seed, double level = 100.0) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0.0, 2.0);
    std::vector<double> y(n);
    for (std::size_t t = 0; t < n; ++t)
        y[t] = level + 0.01 * static_cast<double>(t) +
               20.0 * std::sin(2.0 * M_PI * static_cast<double>(t % m) / m) + noise(rng);
    return y;
}

std::vector<fc::model_spec> all_models(std::uint32_t m) {
    std::vector<fc::model_spec> v = fc::default_candidates(m);
    return v;
}

void expect_finite_path(const std::vector<fc::forecast_point>& path, const std::string& tag) {
    for (const auto& p : path) {
        EXPECT_TRUE(std::isfinite(p.mean)) << tag << " h=" << p.h;
        EXPECT_TRUE(std::isfinite(p.lower)) << tag << " h=" << p.h;
        EXPECT_TRUE(std::isfinite(p.upper)) << tag << " h=" << p.h;
        EXPECT_TRUE(std::isfinite(p.capacity)) << tag << " h=" << p.h;
        EXPECT_LE(p.lower, p.upper) << tag << " h=" << p.h;
    }
}

struct hostile {
    std::string name;
    std::vector<double> y;
};

std::vector<hostile> hostile_series(std::uint32_t m) {
    std::vector<hostile> v;
    v.push_back({"flat", std::vector<double>(5 * m, 42.0)});
    v.push_back({"zero", std::vector<double>(5 * m, 0.0)});
    auto neg = seasonal_series(5 * m, m, 1, -100.0);
    v.push_back({"negative", neg});
    auto gaps = seasonal_series(5 * m, m, 2);
    for (std::size_t t = 0; t < gaps.size(); t += 7) gaps[t] = nan_v;
    gaps[0] = nan_v;
    gaps[1] = nan_v;
    gaps.back() = nan_v;
    v.push_back({"nan-gaps", gaps});
    auto outage = seasonal_series(5 * m, m, 3);
    for (std::size_t t = 2 * m; t < 3 * m; ++t) outage[t] = 0.0; // an outage: zeros for a period
    v.push_back({"outage", outage});
    auto huge = seasonal_series(5 * m, m, 4);
    for (auto& x : huge) x *= 1e12;
    v.push_back({"huge", huge});
    v.push_back({"one-point", {3.0}});
    v.push_back({"two-points", {3.0, 4.0}});
    v.push_back({"three-points", {3.0, nan_v, 5.0}});
    std::vector<double> alt(5 * m);
    for (std::size_t t = 0; t < alt.size(); ++t) alt[t] = (t % 2 ? 1.0 : -1.0) * 1e3;
    v.push_back({"alternating", alt});
    return v;
}

} // namespace

TEST(models, names_round_trip) {
    for (const auto& s : all_models(12)) {
        const auto back = fc::parse_model(fc::model_name(s), 12);
        ASSERT_TRUE(back.has_value()) << fc::model_name(s);
        EXPECT_EQ(*back, s) << fc::model_name(s);
    }
    EXPECT_FALSE(fc::parse_model("arima", 12).has_value());
}

TEST(models, hostile_series_give_finite_forecasts_or_a_reason) {
    for (std::uint32_t m : {4U, 24U}) {
        for (const auto& h : hostile_series(m)) {
            for (const auto& spec : all_models(m)) {
                const std::string tag = h.name + "/" + fc::model_name(spec) + "/m=" + std::to_string(m);
                if (auto why = fc::check_applicable(spec, h.y)) {
                    EXPECT_FALSE(why->empty()) << tag;
                    EXPECT_THROW((void)fc::fit(spec, h.y), fc::fit_error) << tag;
                    continue;
                }
                const auto f = fc::fit(spec, h.y);
                EXPECT_TRUE(std::isfinite(f.sse)) << tag;
                for (auto method : {fc::interval_method::analytic, fc::interval_method::empirical}) {
                    fc::interval_options io;
                    io.method = method;
                    expect_finite_path(fc::forecast_path(f, h.y, 2 * m, io), tag);
                }
            }
            // Selection always finds something for any series with a finite point.
            fc::selection_options so;
            so.period = m;
            const auto sel = fc::select_model(h.y, so);
            expect_finite_path(fc::forecast_path(sel.best, h.y, 2 * m), h.name + "/auto");
        }
    }
}

TEST(models, multiplicative_refuses_non_positive_and_selection_falls_back) {
    auto y = seasonal_series(120, 12, 5);
    y[50] = 0.0;
    const auto why = fc::check_applicable(fc::models::hw_mul(12), y);
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find("positive"), std::string::npos) << *why;
    EXPECT_NE(why->find("51"), std::string::npos) << "names the point: " << *why;
    EXPECT_THROW((void)fc::fit(fc::models::hw_mul(12), y), fc::fit_error);

    fc::selection_options so;
    so.period = 12;
    so.candidates = {fc::models::hw_mul(12), fc::models::hw_add(12)};
    const auto sel = fc::select_model(y, so);
    EXPECT_EQ(sel.best.spec, fc::models::hw_add(12));
    ASSERT_EQ(sel.tried.size(), 2U);
    EXPECT_FALSE(sel.tried[0].ok);
    EXPECT_FALSE(sel.tried[0].reason.empty());

    // A fixed multiplicative learner on data with a zero falls back too.
    fc::learner_options lo;
    lo.model = fc::models::hw_mul(12);
    fc::series_learner l(lo);
    for (double v : y) (void)l.observe(v);
    EXPECT_TRUE(l.fitted());
    EXPECT_NE(l.model().season, fc::season_kind::multiplicative);
    EXPECT_TRUE(std::isfinite(l.current().mean));
}

TEST(models, too_short_for_the_period_is_refused) {
    const auto y = seasonal_series(30, 24, 6);
    const auto why = fc::check_applicable(fc::models::hw_add(24), y);
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find("49"), std::string::npos) << *why; // 2m + 1 points needed
    fc::selection_options so;
    so.period = 24;
    const auto sel = fc::select_model(y, so);
    EXPECT_NE(sel.best.spec.season, fc::season_kind::additive);
    EXPECT_NE(sel.best.spec.season, fc::season_kind::multiplicative);
    for (const auto& c : sel.tried)
        if (c.spec.season == fc::season_kind::additive || c.spec.season == fc::season_kind::multiplicative) {
            EXPECT_FALSE(c.ok);
        }
}

TEST(models, selection_prefers_season_on_seasonal_data_and_none_on_a_walk) {
    const auto y = seasonal_series(24 * 20, 24, 7);
    fc::selection_options so;
    so.period = 24;
    EXPECT_TRUE(fc::select_model(y, so).best.spec.seasonal());

    std::mt19937 rng(8);
    std::normal_distribution<double> step(0.0, 1.0);
    std::vector<double> walk(24 * 20);
    double x = 100.0;
    for (auto& v : walk) v = (x += step(rng));
    const auto sel = fc::select_model(walk, so);
    EXPECT_FALSE(sel.best.spec.seasonal()) << fc::model_name(sel.best.spec);
    so.by = fc::criterion::holdout;
    EXPECT_TRUE(fc::select_model(y, so).best.spec.seasonal());
}

// The online bank must be the batch filter, bit for bit, whatever the model
// and period (the pool layout sizes each series' season separately).
TEST(online_bank, matches_batch_filter_exactly) {
    for (std::uint32_t m : {2U, 12U, 288U, 2016U}) {
        const std::size_t n = 2 * m + 1 + 3 * m;
        const auto y = seasonal_series(n, m, 9 + m);
        const std::size_t split = 2 * m + 1 + m;
        fc::online_bank bank;
        std::vector<fc::fit_result> fits;
        std::vector<fc::model_spec> specs = all_models(m);
        for (const auto& spec : specs) {
            fc::fit_options fo;
            fo.max_evals = 60; // the parameters only need to be plausible here
            fits.push_back(fc::fit(spec, std::span<const double>(y).first(split), fo));
            (void)bank.add(spec, fits.back().par, fits.back().state);
        }
        std::vector<double> row(specs.size()), out(specs.size());
        for (std::size_t t = split; t < n; ++t) {
            std::fill(row.begin(), row.end(), t % 97 == 0 ? nan_v : y[t]);
            bank.update_all(row, out);
            for (std::size_t i = 0; i < specs.size(); ++i) {
                std::vector<double> one{row[i]};
                const double f = fc::point_forecast(specs[i], fits[i].par, fits[i].state, 1);
                (void)fc::run_filter(specs[i], fits[i].par, one, 0, fits[i].state);
                ASSERT_EQ(out[i], f) << fc::model_name(specs[i]) << " m=" << m << " t=" << t;
            }
        }
        for (std::size_t i = 0; i < specs.size(); ++i) {
            const auto st = bank.state(static_cast<fc::online_bank::id>(i));
            EXPECT_EQ(st.level, fits[i].state.level);
            EXPECT_EQ(st.trend, fits[i].state.trend);
            for (std::uint32_t h : {1U, 5U, m, m + 1, 3 * m})
                EXPECT_EQ(bank.forecast(static_cast<fc::online_bank::id>(i), h),
                          fc::point_forecast(specs[i], fits[i].par, fits[i].state, h))
                    << fc::model_name(specs[i]) << " m=" << m << " h=" << h;
        }
    }
}

TEST(online_bank, install_grows_season_without_disturbing_others) {
    const auto y12 = seasonal_series(100, 12, 10);
    const auto y48 = seasonal_series(400, 48, 11);
    fc::online_bank bank;
    const auto f12 = fc::fit(fc::models::hw_add(12), y12);
    const auto a = bank.add(fc::models::hw_add(12), f12.par, f12.state);
    const auto b = bank.add(fc::models::hw_add(12), f12.par, f12.state);
    const auto f48 = fc::fit(fc::models::hw_add(48), y48);
    bank.install(a, fc::models::hw_add(48), f48.par, f48.state);
    EXPECT_EQ(bank.slot(a).period, 48U);
    EXPECT_EQ(bank.forecast(a, 7), fc::point_forecast(fc::models::hw_add(48), f48.par, f48.state, 7));
    EXPECT_EQ(bank.forecast(b, 7), fc::point_forecast(fc::models::hw_add(12), f12.par, f12.state, 7));
}

TEST(online_bank, survives_hostile_input) {
    const auto y = seasonal_series(200, 12, 12);
    fc::online_bank bank;
    for (const auto& spec : all_models(12)) {
        const auto f = fc::fit(spec, y);
        (void)bank.add(spec, f.par, f.state);
    }
    const double hostile[] = {nan_v, 0.0, -1e300, 1e300, nan_v, std::numeric_limits<double>::infinity(), 5.0};
    for (double v : hostile) {
        std::vector<double> row(bank.size(), v);
        bank.update_all(row);
        for (std::size_t i = 0; i < bank.size(); ++i)
            for (std::uint32_t h : {1U, 12U, 100U})
                EXPECT_TRUE(std::isfinite(bank.forecast(static_cast<fc::online_bank::id>(i), h)))
                    << fc::model_name(fc::default_candidates(12)[i]) << " after " << v;
    }
}

TEST(learner, hostile_series_stay_finite) {
    for (const auto& h : hostile_series(12)) {
        fc::learner_options lo;
        lo.period = 12;
        lo.horizon = 3;
        fc::series_learner l(lo);
        for (double v : h.y) {
            const auto p = l.observe(v);
            if (!p.valid) continue;
            EXPECT_TRUE(std::isfinite(p.mean) && std::isfinite(p.lower) && std::isfinite(p.upper) &&
                        std::isfinite(p.capacity))
                << h.name;
            EXPECT_LE(p.lower, p.upper) << h.name;
        }
    }
}

// Fitting for the horizon you act on: the h-step fit must beat the one-step
// fit on the h-step loss (and vice versa), on a real R series.
TEST(fitting, h_step_loss_is_what_gets_minimised) {
    const auto t = fc_test::read_table(fc_test::data_path("r_series.csv"));
    const auto y = fc_test::series_values(t, "co2");
    ASSERT_GT(y.size(), 100U);
    const auto spec = fc::models::hw_add(12);
    const auto one = fc::fit(spec, y);
    fc::fit_options ho;
    ho.loss = fc::loss_kind::h_step_sse;
    ho.horizon = 12;
    const auto twelve = fc::fit(spec, y, ho);
    const auto sv = fc::initial_values(spec, y);
    const double l12_one = fc::run_loss_h(spec, one.par, y, sv.start, sv.state, 12).sse;
    const double l12_twelve = fc::run_loss_h(spec, twelve.par, y, sv.start, sv.state, 12).sse;
    EXPECT_LE(l12_twelve, l12_one);
    EXPECT_TRUE(fc_test::close(twelve.loss, l12_twelve, 1e-12));
    EXPECT_LE(one.sse, twelve.sse);
    EXPECT_FALSE(one.par == twelve.par);
}
