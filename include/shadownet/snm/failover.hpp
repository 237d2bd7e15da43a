// Seamless failover: detecting a failed port and giving its egresses new
// roles (docs/resilience.md).
//
// The appliance samples every watched port each --failover-poll-us (its link
// status and the lcores' cumulative TX/RX counters) and feeds the samples
// here; this class decides, and the appliance stores what it decides into the
// fast path's egress table (dataplane/egress.hpp) with one word per egress.
//
// Detection. A port that was up fails when
// - its link goes down (drivers that report it: NICs, net_ring, memif), or
// - its TX queues stall: packets were refused (or taken and then counted as
//   TX errors by the driver) and none went out for `stall_s` (a peer that
//   stopped reading, a hung queue: the link says nothing), or
// - optionally (`rx_silence_s` > 0) it stopped receiving for that long while it
//   had been receiving at least `rx_silence_min_pps`.
// A port whose link has never been up since start (a memif port waiting for
// its peer) is not failed: it is not in service yet.
//
// Roles. Each egress (the port a pair forwards to) has a primary and a shadow
// physical port. When its primary fails, the shadow takes the primary's role
// and a spare port, if one is configured and up, becomes the new shadow;
// without a spare the new primary's own reserved shadow queues serve. When the
// shadow fails, a spare (or the primary's queues) replaces it. An egress with
// no usable port left is down: its packets are dropped as port_down.
// A failed port returns once it has been healthy for `holddown_s` (doubled for
// each failure within a minute of the last, up to 64x): it becomes the shadow
// of an egress that lost its own, or a spare; with `revert` it takes its
// primary role back through a planned (lossless) switchover.
//
// Pure C++ (no DPDK). Threads: the control lcore only.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace shadownet::snm {

struct failover_config {
    bool enabled = true;
    double stall_s = 0.001;            // refused and nothing taken this long: the queue does not drain
    std::uint64_t stall_min_refused = 4; // ... and at least this many refused (not one unlucky burst)
    double rx_silence_s = 0;           // 0: off
    double rx_silence_min_pps = 1000;  // only for a port that was receiving at least this
    double holddown_s = 1.0;           // healthy this long before a failed port returns
    bool revert = false;               // a returning primary takes its role back
};

// One egress as configured: the port a pair forwards to, and its shadow port
// (== port: the port's own reserved shadow queues).
struct egress_def {
    std::uint16_t port = 0;
    std::uint16_t shadow = 0;
};

// What the monitor sees of one port at one instant. Counters are cumulative.
struct port_sample {
    std::uint16_t port = 0;
    bool link_up = true;
    std::uint64_t tx_packets = 0;   // taken by its TX queues
    std::uint64_t tx_refused = 0;   // offered and not taken
    std::uint64_t tx_errors = 0;    // taken, then failed (the driver's oerrors)
    std::uint64_t rx_packets = 0;
    bool rx_expected = false;       // polled, and forwarding not paused
    bool faulted = false;           // an injected fault is on: it cannot count as healthy
    // When the appliance knows the fault began (an injected fault, an
    // operator's link-down): the failure event then says how long detection took.
    std::optional<double> fault_since;
};

enum class port_health : std::uint8_t { waiting, up, failed };
const char* name_of(port_health h) noexcept;

struct egress_view {
    std::uint16_t port = 0;          // the egress (its configured primary)
    std::uint16_t home_shadow = 0;   // its configured shadow
    std::uint16_t primary = 0;       // ports carrying it now
    std::uint16_t shadow = 0;
    std::uint16_t epoch = 0;         // + 1 per role change (dataplane::egress_role)
    bool down = false;               // no usable port: its packets are dropped as port_down
    std::uint64_t failovers = 0;
};

struct failover_port_view {
    std::uint16_t port = 0;
    port_health health = port_health::waiting;
    std::string reason;              // why it failed
    double since_s = 0;              // in this state since
    bool spare = false;              // held in reserve (not in any role)
    std::uint64_t failures = 0;
    double holddown_s = 0;           // what it must wait, healthy, before returning
};

