// The shadow network manager: per-client profiles and forecasts, shadow
// reservations, and the rule that moves clients between their primary and
// shadow paths (docs/shadow-manager.md).
//
// Pure C++ (no DPDK): the appliance feeds it one observation per client and
// tick and applies what it decides through its own actions (set_client_route,
// set_shadow_budget). Unit-tested without EAL.
//
// Threads: one object, used by the control lcore only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shadownet/core/config.hpp"
#include "shadownet/dataplane/route.hpp"
#include "shadownet/forecast/learner.hpp"

namespace shadownet::forecast {
class refit_pool;
}

namespace shadownet::snm {

using dataplane::path;

// The surge tracker: Holt's linear trend with fixed, fast parameters. The
// learned model's parameters are fitted to a client's ordinary life and
// smooth a sudden ramp away for several ticks; this one follows a ramp within
// two or three ticks, and only its upward extrapolation is used
// (docs/shadow-manager.md, "Predict"). Control lcore only.
inline constexpr double tracker_alpha = 0.5;
inline constexpr double tracker_beta = 0.3;
inline constexpr double tracker_noise_factor = 3;

struct trend_tracker {
    double level = 0, trend = 0;
    double dev = 0; // smoothed |one-step error|: the series' own noise
    bool started = false;
    // The last sample stood above the level it found: a ramp still climbing.
    // Once a surge tops out the trend lingers for several ticks (beta 0.3
    // lets go of it slowly) although the demand has stopped growing.
    bool rising = false;
    void update(double y) noexcept
    {
        if (!started) {
            level = y;
            started = true;
            return;
        }
        dev = 0.9 * dev + 0.1 * std::abs(y - (level + trend));
        rising = y > level;
        const double prev = level;
        level = tracker_alpha * y + (1 - tracker_alpha) * (level + trend);
        trend = tracker_beta * (level - prev) + (1 - tracker_beta) * trend;
    }
    // The next `h` ticks' upper bound at normal quantile z: what a client on
    // the shadow needs until its reservation is resized next tick, as its
    // expected demand (near_mean) plus a margin (near_margin). The trend
    // counts only while the series is still rising, and only when a tick's
    // growth stands above the tick-to-tick noise: at the top of a surge the
    // leftover trend would reserve for growth that has stopped, and on a
    // steady noisy series the trend is the noise (positive half the time,
    // and the margin already covers it). The mean absolute error is 0.8
    // sigma for normal errors.
    [[nodiscard]] double near_mean(std::uint32_t h) const noexcept
    {
        const bool ramp = rising && trend > dev;
        return std::max(0.0, level + (ramp ? static_cast<double>(h) * trend : 0.0));
    }
    [[nodiscard]] double near_margin(double z) const noexcept { return std::max(0.0, z * 1.25 * dev); }
    [[nodiscard]] double near_upper(std::uint32_t h, double z) const noexcept
    {
        return near_mean(h) + near_margin(z);
    }
    // Only the part of an upward extrapolation that stands out of the noise:
    // on a steady noisy series the trend wanders, and summed over many
    // clients a raw extrapolation would add up to a phantom surge.
    [[nodiscard]] double ahead(std::uint32_t h) const noexcept
    {
        const double rise = static_cast<double>(h) * std::max(0.0, trend) - tracker_noise_factor * dev;
        return std::max(0.0, level + std::max(0.0, rise));
    }
};

// Flap damping, as BGP damps routes: each return from the shadow adds one
// to a client's penalty, which halves every `half_life` seconds; its next
// return waits min_interval x 2^(the penalty, rounded; at most
// max_doublings). A client back within a half-life of its last return waits
// twice as long, and so on; on a noisy series the primary's predicted load
// crosses the watermarks with the noise, and without it a client went out
// and back every few seconds.
struct flap_damping {
    static constexpr int max_doublings = 4;
    double penalty = 0, at_s = 0;
    [[nodiscard]] double now(double t_s, double half_life_s) const noexcept
    {
        return penalty * std::exp2(-(t_s - at_s) / half_life_s);
    }
    void returned(double t_s, double half_life_s) noexcept
    {
        penalty = now(t_s, half_life_s) + 1;
        at_s = t_s;
    }
    [[nodiscard]] double wait(double t_s, double half_life_s, double min_interval_s) const noexcept
    {
        const auto doublings = std::min<long>(max_doublings, std::lround(now(t_s, half_life_s)));
        return min_interval_s * std::exp2(static_cast<double>(doublings));
    }
};

// What the fast path saw of one client in one tick.
struct observation {
    std::uint32_t id = 0;
    std::uint16_t egress = 0;   // the primary egress port its traffic leaves on
    double pps = 0;             // offered: packets received from the client per second
    double bps = 0;
    double primary_drop_pps = 0; // dropped over the primary's capacity
    double shadow_drop_pps = 0;  // dropped over the client's reservation
    double shadow_tx_pps = 0;    // sent on its shadow path
};

enum class client_class : std::uint8_t { learning, steady, bursty, periodic, suspicious };
const char* name_of(client_class c) noexcept;

// What the first window of a client's life showed (docs/shadow-manager.md).
struct profile {
    client_class kind = client_class::learning;
    double observed_s = 0;
    double mean_pps = 0, peak_pps = 0, p95_pps = 0;
    double mean_bps = 0, peak_bps = 0;
    double cv = 0;              // coefficient of variation of pps (burstiness)
    double mean_packet_bytes = 0;
};

struct prediction {
    bool valid = false;
    double mean_pps = 0, upper_pps = 0; // at the horizon; upper = the configured quantile
    double mean_bps = 0, upper_bps = 0;
};

struct reservation {
    double pps = 0, bps = 0;     // granted on the shadow path
    double wanted_pps = 0;       // what the forecast asked for
};

struct route_event {
    double t = 0;
    path via = path::primary;
    std::string reason;
};

struct client_view {
    std::uint32_t id = 0;
    std::string key;
    path via = path::primary;
    int priority = 0; // set_priority: higher is reserved shadow capacity first
    profile prof;
    prediction pred;
    reservation res;
    double last_pps = 0;
    double shadow_used_pps = 0; // what it sent on its shadow path in the last tick
    std::vector<route_event> history; // newest last, bounded
};

// The manager's score of itself (issue: learning from outcomes).
struct scores {
    std::uint64_t switches_to_shadow = 0, returns = 0;
    std::uint64_t needed = 0;           // a switch after which the primary would have been over capacity
    std::uint64_t unneeded = 0;         // a switch whose client returned without that happening
    double lead_time_sum_s = 0;         // needed switches: how long before the primary would have overflowed
    std::uint64_t unforeseen_loss_ticks = 0; // ticks with primary drops the manager learns from (score_tick)
    double unforeseen_loss_packets = 0;
    std::uint64_t stall_loss_ticks = 0; // ticks with primary drops below capacity while the fast path stalled
    double stall_loss_packets = 0;      // ... not the demand's: not learned from
    double peak_shadow_used_pps = 0;    // the most the shadow path carried in one tick
    double reserved_at_peak_pps = 0;    // reservations of the clients on the shadow at that tick
    std::uint64_t overcommit_ticks = 0; // ticks where reservations exceeded the shadow's capacity
    double high_watermark = 0;          // current, after adaptation
    double low_watermark = 0;
    double quantile = 0;                // the demand quantile forecasts and reservations use now, after adaptation
    std::uint64_t quantile_raises = 0;  // adaptations: after unforeseen losses
    std::uint64_t quantile_cuts = 0;    // ... after a run of unneeded switches with reservations far above use
    [[nodiscard]] double mean_lead_s() const noexcept { return needed ? lead_time_sum_s / double(needed) : 0; }
};

struct port_view {
    std::uint16_t port = 0;
    rate_spec primary_capacity, shadow_capacity;
    double measured_pps = 0, predicted_pps = 0; // primary load of the clients on it
    double measured_bps = 0;
    double shadow_used_pps = 0, shadow_reserved_pps = 0, shadow_wanted_pps = 0;
    unsigned clients_on_shadow = 0;
    bool constrained = false;
};

// A change the appliance must make.
struct action {
    // route: one client's path; budget: its shadow reservation; newcomers:
    // the path of sources the fast path does not know yet (id unused).
    enum class kind : std::uint8_t { route, budget, newcomers } what = kind::route;
    std::uint32_t id = 0;
    path via = path::primary;
    rate_spec budget;
    std::string reason;
};

// Where the forecast refits run (refit_some, docs/shadow-manager.md).
struct refit_setup {
    std::vector<int> cpus; // the control cpuset (the main lcore's CPUs); empty: not pinned
    // true (the appliance): a tick never waits for a refit, outcomes are
    // applied at the first tick after they finish. false (simulations,
    // tests): a tick first waits for the refits taken at the previous one,
    // so every outcome is applied one tick after it was taken, exactly
    // as a serial refit at the end of that tick: deterministic.
    bool background = false;
};

class manager {
public:
    using capacity_fn = std::function<rate_spec(std::uint16_t port)>;
    manager(const snm_config& cfg, double tick_s, capacity_fn primary, capacity_fn shadow, refit_setup refits = {});
    ~manager();
    manager(const manager&) = delete;
    manager& operator=(const manager&) = delete;

