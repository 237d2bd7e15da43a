// Snapshots of the fast path's counters, taken by the control lcore, and the
// reports made from them: the live progress line and the summary JSON.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shadownet/control/clients.hpp"
#include "shadownet/core/json.hpp"
#include "shadownet/dataplane/counters.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/gen/engine.hpp"
#include "shadownet/snm/failover.hpp"
#include "shadownet/snm/manager.hpp"
#include "shadownet/snm/scaler.hpp"

namespace shadownet::control {

struct port_snapshot {
    std::uint16_t id = 0;
    std::string name;
    std::uint64_t rx = 0, tx = 0, forwarded = 0, rx_bytes = 0, tx_bytes = 0;
    std::uint64_t tx_refused = 0; // offered to its TX queues and not taken (dropped, tx_full)
    std::array<std::uint64_t, dataplane::drop_reason_count> drops{};
    dpdk::port_hw_stats hw;

    [[nodiscard]] std::uint64_t drops_total() const noexcept;
};

struct lcore_snapshot {
    unsigned id = 0;
    std::string role;   // rtc, rx, worker; "+main" when the main lcore forwards
    std::uint64_t loops = 0, busy_cycles = 0, idle_cycles = 0;
    std::uint64_t packets = 0; // received (rtc, rx) or taken from hand-off rings (worker)
    std::uint64_t switches = 0, hold_overflow = 0, announced = 0, announce_lost = 0;
    std::uint64_t cache_hits = 0, cache_misses = 0; // client lookups: the lcore's client cache, the client table
    std::array<std::uint64_t, dataplane::fp_stage_count> stage_cycles{}; // profiling builds only (counters.hpp)
    std::array<std::uint64_t, dataplane::stall_buckets> stalls{};        // off-CPU gaps by length (counters.hpp)
    double max_stall_ms = 0;
    [[nodiscard]] std::uint64_t stalls_total() const noexcept;
};

struct client_snapshot {
    std::uint32_t id = 0;
    std::string key;
    std::string path;
    client_totals totals;
    std::optional<snm::client_view> shadow; // the manager: profile, forecast, reservation, route history
};

// The shadow network manager's state (docs/shadow-manager.md).
struct snm_snapshot {
    std::string policy;
    snm::scores scores;
    snm::manager::refit_counts refits; // the forecasts' background refits
    std::vector<snm::port_view> ports;
    std::vector<snm::port_scaling> scaling;
    std::vector<snm::scale_event> scale_events;
};

// Failover (docs/resilience.md): who carries each egress now, each watched
// port's health, and what happened.
struct failover_port_status {
    snm::failover_port_view health;
    std::string name;
    bool link_up = false;          // as the driver says now
    bool fault_injected = false;   // `port fail`: its queues take nothing
    bool link_set_down = false;    // `set link-down port`: down on the operator's word
    std::uint64_t wire_lost = 0;   // virtual ports: what their cut cable lost while the link was set down
    std::uint64_t queued_at_cut = 0; // ... of which was already queued in the cable when it was cut
    std::uint64_t tx_refused = 0;
};

// --failover bond: a bonding device and the member it transmits on.
struct bond_status {
    std::uint16_t device = 0;
    std::uint16_t primary = 0, backup = 0;
    int active = -1; // -1: no member up
};

struct failover_snapshot {
    std::string mode;              // shadownet, bond, off
    double poll_us = 0;            // configured
    double max_poll_gap_us = 0;    // measured: the longest time between two looks at the ports
    std::string monitor_priority;  // the monitor thread's scheduling: "real-time (SCHED_FIFO)" or "normal"
    std::vector<snm::egress_view> egresses;
    std::vector<failover_port_status> ports;
    std::vector<snm::failover_event> events; // oldest first
    std::vector<bond_status> bonds;
};

struct clients_snapshot {
    std::size_t count = 0;       // registered now
    std::size_t capacity = 0;
    std::size_t connects = 0;    // registered since start
    client_totals default_client; // unknown sources while registering, and overflow
    std::vector<client_snapshot> busiest; // by received packets, at most --summary-clients
};

// What the built-in traffic (the generator engine) measured.
struct traffic_snapshot {
    gen::engine_totals totals;
    gen::latency_histogram latency;
    double rate_pps = 0; // offered now
};

struct mempool_snapshot {
    std::string name;
    unsigned size = 0;
    unsigned in_use = 0;
    unsigned baseline = 0; // in use once the ports were started, before traffic
};

// The reserved shadow path: where it goes and who is on it (`show shadow`,
// /shadownet/shadow). Built by appliance::shadow() from the plan and the registry.
struct shadow_port_view {
    std::uint16_t port = 0;
    std::string name;
    std::uint16_t first_queue = 0; // reserved shadow TX queues: first_queue .. first_queue + queues - 1
    std::uint16_t queues = 0;      // 0: the device had no room, its shadow path shares the primary queues
    std::optional<std::uint16_t> shadow_port; // traffic leaving here takes this port on the shadow path
    bool transmit_only = false;               // a --shadow-ports target: not polled, not paired
    // The shadow manager's account of this port's shadow path (traffic leaving
    // here on the shadow): what it may carry, what is reserved of it for the
    // port's clients, what they asked for, and what its clients used in the
    // last tick. Zero where the manager has seen no client leave here.
    rate_spec capacity;      // 0 pps and 0 bits/s: unlimited
    double reserved_pps = 0, wanted_pps = 0, used_pps = 0;
    unsigned clients_on_shadow = 0;
};

struct shadow_view {
    std::uint16_t queues_per_lcore = 0; // --shadow-txq
    std::size_t tx_lcores = 0;
    std::vector<shadow_port_view> ports;
    std::vector<client_snapshot> clients; // routed to the shadow path now, in id order
};

// One client in full (`show client`). Later issues add profile and forecast.
struct client_detail {
    client_snapshot summary;
    double created_s = 0, last_active_s = 0; // seconds since start
    std::uint64_t route_changes = 0;
    std::uint16_t route_epoch = 0;
    std::size_t samples = 0;              // in the history
    std::optional<client_sample> last_sample;
};

struct stats_snapshot {
    std::chrono::steady_clock::time_point at;
    std::vector<port_snapshot> ports;
    std::vector<lcore_snapshot> lcores;
    std::optional<traffic_snapshot> traffic;
    clients_snapshot clients;
    std::vector<mempool_snapshot> mempools;
    std::vector<std::pair<std::string, unsigned>> rings; // hand-off rings: name, packets waiting
    std::optional<snm_snapshot> manager;
    shadow_view shadow;
    std::optional<failover_snapshot> failover;

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

// The manager's JSON, shared by the summary, the console and telemetry:
// a client's `snm` member (profile, forecast, reservation, routes), and the
// manager's own (policy, scores, per port).
void write_snm_client(json_writer& w, const snm::client_view& v);
void write_snm(json_writer& w, const snm_snapshot& s);
const char* policy_name(snm_policy p) noexcept;
// A "failover" member: roles, port health, events (summary, console, telemetry).
void write_failover(json_writer& w, const failover_snapshot& s);

} // namespace shadownet::control
