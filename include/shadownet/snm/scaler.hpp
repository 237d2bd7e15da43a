// Scaling the shadow network: a reserve configured at start-up, then capacity
// requested from outside through a hook (docs/shadow-manager.md, "Scaling").
//
// Per egress port the shadow's capacity is its configured base, plus the
// reserve steps brought into service, plus what the outside granted. The
// shadow manager reads that capacity every tick (it is what reservations are
// shared out of); the scaler grows it when the shadow is overloaded —
// reservations wanted beyond capacity (overcommit), or drops over reservation
// — and shrinks it, with hysteresis, when demand has stayed low.
//
// The hook is an executable run as `HOOK scale-up|scale-down` with one JSON
// request on stdin; it answers one JSON object on stdout, e.g.
// {"granted_pps": 50000, "granted_bps": 0}. It runs as a child process that
// the control loop polls without waiting: a slow hook delays nothing, a hook
// that outlives its timeout is killed and reported.
//
// Pure C++ and POSIX (no DPDK). Threads: the control lcore only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "shadownet/core/config.hpp"

namespace shadownet::snm {

struct scaling_config {
    std::vector<port_capacity> base;    // --shadow-capacity
    std::vector<port_capacity> reserve; // --shadow-reserve: brought into service in steps
    unsigned reserve_steps = 4;
    std::string hook;                   // empty: no requests from outside
    double hook_timeout_s = 5;
    double up_after_s = 0.3;            // overload must last this long before a step up
    double down_after_s = 10;           // demand under the low mark this long before a step down
    double low_mark = 0.5;              // step down when wanted < low_mark x the capacity without that step
};

// What the scaler sees of one port's shadow each tick.
struct shadow_load {
    std::uint16_t port = 0;
    double wanted_pps = 0;    // reservations the forecasts ask for
    double used_pps = 0;      // carried on the shadow this tick
    double drop_pps = 0;      // dropped over reservations this tick
};

struct scale_event {
    double t = 0;             // seconds since start
    std::uint16_t port = 0;
    std::string action;       // reserve-up, reserve-down, hook-up, hook-down
    std::string request;      // the hook's JSON request (hook events)
    std::string answer;       // the hook's stdout, or the failure
    std::string result;       // ok, failed: ..., timed out after ... s
    double duration_s = 0;    // hook events: from start to answer
    double capacity_pps = 0;  // the port's shadow capacity after the event
};

struct port_scaling {
    std::uint16_t port = 0;
    rate_spec base, reserve;
    unsigned steps_active = 0;
    unsigned reserve_steps_total = 1;
    rate_spec granted;           // by the hook, in all
    bool hook_running = false;
    [[nodiscard]] rate_spec capacity(unsigned steps) const noexcept;
};

class scaler {
public:
    explicit scaler(scaling_config cfg);
    ~scaler(); // kills a hook still running
    scaler(const scaler&) = delete;
    scaler& operator=(const scaler&) = delete;

    // The port's shadow capacity now (0: unlimited).
    [[nodiscard]] rate_spec capacity(std::uint16_t port) const;
    // One tick: reaps a finished hook, steps the reserve, starts a hook when
    // the reserve is spent. Never waits for a hook. Returns what happened.
    std::vector<scale_event> tick(double now_s, const std::vector<shadow_load>& loads);

    [[nodiscard]] std::vector<port_scaling> ports() const;
    [[nodiscard]] const std::vector<scale_event>& events() const noexcept { return events_; }
    [[nodiscard]] const scaling_config& config() const noexcept { return cfg_; }

private:
    struct running_hook {
        pid_t pid = -1;
        int in_fd = -1, out_fd = -1;
        std::string request, out;
        std::size_t written = 0;
        double started_s = 0;
        std::uint16_t port = 0;
        bool up = true;
    };
    struct port_state {
        port_scaling view;
        double over_since = -1, under_since = -1;
    };
    port_state& state(std::uint16_t port);
    void start_hook(port_state& ps, bool up, const shadow_load& load, double now_s, std::vector<scale_event>& out);
    void poll_hook(double now_s, std::vector<scale_event>& out);
    void finish_hook(double now_s, const std::string& result, std::vector<scale_event>& out);

    scaling_config cfg_;
    std::map<std::uint16_t, port_state> ports_;
    std::optional<running_hook> hook_; // one at a time
    std::vector<scale_event> events_;
};

// The hook's answer: {"granted_pps": N, "granted_bps": M}; missing members are 0.
// nullopt when it is not such an object.
std::optional<rate_spec> parse_hook_answer(const std::string& text);

} // namespace shadownet::snm