    // What history knows of a returning client (the history store's, read by
    // the appliance): its profile, and its recent per-tick demand, oldest
    // first, to warm-start its forecasts.
    struct warm_start {
        std::optional<profile> prof;
        std::vector<double> pps, bps;
    };
    void client_added(std::uint32_t id, std::string key, double now_s, const warm_start* history = nullptr);
    void client_removed(std::uint32_t id);

    // One tick: feeds the forecasts, sizes reservations, decides routes.
    // Returns what the appliance must apply (budgets before routes).
    // fast_path_stalled: a forwarding lcore was off its CPU this tick for
    // long enough to overflow a primary's bucket with the backlog it found
    // on its return (4 ms and more: see score_tick).
    std::vector<action> tick(double now_s, std::span<const observation> obs, bool fast_path_stalled = false);

    // The operator's override (console `set client <id> route`): the manager
    // keeps it until the next decision of its own for that client.
    void note_route(std::uint32_t id, path via, double now_s, const std::string& reason);

    // A client's priority (default 0): when the shadow cannot hold every
    // reservation, higher priorities are served first (docs/shadow-manager.md,
    // "Reserve"). Takes effect at the next tick. False for an unknown client.
    bool set_priority(std::uint32_t id, int priority);

    void set_policy(snm_policy p) noexcept { cfg_.policy = p; }
    [[nodiscard]] snm_policy policy() const noexcept { return cfg_.policy; }
    [[nodiscard]] std::optional<client_view> client(std::uint32_t id) const;
    [[nodiscard]] std::vector<port_view> ports() const;
    [[nodiscard]] const scores& score() const noexcept { return scores_; }
    [[nodiscard]] const snm_config& config() const noexcept { return cfg_; }
    [[nodiscard]] std::size_t size() const noexcept;
    // Profiles built since the last call (to persist), by client id.
    [[nodiscard]] std::vector<std::pair<std::uint32_t, profile>> take_new_profiles();

