// Continuous learning on the real traces (skipped without them), whole
// traces, a few seconds in all; bench/forecast-eval.py prints the same
// figures as tables for docs/forecasting.md.
//  - one-step MAPE <= 4 % on the five-minute internet traces,
//  - p95 capacity and 95 % interval coverage within 95 +- 2 %,
//  - day-ahead error no worse than seasonal naive on the same points (1 %),
//    with day-ahead p95 capacity coverage within 95 +- 3 %,
//  - learner_group's parallel refits give the same answers as serial learners.
#include "shadownet/forecast/learner.hpp"
#include "shadownet/forecast/model.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace fc = shadownet::forecast;

namespace {

struct walk_result {
    fc::live_metrics m;
    std::vector<double> abs_err; // per point, NaN before warm-up
};

walk_result walk(const std::vector<double>& y, fc::learner_options lo) {
    fc::series_learner l(lo);
    walk_result r;
    r.abs_err.assign(y.size(), std::nan(""));
    for (std::size_t t = 0; t < y.size(); ++t) {
        const auto p = l.observe(y[t]);
        if (p.valid && std::isfinite(p.actual)) r.abs_err[t] = std::abs(p.actual - p.mean);
    }
    r.m = l.metrics();
    return r;
}

} // namespace

TEST(learning, one_step_accuracy_and_coverage_on_traces) {
    const auto dir = fc_test::traffic_dir();
    if (!dir) GTEST_SKIP() << "SHADOWNET_TRAFFIC_DIR not set or missing: trace checks skipped";
    struct c {
        const char* file;
        std::uint32_t m;
        double max_mape; // the 4 % on the five-minute internet traces
    };
    for (const auto& cs : {c{"inet_eu_5min.csv", 288, 4.0}, c{"inet_uk_5min.csv", 288, 4.0},
                           c{"inet_eu_hourly.csv", 24, 100.0}, c{"inet_uk_hourly.csv", 24, 100.0},
                           c{"google_cpu_5min.csv", 288, 100.0}, c{"google_mem_5min.csv", 288, 100.0}}) {
        const auto y = fc_test::read_trace(*dir, cs.file);
        fc::learner_options lo;
        lo.period = cs.m;
        const auto r = walk(y, lo);
        EXPECT_GT(r.m.n, y.size() - 4 * cs.m) << cs.file; // everything after warm-up
        EXPECT_LE(r.m.mape, cs.max_mape) << cs.file;
        EXPECT_NEAR(r.m.capacity_coverage, 0.95, 0.02) << cs.file;
        EXPECT_NEAR(r.m.coverage, 0.95, 0.02) << cs.file;
        EXPECT_GT(r.m.refits, 10U) << cs.file;
    }
}

TEST(learning, day_ahead_no_worse_than_seasonal_naive) {
    const auto dir = fc_test::traffic_dir();
    if (!dir) GTEST_SKIP() << "SHADOWNET_TRAFFIC_DIR not set or missing: trace checks skipped";
    struct c {
        const char* file;
        std::uint32_t m;
    };
    for (const auto& cs : {c{"inet_eu_5min.csv", 288}, c{"inet_uk_5min.csv", 288}, c{"inet_eu_hourly.csv", 24},
                           c{"inet_uk_hourly.csv", 24}, c{"google_cpu_5min.csv", 288}, c{"google_mem_5min.csv", 288}}) {
        const auto y = fc_test::read_trace(*dir, cs.file);
        fc::learner_options lo;
        lo.period = cs.m;
        lo.horizon = cs.m;
        const auto eng = walk(y, lo);
        // A day ahead, capacity coverage too: misses arrive a day late and
        // in bursts, so the bound is 95 +- 3 % here (+-2 % one step ahead).
        EXPECT_NEAR(eng.m.capacity_coverage, 0.95, 0.03) << cs.file << " day-ahead capacity coverage";
        lo.model = fc::models::snaive(cs.m);
        const auto sn = walk(y, lo);
        double a = 0, b = 0;
        std::size_t k = 0;
        for (std::size_t t = 0; t < y.size(); ++t)
            if (std::isfinite(eng.abs_err[t]) && std::isfinite(sn.abs_err[t])) {
                a += eng.abs_err[t];
                b += sn.abs_err[t];
                ++k;
            }
        ASSERT_GT(k, y.size() / 2) << cs.file;
        // Within 1 %: where seasonal naive is the best model the engine converges
        // to it (or to its equivalent), and only the warm-up days can differ.
        EXPECT_LE(a / b, 1.01) << cs.file << ": engine MAE / seasonal naive MAE over " << k << " points";
    }
}

