// Latency histograms for the generator's receive side. Pure (no DPDK): the
// quantile arithmetic is unit-tested without EAL.
//
// Log-linear buckets: a value below 2^B has a bucket of its own; above, each
// power of two is cut into 2^B equal buckets, so a bucket is at most 2^-B of
// its lower edge wide. quantile(q) is the nearest-rank quantile (the
// ceil(q·n)-th smallest sample) reported as the upper edge of its bucket,
// capped by the largest sample: never below the exact value, at most 2^-B of
// it above. max() is exact.
//
// Two sizes:
// - latency_histogram: B = 4 (within 6.25 %), 64-bit counts over every 64-bit
//   value, 7.6 KiB. One per engine (the totals), one per appliance snapshot.
// - client_latency_histogram: B = 3 (within 12.5 %), 32-bit counts that stop
//   at 2^32 − 1 instead of wrapping, values up to 2^36 ns (68.7 s; longer ones
//   land in the last bucket, which reports max()), 1.1 KiB: one per client,
//   so that 10 000 clients cost 11 MiB.
//
// Not thread-safe: one writer (the engine's control thread), readers on the
// same thread.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "shadownet/core/json.hpp"

namespace shadownet::gen {

template <unsigned SubBits, unsigned TopBits, typename Count>
class log_histogram {
    static_assert(SubBits >= 1 && SubBits < TopBits && TopBits <= 64);

public:
    static constexpr std::size_t sub = std::size_t{1} << SubBits;
    // Values below 2^TopBits have their bucket; larger ones share the last.
    static constexpr std::size_t buckets = (TopBits - SubBits + 1) * sub;

    static constexpr std::size_t bucket_of(std::uint64_t v) noexcept
    {
        if (v < sub)
            return static_cast<std::size_t>(v);
        const unsigned shift = static_cast<unsigned>(63 - std::countl_zero(v)) - SubBits;
        const std::size_t idx = (shift + 1) * sub + ((v >> shift) & (sub - 1));
        return std::min(idx, buckets - 1);
    }
    // The largest value bucket `idx` holds (the last bucket holds everything above).
    static constexpr std::uint64_t upper_edge(std::size_t idx) noexcept
    {
        if (idx < sub)
            return idx;
        if (idx == buckets - 1)
            return std::numeric_limits<std::uint64_t>::max();
        const std::size_t shift = idx / sub - 1;
        return ((sub + idx % sub + 1) << shift) - 1;
    }

    void add(std::uint64_t v) noexcept
    {
        Count& c = counts_[bucket_of(v)];
        if constexpr (sizeof(Count) < sizeof(std::uint64_t)) {
            if (c != std::numeric_limits<Count>::max())
                ++c;
        } else {
            ++c;
        }
        ++count_;
        max_ = std::max(max_, v);
    }

    void merge(const log_histogram& o) noexcept
    {
        for (std::size_t i = 0; i < buckets; ++i) {
            const std::uint64_t sum = std::uint64_t{counts_[i]} + o.counts_[i];
            counts_[i] = static_cast<Count>(std::min<std::uint64_t>(sum, std::numeric_limits<Count>::max()));
        }
        count_ += o.count_;
        max_ = std::max(max_, o.max_);
    }

    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
    [[nodiscard]] std::uint64_t max() const noexcept { return max_; }

    // The value below which a fraction q (0..1) of the samples fall; 0 when empty.
    [[nodiscard]] std::uint64_t quantile(double q) const noexcept
    {
        if (count_ == 0)
            return 0;
        const auto rank = std::max<std::uint64_t>(
            static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_))), 1);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets; ++i) {
            seen += counts_[i];
            if (seen >= rank)
                return std::min(upper_edge(i), max_);
        }
        return max_; // only when saturated counts no longer add up to count_
    }

private:
    std::array<Count, buckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
};

using latency_histogram = log_histogram<4, 64, std::uint64_t>;
using client_latency_histogram = log_histogram<3, 36, std::uint32_t>;

// "latency_ns": {"p50", "p90", "p99", "p99.9", "max"} as a member of the
// object being written: the one format of shadowgen's totals and clients[]
// and of the appliance's "traffic" section.
template <unsigned S, unsigned T, typename C>
void write_latency_json(json_writer& w, const log_histogram<S, T, C>& h)
{
    w.key("latency_ns").begin_object();
    w.member("p50", h.quantile(0.5));
    w.member("p90", h.quantile(0.9));
    w.member("p99", h.quantile(0.99));
    w.member("p99.9", h.quantile(0.999));
    w.member("max", h.max());
    w.end_object();
}

} // namespace shadownet::gen
