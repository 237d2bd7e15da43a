// Per-lcore counters: the fast path's only shared state that the control core reads.
//
// Concurrency contract (as Open vSwitch's dpif-netdev does it):
// - each block has exactly one writer, the lcore it belongs to; it updates
//   with a relaxed load + relaxed store (no locked RMW: no other thread ever
//   writes the word);
// - readers (the control lcore) use relaxed loads; a snapshot may mix values
//   from adjacent bursts, which is fine for rates and exact at quiescence;
// - nothing is ever reset from another thread: "clear" copies the current
//   values into a baseline owned by the reader, and displays value - baseline.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

#include "shadownet/dataplane/drop_reason.hpp"

namespace shadownet::dataplane {

inline constexpr std::size_t max_ports = 32;

// Profiling builds (meson -Dstage_cycles=true) count the TSC cycles of each
// stage of a busy iteration, to show where a packet's cycles go
// (docs/benchmarks.md). Off by default: the laps cost an rdtsc each, a few
// cycles per packet at full bursts.
#ifndef SHADOWNET_STAGE_CYCLES
#define SHADOWNET_STAGE_CYCLES 0
#endif
inline constexpr bool stage_cycles_enabled = SHADOWNET_STAGE_CYCLES != 0;

// rx: rte_eth_rx_burst (or the hand-off ring's dequeue), the source's share;
// parse: parse_burst; classify: client keys, the client cache and the client
// table; account: per-client RX counters and the route of each packet;
// handoff: hand-off to pipeline workers; egress: the route-switch protocol
// and grouping by egress; tx: meters, tx_burst and TX counters.
enum class fp_stage : std::uint8_t { rx, parse, classify, account, handoff, egress, tx };
inline constexpr std::size_t fp_stage_count = 7;
inline constexpr std::array<const char*, fp_stage_count> fp_stage_names = {"rx",      "parse",  "classify", "account",
                                                                           "handoff", "egress", "tx"};

class relaxed_counter {
public:
    void add(std::uint64_t n) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void set(std::uint64_t n) noexcept { v_.store(n, std::memory_order_relaxed); } // gauges only
    [[nodiscard]] std::uint64_t read() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Stalls: gaps of 1 ms or more between the starts of an lcore's consecutive
// iterations, i.e. it was off its CPU (preempted by another thread, the
// hypervisor) while its RX queues filled. Bucket k counts gaps of
// [2^k, 2^(k+1)) ms; the last, 32 ms and more. What a stall costs is the
// burst the lcore finds on its return: a primary meter with a shallower
// bucket than the stall drops it (docs/shadow-manager.md).
inline constexpr std::size_t stall_buckets = 6;
inline constexpr std::array<const char*, stall_buckets> stall_bucket_names = {"1ms", "2ms", "4ms",
                                                                             "8ms", "16ms", "32ms"};

// The bucket of a stall of `gap` TSC cycles, `ms_cycles` a millisecond (gap >= ms_cycles).
constexpr std::size_t stall_bucket(std::uint64_t gap, std::uint64_t ms_cycles) noexcept
{
    return std::min<std::size_t>(static_cast<std::size_t>(std::bit_width(gap / ms_cycles)) - 1, stall_buckets - 1);
}

struct port_counters {
    relaxed_counter rx_packets; // received on this port
    relaxed_counter rx_bytes;
    relaxed_counter tx_packets; // transmitted on this port
    relaxed_counter tx_bytes;
    relaxed_counter forwarded;  // received on this port and transmitted (on any port)
    relaxed_counter tx_refused; // offered to this port's TX queues and not taken (counted as drops on their ingress port)
    std::array<relaxed_counter, drop_reason_count> drops; // received on this port and dropped
};

struct alignas(64) lcore_counters {
    relaxed_counter loops;
    relaxed_counter busy_cycles;     // TSC cycles in iterations that did packet work
    relaxed_counter idle_cycles;     // TSC cycles in empty polls
    relaxed_counter announced;       // unknown sources reported to the control lcore
    relaxed_counter announce_lost;   // ... that did not fit in the connect ring (re-announced later)
    relaxed_counter switches;        // route switches this lcore completed (after draining)
    relaxed_counter hold_overflow;   // packets sent on the old egress because the hold queue was full
    relaxed_counter held;            // gauge: packets in the hold queue now
    relaxed_counter handoff_rx;      // pipeline worker: packets taken from hand-off rings
    relaxed_counter cache_hits;      // client lookups answered by the lcore's client cache
    relaxed_counter cache_misses;    // ... that went on to the client table (IPv6 sources always do; all while the cache is off)
    std::array<relaxed_counter, fp_stage_count> stage_cycles; // by fp_stage; stay 0 unless stage_cycles_enabled
    std::array<relaxed_counter, stall_buckets> stalls;        // by length, see stall_buckets
    relaxed_counter max_stall_cycles;                         // gauge: the longest stall, TSC cycles
    std::array<port_counters, max_ports> port;
};

// One client as seen by one lcore: one cache line, read by the control lcore.
struct alignas(64) client_lcore_stats {
    relaxed_counter rx_packets;
    relaxed_counter rx_bytes;
    std::array<relaxed_counter, 2> tx_packets; // by path: primary, shadow
    std::array<relaxed_counter, 2> tx_bytes;
    relaxed_counter drops;
    relaxed_counter in_port; // gauge: 1 + the port the client's last packet came in on (0: none yet)
};
static_assert(sizeof(client_lcore_stats) == 64);

} // namespace shadownet::dataplane
