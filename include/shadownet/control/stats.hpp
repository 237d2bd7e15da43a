// Snapshots of the fast path's counters, taken by the control lcore, and the
// reports made from them: the live progress line and the summary JSON.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shadownet/dataplane/counters.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/gen/builtin_traffic.hpp"

namespace shadownet::control {

struct port_snapshot {
    std::uint16_t id = 0;
    std::string name;
    std::uint64_t rx = 0, tx = 0, forwarded = 0, rx_bytes = 0, tx_bytes = 0;
    std::array<std::uint64_t, dataplane::drop_reason_count> drops{};
    dpdk::port_hw_stats hw;

    [[nodiscard]] std::uint64_t drops_total() const noexcept;
};

struct lcore_snapshot {
    unsigned id = 0;
    std::string role;
    std::uint64_t loops = 0, busy_cycles = 0, idle_cycles = 0, packets = 0;
};

struct stats_snapshot {
    std::chrono::steady_clock::time_point at;
    std::vector<port_snapshot> ports;
    std::vector<lcore_snapshot> lcores;
    std::optional<gen::traffic_totals> traffic;

    [[nodiscard]] std::uint64_t rx() const noexcept;
    [[nodiscard]] std::uint64_t tx() const noexcept;
    [[nodiscard]] std::array<std::uint64_t, dataplane::drop_reason_count> drops() const noexcept;
    [[nodiscard]] std::uint64_t drops_total() const noexcept;
};

// One line: per port rx/tx Mpps over the interval, drops in the interval.
std::string format_progress(const stats_snapshot& prev, const stats_snapshot& cur, double elapsed_s);

// The final counters for humans.
std::string format_final(const stats_snapshot& s, double elapsed_s);

// The summary document (schema in docs/architecture.md, "Summary JSON").
std::string summary_json(const stats_snapshot& s, double elapsed_s, std::uint64_t tsc_hz);

} // namespace shadownet::control