TEST(learning, group_refits_in_parallel_match_serial_learners) {
    std::mt19937 rng(4);
    std::normal_distribution<double> noise(0.0, 1.0);
    const std::size_t n_series = 6, n = 24 * 12;
    std::vector<std::vector<double>> y(n_series, std::vector<double>(n));
    for (std::size_t i = 0; i < n_series; ++i)
        for (std::size_t t = 0; t < n; ++t)
            y[i][t] = 100 + static_cast<double>(i) * 10 +
                      (5 + static_cast<double>(i)) * std::sin(2 * M_PI * static_cast<double>(t % 24) / 24) + noise(rng);
    fc::learner_options lo;
    lo.period = 24;
    fc::learner_group g(n_series, lo, {}, 2);
    std::vector<fc::series_learner> serial(n_series, fc::series_learner(lo));
    std::vector<double> row(n_series);
    std::vector<fc::live_point> out(n_series);
    for (std::size_t t = 0; t < n; ++t) {
        for (std::size_t i = 0; i < n_series; ++i) row[i] = y[i][t];
        g.observe(row, out);
        for (std::size_t i = 0; i < n_series; ++i) {
            const auto p = serial[i].observe(y[i][t]);
            ASSERT_EQ(p.valid, out[i].valid);
            if (p.valid) {
                ASSERT_EQ(p.mean, out[i].mean) << "series " << i << " t " << t;
            }
        }
    }
    for (std::size_t i = 0; i < n_series; ++i) {
        EXPECT_GT(g.at(i).metrics().refits, 3U);
        EXPECT_EQ(g.at(i).metrics().refits, serial[i].metrics().refits);
        EXPECT_EQ(g.at(i).model(), serial[i].model());
    }
}

TEST(learning, a_new_capacity_quantile_moves_the_capacity_bound) {
    // Two learners on the same noisy series; one is told to aim at p99 half
    // way through. From its next forecast on its bound sits above the p95
    // one's, and over the rest of the series it covers more of the actuals.
    std::mt19937 rng(11);
    std::normal_distribution<double> noise(0.0, 5.0);
    fc::learner_options lo;
    lo.model = fc::models::damped();
    lo.capacity_q = 0.95;
    lo.residual_window = 200;
    fc::series_learner p95(lo), moved(lo);
    std::size_t covered95 = 0, covered99 = 0, scored = 0;
    for (std::size_t t = 0; t < 2000; ++t) {
        const double y = 100 + noise(rng);
        const auto a = p95.observe(y);
        const auto b = moved.observe(y);
        if (t == 1000) {
            moved.set_capacity_quantile(0.99);
            EXPECT_DOUBLE_EQ(moved.options().capacity_q, 0.99);
        }
        if (t > 1000 && a.valid && b.valid) {
            ++scored;
            covered95 += y <= a.capacity ? 1U : 0U;
            covered99 += y <= b.capacity ? 1U : 0U;
        }
        if (t > 1001) {
            ASSERT_GT(moved.current().capacity, p95.current().capacity) << "t " << t;
        }
    }
    ASSERT_GT(scored, 900U);
    EXPECT_NEAR(static_cast<double>(covered95) / static_cast<double>(scored), 0.95, 0.02);
    EXPECT_NEAR(static_cast<double>(covered99) / static_cast<double>(scored), 0.99, 0.01);
    EXPECT_THROW(moved.set_capacity_quantile(1.0), std::invalid_argument);
    EXPECT_THROW(moved.set_capacity_quantile(0.0), std::invalid_argument);
}
