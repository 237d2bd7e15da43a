// The appliance: ports, pools, forwarding lcores and (on virtual ports) the
// built-in traffic, wired from the config and driven by the control lcore.
//
// Threads. The object lives on the main (control) lcore, which alone calls its
// methods. Forwarding lcores run dataplane::fwd_lcore_main on configurations
// this object owns and never changes while they run. `quit_` is the only word
// both sides touch: the control lcore stores it (release) in stop(), the
// forwarding lcores load it (acquire) once per loop.
//
// Lifetimes. Requires an active EAL guard that outlives it. Destruction order
// is the reverse of construction: forwarding stopped, ports closed, cables
// (whose rings back the virtual ports) freed, then the mempools.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "shadownet/control/stats.hpp"
#include "shadownet/core/config.hpp"
#include "shadownet/core/plan.hpp"
#include "shadownet/dataplane/forward.hpp"
#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/dpdk/vcable.hpp"
#include "shadownet/gen/builtin_traffic.hpp"

namespace shadownet::control {

class appliance {
public:
    // Creates virtual ports (cfg.virtual_ports, 0 when unset), plans, configures
    // every port. Throws config_error for a bad plan, dpdk_error for DPDK failures.
    explicit appliance(const app_config& cfg);
    ~appliance();
    appliance(const appliance&) = delete;
    appliance& operator=(const appliance&) = delete;

    // Starts the ports and launches the forwarding lcores.
    void start();
    // One control-loop iteration: built-in traffic, and forwarding when the main
    // lcore is the only one. Returns true when it did packet work.
    bool poll();
    // Stops the built-in traffic, lets the fast path drain what is in flight
    // (bounded), stops the forwarding lcores and collects what came back.
    // Idempotent. After it, every received packet is transmitted or counted.
    void stop();

    [[nodiscard]] stats_snapshot snapshot() const;
    [[nodiscard]] const forwarding_plan& plan() const noexcept { return plan_; }
    [[nodiscard]] bool has_builtin_traffic() const noexcept { return traffic_.has_value(); }
    [[nodiscard]] unsigned mempool_in_use() const noexcept;

private:
    app_config cfg_;
    forwarding_plan plan_;
    std::vector<std::unique_ptr<dpdk::vcable>> cables_;
    std::optional<dpdk::mempool> pool_;
    std::optional<dpdk::mempool> traffic_pool_;
    std::vector<dpdk::port> ports_;
    std::vector<dpdk::port> traffic_ports_;
    std::optional<gen::builtin_traffic> traffic_;
    std::unique_ptr<dataplane::lcore_counters[]> counters_; // indexed by lcore id
    std::vector<dataplane::fwd_lcore_conf> fwd_confs_;      // parallel to plan_.fwd_lcores
    std::atomic<bool> quit_{false};
    bool launched_ = false;
    bool stopped_ = false;
};

// The `shadownet` command: parses the command line, initialises EAL (the
// embedded default when no EAL arguments are given), runs until --duration or
// a signal, prints the final counters and writes --summary-json.
// Returns the process exit code: 0 ok, 1 runtime failure, 2 bad usage/config.
int run_shadownet(int argc, const char* const* argv);

} // namespace shadownet::control