struct failover_event {
    double t = 0;                    // seconds since start
    std::uint16_t port = 0;
    std::string what;                // port-failed, failover, shadow-replaced, egress-down, port-returned, switchover, ...
    std::string detail;
};

// A role the fast path must now use (dataplane::egress_role, by egress).
struct role_update {
    std::uint16_t egress = 0;
    std::uint16_t primary = 0;
    std::uint16_t shadow = 0;
    std::uint16_t epoch = 0;
};

// What changed in one call: roles to store, and the ports whose
// out-of-service state changed (true: out of service now).
struct failover_update {
    std::vector<role_update> roles;
    std::vector<std::pair<std::uint16_t, bool>> out_of_service;
    std::vector<failover_event> events;
    [[nodiscard]] bool empty() const noexcept { return roles.empty() && out_of_service.empty() && events.empty(); }
};

class failover {
public:
    // Throws std::invalid_argument for a spare that is also an egress or shadow.
    failover(failover_config cfg, std::vector<egress_def> egresses, std::vector<std::uint16_t> spares);

    // Every port worth sampling: egresses, shadows, spares.
    [[nodiscard]] const std::vector<std::uint16_t>& watched() const noexcept { return watched_; }
    // The initial roles (epoch 0), for the fast path before start.
    [[nodiscard]] std::vector<role_update> initial_roles() const;

    // One look at the ports (any subset of watched(); others are ignored).
    failover_update observe(double now, std::span<const port_sample> samples);
    // Declares a port failed now (as observe() would) — for operators and tests.
    failover_update fail(double now, std::uint16_t port, const std::string& reason);
    // Planned: the egress whose primary is `port` swaps primary and shadow,
    // drained by the fast path's switch protocol. Throws std::invalid_argument
    // naming the reason when it cannot (no such primary, no separate shadow,
    // the shadow is not up).
    failover_update switchover(double now, std::uint16_t port);
    // Adds an event of the appliance's own (an operator's fault injection, a
    // link set down) to the same log.
    void log(double now, std::uint16_t port, std::string what, std::string detail);

    [[nodiscard]] std::vector<egress_view> egresses() const;
    [[nodiscard]] std::vector<failover_port_view> ports() const;
    [[nodiscard]] const std::vector<failover_event>& events() const noexcept { return events_; }
    [[nodiscard]] const failover_config& config() const noexcept { return cfg_; }

private:
    struct port_state {
        std::uint16_t port = 0;
        port_health health = port_health::waiting;
        std::string reason;
        double since = 0;
        bool spare = false;
        std::uint64_t failures = 0;
        double last_failure = -1e9;
        double holddown = 0;
        std::optional<double> healthy_since;
        // Detection state.
        bool seen = false;
        std::uint64_t tx = 0, refused = 0, rx = 0, errors = 0;
        std::optional<double> stall_since;
        std::uint64_t refused_at_stall = 0;
        double last_rx_t = 0;
        double rx_rate = 0;  // smoothed packets/s
        double last_t = 0;
    };
    struct egress_state {
        egress_def def;
        std::uint16_t primary = 0, shadow = 0, epoch = 0;
        bool down = false;
        std::uint64_t failovers = 0;
    };

    port_state* find(std::uint16_t port) noexcept;
    [[nodiscard]] const port_state* find(std::uint16_t port) const noexcept;
    [[nodiscard]] bool usable(std::uint16_t port) const noexcept;
    std::optional<std::uint16_t> take_spare();
    void changed(egress_state& e, failover_update& u);
    void note(failover_update& u, double now, std::uint16_t port, std::string what, std::string detail);
    void mark_failed(double now, port_state& p, const std::string& reason, failover_update& u);
    void mark_returned(double now, port_state& p, failover_update& u);

    failover_config cfg_;
    std::vector<egress_state> egresses_;
    std::vector<port_state> ports_;
    std::vector<std::uint16_t> watched_;
    std::vector<failover_event> events_;
};

} // namespace shadownet::snm
