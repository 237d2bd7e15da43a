// Continuous learning on the real traces (skipped without them), whole
// traces, a few seconds in all; bench/forecast-eval.py prints the same
// figures as tables for docs/forecasting.md.
//  - one-step MAPE <= 4 % on the five-minute internet traces,
//  - p95 capacity and 95 % interval coverage within 95 +- 2 %,
//  - day-ahead error no worse than seasonal naive on the same points (1 %),
//    with day-ahead p95 capacity coverage within 95 +- 3 %,
//  - learner_group's parallel refits give the same answers as serial learners,
//  - refits run in three steps through a refit_pool (background) give the
//    same learners as refit() at the same point; late outcomes are brought
//    up to date, stale and superseded ones discarded.
#include "shadownet/forecast/learner.hpp"
#include "shadownet/forecast/model.hpp"
#include "shadownet/forecast/refit_pool.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <random>
#include <thread>

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

TEST(learning, on_off_demand_keeps_its_capacity_bound_near_the_data) {
    // A client that alternates between 300 and 2 000 (±30 %) every eight
    // points, forecast ten steps ahead with a damped trend, as the shadow
    // manager does. The trend extrapolates each switch, and forecasts dip
    // toward zero; in units of such a forecast, relative errors were 10-50x
    // and the p95 bound averaged 17 000 with peaks of 146 000 — reservations
    // and predicted loads far beyond anything the client ever sent. Errors
    // in units of at least half the window's level keep the bound within a
    // few times the data and its coverage near 95 %.
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> jitter(0.7, 1.3);
    fc::learner_options lo;
    lo.model = fc::models::damped();
    lo.horizon = 10;
    lo.window = 300;
    lo.refit_every = 100;
    fc::series_learner l(lo);
    double cap_sum = 0, highest = 0;
    std::size_t scored = 0, covered = 0;
    for (std::size_t t = 0; t < 600; ++t) {
        const double y = ((t / 8) % 2 ? 2000.0 : 300.0) * jitter(rng);
        highest = std::max(highest, y);
        const auto p = l.observe(y);
        if (!p.valid)
            continue;
        ++scored;
        cap_sum += p.capacity;
        covered += y <= p.capacity ? 1U : 0U;
    }
    ASSERT_GT(scored, 500U);
    EXPECT_LT(cap_sum / static_cast<double>(scored), 3 * highest);
    EXPECT_GT(static_cast<double>(covered) / static_cast<double>(scored), 0.9);
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

namespace {

// n_series seasonal series with noise, one row per time step.
std::vector<std::vector<double>> seasonal_series(std::size_t n_series, std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::vector<std::vector<double>> y(n_series, std::vector<double>(n));
    for (std::size_t i = 0; i < n_series; ++i)
        for (std::size_t t = 0; t < n; ++t)
            y[i][t] = 100 + static_cast<double>(i) * 10 +
                      (5 + static_cast<double>(i)) * std::sin(2 * M_PI * static_cast<double>(t % 24) / 24) + noise(rng);
    return y;
}

void expect_same_point(const fc::live_point& a, const fc::live_point& b, const std::string& where) {
    ASSERT_EQ(a.valid, b.valid) << where;
    if (!a.valid) return;
    ASSERT_EQ(a.mean, b.mean) << where;
    ASSERT_EQ(a.lower, b.lower) << where;
    ASSERT_EQ(a.upper, b.upper) << where;
    ASSERT_EQ(a.capacity, b.capacity) << where;
}

void pool_matches_serial(const fc::learner_options& lo, std::size_t n_series, std::size_t n) {
    const auto y = seasonal_series(n_series, n, 5);
    fc::learner_options deferred = lo;
    deferred.defer_refits = true;
    std::vector<fc::series_learner> serial(n_series, fc::series_learner(lo));
    std::vector<fc::series_learner> pooled(n_series, fc::series_learner(deferred));
    fc::refit_pool pool({}, 2);
    std::size_t submitted = 0;
    for (std::size_t t = 0; t < n; ++t) {
        for (std::size_t i = 0; i < n_series; ++i) {
            const auto a = serial[i].observe(y[i][t]);
            const auto b = pooled[i].observe(y[i][t]);
            expect_same_point(a, b, "series " + std::to_string(i) + " t " + std::to_string(t));
            if (pooled[i].refit_due()) {
                pool.submit(i, pooled[i].take_refit());
                ++submitted;
            }
        }
        // Applied at the point they were taken, whatever order they finish in.
        pool.wait_idle();
        auto done = pool.take_finished();
        std::reverse(done.begin(), done.end());
        for (auto& f : done) ASSERT_TRUE(pooled[f.tag].apply_refit(std::move(f.outcome)));
        for (std::size_t i = 0; i < n_series; ++i)
            expect_same_point(serial[i].current(), pooled[i].current(), "current, t " + std::to_string(t));
    }
    EXPECT_GT(submitted, 3 * n_series);
    for (std::size_t i = 0; i < n_series; ++i) {
        EXPECT_EQ(pooled[i].metrics().refits, serial[i].metrics().refits);
        EXPECT_EQ(pooled[i].metrics().switches, serial[i].metrics().switches);
        EXPECT_EQ(pooled[i].model(), serial[i].model());
        EXPECT_EQ(pooled[i].parameters().alpha, serial[i].parameters().alpha);
        EXPECT_EQ(pooled[i].parameters().beta, serial[i].parameters().beta);
        EXPECT_EQ(pooled[i].parameters().gamma, serial[i].parameters().gamma);
        EXPECT_EQ(pooled[i].parameters().phi, serial[i].parameters().phi);
    }
}

} // namespace

TEST(learning, pool_refits_applied_where_taken_match_serial_learners_auto) {
    fc::learner_options lo;
    lo.period = 24;
    pool_matches_serial(lo, 5, 24 * 12);
}

TEST(learning, pool_refits_applied_where_taken_match_serial_learners_fixed_model) {
    // The shadow manager's configuration: a damped trend, h > 1.
    fc::learner_options lo;
    lo.model = fc::models::damped();
    lo.horizon = 10;
    lo.warmup = 10;
    lo.window = 300;
    lo.refit_every = 100;
    lo.residual_window = 50;
    pool_matches_serial(lo, 4, 800);
}

TEST(learning, a_late_refit_outcome_is_brought_up_to_date) {
    // A refits inline at the point it is due; B takes the same job there but
    // gets its outcome `lag` points later. Once applied, B has A's model and
    // parameters, its state replayed over the lag, and issues A's forecast.
    const auto y = seasonal_series(1, 24 * 14, 9)[0];
    fc::learner_options lo;
    lo.model = fc::models::hw_add(24);
    lo.period = 24;
    lo.defer_refits = true;
    fc::series_learner a(lo), b(lo);
    const std::size_t lag = 7;
    std::size_t t = 0, late = 0;
    while (t < y.size()) {
        a.observe(y[t]);
        b.observe(y[t]);
        ++t;
        if (!a.refit_due()) continue;
        if (t + lag >= y.size()) break;
        const fc::params before = a.parameters();
        a.refit();
        auto job = b.take_refit();
        EXPECT_FALSE(b.refit_due()) << "waiting for its job";
        for (std::size_t k = 0; k < lag; ++k, ++t) {
            a.observe(y[t]);
            b.observe(y[t]);
        }
        ASSERT_TRUE(b.apply_refit(fc::series_learner::run_refit(std::move(job))));
        ++late;
        EXPECT_EQ(a.model(), b.model());
        EXPECT_EQ(a.parameters().alpha, b.parameters().alpha);
        EXPECT_EQ(a.parameters().beta, b.parameters().beta);
        EXPECT_EQ(a.parameters().gamma, b.parameters().gamma);
        EXPECT_NE(before.alpha + before.beta + before.gamma, a.parameters().alpha + a.parameters().beta + a.parameters().gamma)
            << "the refit must have changed something for this test to mean anything";
        ASSERT_EQ(a.current().mean, b.current().mean) << "t " << t;
        // Due again when A is: refit_every points after the job was taken.
        EXPECT_EQ(a.refit_due(), b.refit_due());
    }
    EXPECT_GE(late, 5U);
    EXPECT_EQ(a.metrics().refits, b.metrics().refits);
}

TEST(learning, stale_superseded_and_foreign_refit_outcomes_are_discarded) {
    const auto y = seasonal_series(2, 24 * 8, 3);
    fc::learner_options lo;
    lo.model = fc::models::holt();
    lo.refit_every = 20;
    lo.defer_refits = true;
    fc::series_learner l(lo), other(lo);
    std::size_t t = 0;
    while (!l.refit_due()) {
        l.observe(y[0][t]);
        other.observe(y[1][t]);
        ++t;
    }
    ASSERT_TRUE(other.refit_due());
    const auto refits = l.metrics().refits;
    const fc::live_point before = l.current();
    // Stale: refit_every points came meanwhile. Discarded, and due again.
    auto job = l.take_refit();
    for (std::size_t k = 0; k < lo.refit_every; ++k) l.observe(y[0][t + k]);
    EXPECT_FALSE(l.refit_due());
    EXPECT_FALSE(l.apply_refit(fc::series_learner::run_refit(std::move(job))));
    EXPECT_TRUE(l.refit_due());
    EXPECT_EQ(l.metrics().refits, refits);
    // Superseded: a newer job (or refit()) was taken since.
    auto first = l.take_refit();
    auto second = l.take_refit();
    EXPECT_FALSE(l.apply_refit(fc::series_learner::run_refit(std::move(first))));
    EXPECT_FALSE(l.refit_due()) << "still waiting for the second";
    // Another learner's outcome.
    EXPECT_FALSE(l.apply_refit(fc::series_learner::run_refit(other.take_refit())));
    EXPECT_TRUE(l.apply_refit(fc::series_learner::run_refit(std::move(second))));
    EXPECT_EQ(l.metrics().refits, refits + 1);
    EXPECT_FALSE(l.refit_due());
    // A job that failed changes nothing but makes the learner due again.
    l.observe(before.mean);
    for (std::size_t k = 0; k < lo.refit_every; ++k) l.observe(y[0][k]);
    ASSERT_TRUE(l.refit_due());
    auto failed = fc::series_learner::run_refit(l.take_refit());
    failed.failed = true;
    EXPECT_FALSE(l.apply_refit(std::move(failed)));
    EXPECT_TRUE(l.refit_due());
}

TEST(learning, pool_jobs_outlive_their_learners) {
    const auto y = seasonal_series(8, 24 * 6, 2);
    fc::learner_options lo;
    lo.period = 24;
    lo.defer_refits = true;
    fc::refit_pool pool({}, 2);
    std::vector<std::uint64_t> ids;
    {
        std::vector<std::unique_ptr<fc::series_learner>> ls;
        for (std::size_t i = 0; i < y.size(); ++i) {
            ls.push_back(std::make_unique<fc::series_learner>(lo));
            for (const double v : y[i]) ls.back()->observe(v);
            ASSERT_TRUE(ls.back()->refit_due());
            auto job = ls.back()->take_refit();
            ids.push_back(job.id);
            pool.submit(i, std::move(job));
        }
        // The learners go while their jobs run.
    }
    EXPECT_LE(pool.in_flight(), y.size());
    pool.wait_idle();
    EXPECT_EQ(pool.in_flight(), y.size());
    const auto done = pool.take_finished();
    ASSERT_EQ(done.size(), y.size());
    for (const auto& f : done) {
        EXPECT_EQ(f.outcome.id, ids.at(f.tag));
        EXPECT_FALSE(f.outcome.failed);
        EXPECT_TRUE(f.outcome.install.has_value());
    }
    EXPECT_EQ(pool.in_flight(), 0U);
    EXPECT_TRUE(pool.take_finished().empty());
}

TEST(learning, pool_threads_are_pinned_to_the_cpuset) {
    // On a thread of its own: the caller joining the arena is pinned too.
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof(allowed), &allowed), 0);
    int cpu = -1;
    for (int c = CPU_SETSIZE - 1; c >= 0; --c)
        if (CPU_ISSET(c, &allowed)) cpu = c;
    ASSERT_GE(cpu, 0);
    std::atomic<int> wrong{0}, ran{0};
    std::thread th([&] {
        fc::refit_pool pool({cpu}, 2);
        EXPECT_EQ(pool.concurrency(), 2);
        pool.parallel_for(64, [&](std::size_t) {
            cpu_set_t s;
            CPU_ZERO(&s);
            (void)pthread_getaffinity_np(pthread_self(), sizeof(s), &s);
            if (CPU_COUNT(&s) != 1 || !CPU_ISSET(cpu, &s)) ++wrong;
            ++ran;
        });
    });
    th.join();
    EXPECT_EQ(ran.load(), 64);
    EXPECT_EQ(wrong.load(), 0);
}
