// The latency histograms' quantiles against the exact nearest-rank quantile
// of the same samples: never below it, at most one bucket width (2^-B of it)
// above, max exact, and the edges (empty, tiny values, the top bucket,
// merging) right.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "shadownet/core/json.hpp"
#include "shadownet/gen/latency.hpp"

using namespace shadownet;
using namespace shadownet::gen;

namespace {

// The ceil(q*n)-th smallest sample (q = 0 gives the smallest).
std::uint64_t exact_quantile(std::vector<std::uint64_t> v, double q)
{
    std::sort(v.begin(), v.end());
    const auto rank = std::max<std::size_t>(static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size()))), 1);
    return v[rank - 1];
}

template <typename H>
void expect_within_a_bucket(const H& h, const std::vector<std::uint64_t>& samples, double width)
{
    for (const double q : {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0}) {
        const auto want = exact_quantile(samples, q);
        const auto got = h.quantile(q);
        EXPECT_GE(got, want) << "q " << q;
        EXPECT_LE(static_cast<double>(got), static_cast<double>(want) * (1 + width)) << "q " << q;
    }
    EXPECT_EQ(h.max(), *std::max_element(samples.begin(), samples.end()));
    EXPECT_EQ(h.count(), samples.size());
}

} // namespace

TEST(latency_histogram, empty_reports_zero)
{
    const latency_histogram h;
    EXPECT_EQ(h.count(), 0U);
    EXPECT_EQ(h.quantile(0.5), 0U);
    EXPECT_EQ(h.quantile(1.0), 0U);
    EXPECT_EQ(h.max(), 0U);
    const client_latency_histogram c;
    EXPECT_EQ(c.quantile(0.99), 0U);
}

TEST(latency_histogram, small_values_are_exact)
{
    latency_histogram h;
    for (std::uint64_t v : {3U, 7U, 7U, 11U, 15U})
        h.add(v);
    EXPECT_EQ(h.quantile(0.0), 3U);
    EXPECT_EQ(h.quantile(0.2), 3U);
    EXPECT_EQ(h.quantile(0.4), 7U);
    EXPECT_EQ(h.quantile(0.5), 7U);
    EXPECT_EQ(h.quantile(0.8), 11U);
    EXPECT_EQ(h.quantile(1.0), 15U);
}

TEST(latency_histogram, one_to_a_thousand)
{
    latency_histogram h;
    client_latency_histogram c;
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = 1; i <= 1000; ++i) {
        h.add(i * 1000); // 1 µs .. 1 ms
        c.add(i * 1000);
        v.push_back(i * 1000);
    }
    // p50 is the 500th sample, 500 µs; p99.9 the 999th.
    EXPECT_GE(h.quantile(0.5), 500'000U);
    EXPECT_LE(h.quantile(0.5), 500'000U * 17 / 16);
    EXPECT_GE(c.quantile(0.5), 500'000U);
    EXPECT_LE(c.quantile(0.5), 500'000U * 9 / 8);
    EXPECT_GE(h.quantile(0.999), 999'000U);
    EXPECT_EQ(h.quantile(1.0), 1'000'000U); // the top sample: its bucket capped by max
    expect_within_a_bucket(h, v, 1.0 / 16);
    expect_within_a_bucket(c, v, 1.0 / 8);
}

TEST(latency_histogram, random_log_uniform_samples)
{
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> exponent(0, 33); // 1 ns .. ~8.6 s
    latency_histogram h;
    client_latency_histogram c;
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 20'000; ++i) {
        const auto ns = static_cast<std::uint64_t>(std::exp2(exponent(rng)));
        h.add(ns);
        c.add(ns);
        v.push_back(ns);
    }
    expect_within_a_bucket(h, v, 1.0 / 16);
    expect_within_a_bucket(c, v, 1.0 / 8);
}

TEST(latency_histogram, a_skewed_client)
{
    // 990 fast packets (~20 µs) and 10 held for 5 ms: p50 and p90 are fast,
    // p99.9 and max see the slow ones, p99 is the last fast one.
    client_latency_histogram c;
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 990; ++i)
        v.push_back(20'000 + static_cast<std::uint64_t>(i));
    for (int i = 0; i < 10; ++i)
        v.push_back(5'000'000 + static_cast<std::uint64_t>(i) * 1000);
    for (const auto x : v)
        c.add(x);
    EXPECT_LT(c.quantile(0.9), 25'000U);
    EXPECT_LT(c.quantile(0.99), 25'000U);
    EXPECT_GE(c.quantile(0.999), 5'000'000U);
    EXPECT_EQ(c.max(), 5'009'000U);
    expect_within_a_bucket(c, v, 1.0 / 8);
}

TEST(latency_histogram, past_the_top_reports_max)
{
    // The client histogram's buckets end at 2^36 ns; a longer sample lands in
    // the last bucket, which must not report less than the sample.
    client_latency_histogram c;
    c.add(1000);
    c.add(100'000'000'000ULL); // 100 s
    EXPECT_EQ(c.quantile(1.0), 100'000'000'000ULL);
    EXPECT_EQ(c.quantile(0.75), 100'000'000'000ULL);
    EXPECT_LE(c.quantile(0.5), 1000U * 9 / 8);
    EXPECT_EQ(client_latency_histogram::bucket_of(~0ULL), client_latency_histogram::buckets - 1);
    EXPECT_EQ(latency_histogram::bucket_of(~0ULL), latency_histogram::buckets - 1);
    latency_histogram h;
    h.add(~0ULL);
    EXPECT_EQ(h.quantile(0.5), ~0ULL);
}

TEST(latency_histogram, merge_adds_the_samples)
{
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::uint64_t> a(1000, 2000), b(1'000'000, 3'000'000);
    client_latency_histogram x, y;
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 500; ++i) {
        v.push_back(a(rng));
        x.add(v.back());
        v.push_back(b(rng));
        y.add(v.back());
    }
    x.merge(y);
    expect_within_a_bucket(x, v, 1.0 / 8);
}

TEST(latency_histogram, json_members)
{
    client_latency_histogram c;
    for (std::uint64_t i = 1; i <= 100; ++i)
        c.add(i * 10'000);
    json_writer w(false);
    w.begin_object();
    write_latency_json(w, c);
    w.end_object();
    const std::string& s = w.str();
    for (const char* key : {"\"latency_ns\"", "\"p50\"", "\"p90\"", "\"p99\"", "\"p99.9\"", "\"max\":1000000"})
        EXPECT_NE(s.find(key), std::string::npos) << key << " in " << s;
}

TEST(latency_histogram, sizes_stay_small)
{
    // Per client: thousands of clients must stay cheap (10 000 in about 11 MiB).
    EXPECT_LE(sizeof(client_latency_histogram), 1200U);
    EXPECT_LE(sizeof(latency_histogram), 8192U);
}