    // Forecast refits (refit_some): jobs handed to the background pool, their
    // outcomes applied or discarded (stale, or the client gone), and in flight.
    struct refit_counts {
        std::uint64_t submitted = 0, applied = 0, discarded = 0;
        std::size_t in_flight = 0;
    };
    [[nodiscard]] refit_counts refits() const;
    // Blocks until every refit in flight has finished (tests); the outcomes
    // are applied at the next tick as usual.
    void wait_refits();

private:
    struct client_state;
    struct pending_switch;
    void observe(client_state& c, const observation& o, double now_s);
    void update_profile(client_state& c, const observation& o, double now_s);
    void decide_port(std::uint16_t port, double now_s, std::vector<action>& out);
    void reserve_port(std::uint16_t port, std::vector<action>& out);
    void score_tick(double now_s, bool fast_path_stalled);
    void judged(bool needed);
    void adapt(double now_s);
    void set_quantile(double q);
    void refit_some();
    void apply_refits();
    void switch_client(client_state& c, path via, double now_s, std::string reason, std::vector<action>& out);
    [[nodiscard]] double flap_half_life_s() const noexcept;

    snm_config cfg_;
    double tick_s_;
    std::uint32_t horizon_ticks_;
    std::uint32_t sustain_ticks_;
    // A client comes back only after the primary with it has been calm for a
    // horizon (or --sustain, if longer): leaving early costs packets, staying
    // a second longer only reservation, and on a noisy series the calm of a
    // single tick is the noise.
    std::uint32_t return_ticks_;
    capacity_fn primary_cap_, shadow_cap_;
    std::map<std::uint32_t, std::unique_ptr<client_state>> clients_;
    std::map<std::uint16_t, port_view> ports_;
    std::map<std::uint16_t, std::uint32_t> constrained_for_; // ticks in a row
    std::vector<pending_switch> pending_;                    // switches not yet judged
    scores scores_;
    std::uint64_t judged_at_adapt_ = 0, loss_ticks_at_adapt_ = 0;
    // Quantile adaptation (adapt()): losses already answered, when it was
    // last raised, the run of unneeded judgements in a row, and what the
    // shadow's clients were reserved and used over that run (ticks with any).
    std::uint64_t loss_ticks_at_quantile_ = 0;
    double quantile_raised_s_ = -std::numeric_limits<double>::infinity();
    std::uint32_t unneeded_run_ = 0;
    double run_reserved_pps_ = 0, run_used_pps_ = 0;
    std::uint32_t refit_cursor_ = 0; // the client whose refit is considered first next tick
    std::unique_ptr<forecast::refit_pool> refit_pool_; // background refits on the control cpuset
    refit_counts refit_counts_;
    bool refits_background_ = false;
    struct newcomer_state {
        trend_tracker pps;          // the port's learning clients' demand, summed
        bool to_shadow = false;     // newcomers on this port go to the shadow
        bool was_to_shadow = false; // at the start of the tick
        std::uint32_t calm_ticks = 0;
        double since_s = 0;
    };
    std::map<std::uint16_t, newcomer_state> newcomers_; // per egress port
    bool newcomers_via_shadow_ = false;
    std::vector<std::pair<std::uint32_t, profile>> new_profiles_;
    static std::string fmt_reason(const char* why, const char* who);
};

} // namespace shadownet::snm
