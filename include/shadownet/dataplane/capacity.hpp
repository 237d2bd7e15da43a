// Capacity on the data path: token buckets (rte_meter srTCM with no excess
// bucket, so a packet is either within the rate or dropped) that make a
// virtual port behave like a saturated link, and the per-client rate budgets
// the shadow manager reserves on the shadow path.
//
// Two kinds of limit, both enforced just before transmission:
// - primary capacity (per egress port, split evenly among the lcores that
//   transmit to it, because each lcore has its own TX queue): packets beyond
//   it are dropped as primary_over_capacity, exactly as a full link would;
// - shadow budget (per client, written by the control lcore every tick from
//   the client's forecast quantile): packets beyond it are dropped as
//   shadow_over_capacity, unless the shadow pool of their egress port lends
//   them tokens;
// - shadow pool (per physical egress port, written by the control lcore
//   every tick): the sum of the budgets of the clients on the shadow that
//   leave there. Every shadow packet draws on it; a client above its own
//   budget passes while the pool has tokens, i.e. while the others leave
//   part of theirs unused. The manager reserves the shadow's clients one
//   pooled margin (the quantile of their summed demand, docs/shadow-manager.md),
//   not a margin each, so a client's own budget is its share of that margin
//   and a burst above the share is what the pool is for. Where the shadow's
//   capacity is known (--shadow-capacity, with the scaler's grants) the
//   pool's rate is that capacity, never less than the sum of the budgets: a
//   client borrows what the shadow has spare, reserved or not (HTB's rate
//   and ceil, the ceil at the link's rate; dropping what an idle link could
//   carry is a loss no link makes). Where it is not, the reservations are
//   all that is known to fit: the pool is the sum of the budgets, and there
//   is none (no_shadow_pool) with fewer than two clients on the shadow.
//
// Ownership. Meters are lcore-private (the lcore is the only one to touch
// their tokens). The shadow budgets are shared: one 64-bit word per client,
// stored (relaxed) by the control lcore and loaded (relaxed) by forwarding
// lcores, which re-derive their private meter from it when it changes. A
// budget change is therefore seen at the lcore's next shadow packet for that
// client; nothing else is shared.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_meter.h>

namespace shadownet::dataplane {

// Packets per second and bits per second; 0 means unlimited.
struct rate_limit {
    double pps = 0;
    double bps = 0;
    [[nodiscard]] bool unlimited() const noexcept { return pps <= 0 && bps <= 0; }
    friend bool operator==(const rate_limit&, const rate_limit&) = default;
};

// One bucket for packets (metered with length 1) and one for bytes; 120
// bytes, so a client's shadow meter and its applied budget fill two lines.
class token_meter {
public:
    token_meter() = default;
    // Control plane, before the lcore runs (or by the owning lcore itself).
    // `burst_s`: how much of the rate the bucket holds, the link's buffer.
    // Returns false if DPDK refuses the parameters (never for sane rates).
    bool configure(const rate_limit& limit, double burst_s, unsigned min_burst_packets) noexcept;

    // Fast path: true when the packet is within the limit (its tokens taken).
    bool admit(std::uint64_t now_tsc, std::uint32_t bytes) noexcept
    {
        if (limit_pkts_ &&
            rte_meter_srtcm_color_blind_check(&pkts_, &pkts_profile_, now_tsc, 1) != RTE_COLOR_GREEN)
            return false;
        if (limit_bytes_ &&
            rte_meter_srtcm_color_blind_check(&bytes_, &bytes_profile_, now_tsc, bytes) != RTE_COLOR_GREEN)
            return false;
        return true;
    }
    [[nodiscard]] bool active() const noexcept { return limit_pkts_ || limit_bytes_; }

private:
    rte_meter_srtcm_profile pkts_profile_{};
    rte_meter_srtcm_profile bytes_profile_{};
    rte_meter_srtcm pkts_{};
    rte_meter_srtcm bytes_{};
    bool limit_pkts_ = false;
    bool limit_bytes_ = false;
};

// A client's shadow budget as one word: packets/s in the low half, kilobytes/s
// in the high half; all ones in a half means unlimited in that unit.
inline constexpr std::uint32_t budget_unlimited = 0xffffffffU;
inline constexpr std::uint64_t budget_word_unlimited = ~std::uint64_t{0};

constexpr std::uint64_t pack_budget(double pps, double bps) noexcept
{
    const auto half = [](double v) -> std::uint64_t {
        if (v < 0 || v >= static_cast<double>(budget_unlimited))
            return budget_unlimited;
        return static_cast<std::uint64_t>(v + 0.5);
    };
    return half(pps) | (half(bps < 0 ? -1 : bps / 8000.0) << 32);
}

constexpr rate_limit unpack_budget(std::uint64_t w) noexcept
{
    const auto pps = static_cast<std::uint32_t>(w);
    const auto kBps = static_cast<std::uint32_t>(w >> 32);
    // A budget of 0 is "nothing reserved": a tiny rate, not "unlimited".
    rate_limit r;
    r.pps = pps == budget_unlimited ? 0 : (pps == 0 ? 1e-3 : static_cast<double>(pps));
    r.bps = kBps == budget_unlimited ? 0 : (kBps == 0 ? 1e-3 : static_cast<double>(kBps) * 8000.0);
    return r;
}

// A pool word that lends nothing: the clients' own budgets only.
inline constexpr std::uint64_t no_shadow_pool = 0;

// Shared, one per client (or per port: a shadow pool): written by the control lcore only.
struct shadow_budget {
    std::atomic<std::uint64_t> word{budget_word_unlimited};
};

// Lcore-private: the meter derived from the budget word it last saw.
struct client_shadow_meter {
    token_meter meter;
    std::uint64_t applied = budget_word_unlimited;
};
static_assert(sizeof(client_shadow_meter) == 128);

} // namespace shadownet::dataplane
