// Forecast engine benchmarks (Google Benchmark), results in docs/benchmarks.md.
//
//   online_update/<model>/<m>/<series>: one tick of the online bank, reported
//     as ns per series-update (counter ns_per_update). The peer in the same run
//     is memory_floor: a plain read-modify-write of one 64-byte slot and one
//     season factor per series, the least any layout with this state could cost.
//   fit/<model>: parameter estimation on a five-minute trace slice (or a
//     synthetic stand-in when SHADOWNET_TRAFFIC_DIR is absent), fits per second.
#include "shadownet/forecast/csv.hpp"
#include "shadownet/forecast/fit.hpp"
#include "shadownet/forecast/online.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace fc = shadownet::forecast;

namespace {

std::vector<double> synthetic(std::size_t n, std::uint32_t m, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0.0, 3.0);
    std::vector<double> y(n);
    for (std::size_t t = 0; t < n; ++t)
        y[t] = 200.0 + 50.0 * std::sin(2.0 * M_PI * static_cast<double>(t % m) / m) + noise(rng);
    return y;
}

// Five-minute traffic: the real trace when available.
const std::vector<double>& trace_slice() {
    static const std::vector<double> y = [] {
        if (const char* dir = std::getenv("SHADOWNET_TRAFFIC_DIR")) {
            try {
                auto s = fc::read_series_csv_file(std::string(dir) + "/inet_eu_5min.csv");
                s[0].y.resize(std::min<std::size_t>(s[0].y.size(), 4032));
                return s[0].y;
            } catch (const std::exception&) {
            }
        }
        return synthetic(4032, 288, 1);
    }();
    return y;
}

fc::model_spec spec_by_index(int k, std::uint32_t m) {
    switch (k) {
    case 0: return fc::models::ses();
    case 1: return fc::models::holt();
    case 2: return fc::models::damped();
    case 3: return fc::models::hw_add(m);
    case 4: return fc::models::hw_mul(m);
    default: return fc::models::snaive(m);
    }
}

void online_update(benchmark::State& state) {
    const auto m = static_cast<std::uint32_t>(state.range(1));
    const auto spec = spec_by_index(static_cast<int>(state.range(0)), m);
    const auto n = static_cast<std::size_t>(state.range(2));
    state.SetLabel(fc::model_name(spec));
    // One fitted model, replicated with different phases so the season
    // accesses are not all in lock-step.
    const auto y = synthetic(3 * m + 50, m, 2);
    fc::fit_options fo;
    fo.max_evals = 50;
    const auto f = fc::fit(spec, y, fo);
    fc::online_bank bank;
    for (std::size_t i = 0; i < n; ++i) {
        fc::series_state st = f.state;
        if (!st.season.empty()) st.phase = static_cast<std::uint32_t>(i % st.season.size());
        (void)bank.add(spec, f.par, st);
    }
    constexpr std::size_t ticks = 8;
    std::vector<std::vector<double>> obs(ticks, std::vector<double>(n));
    std::mt19937 rng(3);
    std::normal_distribution<double> noise(200.0, 20.0);
    for (auto& row : obs)
        for (auto& v : row) v = std::abs(noise(rng)) + 1.0;
    std::size_t k = 0;
    for (auto _ : state) {
        bank.update_all(obs[k]);
        k = (k + 1) % ticks;
        benchmark::ClobberMemory();
    }
    state.counters["ns_per_update"] = benchmark::Counter(
        static_cast<double>(state.iterations()) * static_cast<double>(n),
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::OneK::kIs1000);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// Peer: touch the same memory, with the same prefetch, with the cheapest
// possible update.
void memory_floor(benchmark::State& state) {
    const auto m = static_cast<std::size_t>(state.range(0));
    const auto n = static_cast<std::size_t>(state.range(1));
    std::vector<fc::online_slot> slots(n);
    std::vector<double> pool(n * m, 1.0);
    for (std::size_t i = 0; i < n; ++i) {
        slots[i].season_offset = static_cast<std::uint32_t>(i * m);
        slots[i].period = static_cast<std::uint32_t>(m);
        slots[i].phase = static_cast<std::uint32_t>(i % m);
    }
    std::vector<double> y(n, 1.0);
    for (auto _ : state) {
        for (std::size_t i = 0; i < n; ++i) {
            if (i + 12 < n) __builtin_prefetch(&pool[slots[i + 12].season_offset + slots[i + 12].phase], 1);
            auto& s = slots[i];
            double& f = pool[s.season_offset + s.phase];
            s.level = 0.5 * s.level + 0.5 * (y[i] - f);
            f = 0.5 * f + 0.5 * y[i];
            s.phase = s.phase + 1 == s.period ? 0U : s.phase + 1;
        }
        benchmark::ClobberMemory();
    }
    state.counters["ns_per_update"] = benchmark::Counter(
        static_cast<double>(state.iterations()) * static_cast<double>(n),
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::OneK::kIs1000);
}

void fit_model(benchmark::State& state) {
    const auto spec = spec_by_index(static_cast<int>(state.range(0)), 288);
    state.SetLabel(fc::model_name(spec) + (std::getenv("SHADOWNET_TRAFFIC_DIR") ? " inet_eu_5min[0:4032]" : " synthetic"));
    const auto& y = trace_slice();
    double sse = 0.0;
    int evals = 0;
    for (auto _ : state) {
        const auto f = fc::fit(spec, y);
        sse = f.sse;
        evals = f.evals;
        benchmark::DoNotOptimize(sse);
    }
    state.counters["fits_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["evals"] = evals;
}

} // namespace

// Models: 0 ses, 1 holt, 2 damped, 3 hw-add, 4 hw-mul, 5 snaive.
BENCHMARK(online_update)
    ->ArgNames({"model", "m", "series"})
    ->Args({0, 288, 100000})
    ->Args({1, 288, 100000})
    ->Args({2, 288, 100000})
    ->Args({3, 288, 100000})
    ->Args({4, 288, 100000})
    ->Args({5, 288, 100000})
    ->Args({3, 24, 100000})
    ->Args({3, 2016, 20000})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(memory_floor)->ArgNames({"m", "series"})->Args({288, 100000})->Unit(benchmark::kMicrosecond);
BENCHMARK(fit_model)->ArgName("model")->DenseRange(0, 5)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
