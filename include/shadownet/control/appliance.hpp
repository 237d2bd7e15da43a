// The appliance: ports, pools, the client table, forwarding lcores and (on
// virtual ports) the built-in traffic, wired from the config and driven by
// the control lcore.
//
// Threads. The object lives on the main (control) lcore, which alone calls its
// methods; the failover monitor is a thread of its own (see below). Forwarding lcores run dataplane::lcore_main on configurations this
// object owns and never changes while they run; they share with it only the
// client table (control writes, lcores read lock-free), their counters
// (lcores write, control reads relaxed) and the quit flags (control stores
// with release, lcores load with acquire).
//
// Lifetimes. Requires an active EAL guard that outlives it. Destruction order
// is the reverse of construction: forwarding stopped, ports closed, cables
// (whose rings back the virtual ports) freed, then tables and mempools.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "shadownet/control/clients.hpp"
#include "shadownet/control/stats.hpp"
#include "shadownet/core/config.hpp"
#include "shadownet/core/plan.hpp"
#include "shadownet/dataplane/client_table.hpp"
#include "shadownet/dataplane/egress.hpp"
#include "shadownet/dataplane/worker.hpp"
#include "shadownet/dpdk/bond.hpp"
#include "shadownet/dpdk/lcore.hpp"
#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/dpdk/ring.hpp"
#include "shadownet/dpdk/vcable.hpp"
#include "shadownet/gen/engine.hpp"
#include "shadownet/snm/failover.hpp"
#include "shadownet/snm/history.hpp"
#include "shadownet/snm/manager.hpp"
#include "shadownet/snm/scaler.hpp"

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
    // One control-loop iteration: built-in traffic, new clients, the tick, and
    // forwarding when the main lcore is the only one. Returns true when it did work.
    bool poll();
    // Stops the built-in traffic, lets the fast path drain what is in flight
    // (bounded), stops the RX lcores, then the workers, and collects what came
    // back. Idempotent. After it, every received packet is transmitted or counted.
    void stop();

    // Actions: one function per operation; the command layer (console,
    // scripts, control socket), telemetry and tests call these.

    // Throws std::out_of_range for an unknown client, config_error when no
    // shadow queues are reserved.
    dataplane::route set_client_route(std::uint32_t client, dataplane::path via);
    // A client's shadow reservation, enforced on its shadow path (0 pps and
    // 0 bps: unlimited). Seen by the lcores at their next shadow packet.
    void set_shadow_budget(std::uint32_t client, const rate_spec& budget);
    // The path of packets from sources not registered yet (the default
    // client): the manager sends them to the shadow while a flood of new
    // sources constrains a primary. Lossless and in order like any route.
    void set_newcomer_path(dataplane::path via);
    // Failover (docs/resilience.md).
    // Sets a port's link down or up, as testpmd's `set link-down port` does
    // (rte_eth_dev_set_link_down/up); on a virtual port the far end's wire is
    // cut as well (what the port sends is lost). A driver that cannot set its
    // link (net_null, net_pcap) has its device stopped instead, which takes
    // the link down just the same. A member of a --failover bond device
    // counts as a port here. Throws std::out_of_range for an unknown port,
    // std::runtime_error when DPDK refuses.
    void set_port_link(std::uint16_t port, bool up);
    // An injected fault (`port fail`): the port's TX queues take nothing and
    // its RX queues deliver nothing, with no link signal — found only by its
    // traffic. Throws std::out_of_range for an unknown port.
    void set_port_fault(std::uint16_t port, bool on);
    // Planned: the egress whose primary is `port` swaps its primary and shadow
    // ports, drained like any route switch (nothing lost). Throws
    // std::invalid_argument with the reason when it cannot.
    void switchover(std::uint16_t port);
    [[nodiscard]] failover_snapshot failover_view() const;
    [[nodiscard]] const dataplane::egress_table& egress_roles() const noexcept { return *egress_; }

    // Where scaling and failover events are written besides the
    // summary: run.cpp points it at the audit log.
    void set_event_sink(std::function<void(const std::string& action, const std::string& result)> sink)
    {
        event_sink_ = std::move(sink);
    }
    // The shadow manager's policy (console `set policy`).
    void set_policy(snm_policy p);
    // A client's priority for shadow reservations: when the shadow cannot
    // hold them all, higher priorities are served first (console `set client
    // <id> priority <n>`; docs/shadow-manager.md). The manager owns it; it
    // is not kept across restarts. Throws std::out_of_range for an unknown client.
    void set_client_priority(std::uint32_t client, int priority);
    // The manager's policy, scores and per-port view (`show snm`, /shadownet/snm).
    [[nodiscard]] snm_snapshot snm_view() const;
    // The configured capacity of a port's primary (or shadow) path; 0: unlimited.
    [[nodiscard]] rate_spec primary_capacity(std::uint16_t port) const noexcept;
    [[nodiscard]] rate_spec shadow_capacity(std::uint16_t port) const noexcept;
    // Pauses (false) or resumes (true) forwarding: RX lcores stop polling
    // their queues, so packets wait in the ports; workers still empty their
    // hand-off rings and every lcore its hold queue. Returns the previous state.
    // stop() resumes first, so that what waits is drained and counted.
    bool set_forwarding(bool on) noexcept;
    [[nodiscard]] bool forwarding() const noexcept { return !paused_.load(std::memory_order_relaxed); }
    // Port counters as the console shows them: since the last clear. Clearing
    // copies the current values into a baseline this object keeps; the lcores'
    // counters, the summary and telemetry are never reset.
    [[nodiscard]] std::vector<port_snapshot> port_stats() const;
    void clear_port_stats(std::optional<std::uint16_t> port); // nullopt: all; std::out_of_range for an unknown port
    [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> port_xstats(std::uint16_t port) const;
    // The reserved shadow path and the clients on it (`show shadow`, /shadownet/shadow).
    [[nodiscard]] shadow_view shadow() const;
    // Clients in id order: `count` of them from the start-th. Throws nothing.
    [[nodiscard]] std::vector<client_snapshot> clients_in_order(std::size_t start, std::size_t count) const;
    // One client in full; std::out_of_range for an unknown id.
    [[nodiscard]] client_detail client(std::uint32_t id) const;
    [[nodiscard]] std::vector<lcore_snapshot> lcore_stats() const;

    // Clients listed: the busiest --summary-clients.
    [[nodiscard]] stats_snapshot snapshot() const;
    // Clients listed: at most max_clients, the busiest first or in id order.
    [[nodiscard]] stats_snapshot snapshot(std::size_t max_clients, bool busiest_first) const;
    [[nodiscard]] client_totals client_counters(std::uint32_t id) const; // raw, summed over lcores
    [[nodiscard]] const forwarding_plan& plan() const noexcept { return plan_; }
    [[nodiscard]] const client_registry& clients() const noexcept { return registry_; }
    [[nodiscard]] const dataplane::client_table& client_table() const noexcept { return *table_; }
    [[nodiscard]] const snm::manager& shadow_manager() const noexcept { return *manager_; }
    [[nodiscard]] const snm::history_store* history() const noexcept { return history_.get(); }
    [[nodiscard]] bool has_builtin_traffic() const noexcept { return traffic_.has_value(); }
    [[nodiscard]] unsigned mempool_in_use() const noexcept;
    [[nodiscard]] double uptime_s() const noexcept;
    [[nodiscard]] std::uint64_t ticks() const noexcept { return ticks_; }

private:
    void register_new_clients();
    [[nodiscard]] std::vector<port_snapshot> port_snapshots() const; // cumulative
    [[nodiscard]] client_snapshot client_summary(const client_record& rec) const;
    void tick();
    // The shadow manager's part of a tick: observations in, actions applied.
    struct client_tick {
        client_record* rec;
        client_totals delta;
    };
    void run_manager(double now, double dt, const std::vector<client_tick>& active);
    [[nodiscard]] bool fast_path_stalled_since_last_tick();
    void publish_shadow_pools(const std::vector<snm::observation>& obs);
    [[nodiscard]] std::uint16_t egress_of(std::uint32_t client) const noexcept;
    [[nodiscard]] std::optional<snm::manager::warm_start> warm_start_of(const std::string& key) const;
    void record_history(const std::vector<client_tick>& active);
    [[nodiscard]] bool has_shadow_path() const noexcept
    {
        return plan_.shadow_per_lcore > 0 || !cfg_.shadow_ports.empty();
    }
    void setup_lcores();
    void setup_probes();
    void setup_failover();
    void bond_shadow_ports(app_config& plan_cfg, std::vector<std::uint16_t>& candidates);
    // The failover monitor thread: every --failover-poll-us it samples the
    // watched ports and applies what the failover logic decides.
    void monitor_loop();
    void monitor_ports(); // with failover_mutex_ held
    void apply_failover(const snm::failover_update& u); // with failover_mutex_ held
    void report_failover(const snm::failover_event& e);
    void refresh_port_flags(std::uint16_t port);
    // Stops or starts a device that lcores may be transmitting to (directly,
    // or through the bonding device `via`): ethdev's start and stop are not
    // safe against a concurrent tx_burst, so the lcores are kept off `via`
    // until each has begun a new loop. With failover_mutex_ held. Returns 0
    // or a negative errno.
    int stop_or_start_quiesced(std::uint16_t port, std::uint16_t via, bool start);
    [[nodiscard]] const dpdk::port* find_port(std::uint16_t id) const noexcept;
    [[nodiscard]] dpdk::port* find_port(std::uint16_t id) noexcept;
    [[nodiscard]] dpdk::vcable* cable_of(std::uint16_t side_a) const noexcept;
    // The built-in traffic's receive side; cut cables lose what was sent into them first.
    void receive_traffic();
    void discard_cut_cables();

    app_config cfg_;
    forwarding_plan plan_;
    std::vector<std::unique_ptr<dpdk::vcable>> cables_;
    // --failover bond: one active-backup bonding device per --shadow-ports
    // pair, in place of the pair's ports (members outlive it, the ports_
    // entry of the device is closed before it).
    std::vector<std::unique_ptr<dpdk::bond>> bonds_;
    std::optional<dpdk::mempool> pool_;
    std::optional<dpdk::mempool> traffic_pool_;
    std::vector<dpdk::port> ports_;
    std::vector<dpdk::port> traffic_ports_;
    std::optional<gen::engine> traffic_;
    std::chrono::steady_clock::time_point next_traffic_tick_;

    std::unique_ptr<dataplane::client_table> table_;
    client_registry registry_;
    std::unique_ptr<dataplane::egress_probe_table> probes_;
    std::unique_ptr<dataplane::lcore_counters[]> counters_; // indexed by lcore id

    // One per forwarding lcore, parallel to plan_.fwd_lcores.
    struct lcore_slot {
        dataplane::lcore_conf conf;
        std::unique_ptr<dataplane::lcore_state> state;
        std::unique_ptr<dataplane::client_lcore_stats[]> stats;
        std::unique_ptr<dataplane::client_egress[]> egress;
        std::vector<std::unique_ptr<dataplane::token_meter>> primary_meters; // lcore-private once launched
        std::unique_ptr<dataplane::client_shadow_meter[]> shadow_meters;      // lcore-private
        std::unique_ptr<dataplane::client_shadow_meter[]> shadow_pool_meters; // lcore-private, by port
        std::unique_ptr<dpdk::ring> connect; // lcore -> control, client keys
        dataplane::lcore_launch launch{};
    };
    std::vector<lcore_slot> lcores_;
    std::vector<std::unique_ptr<dpdk::ring>> handoff_; // pipeline: rx i -> worker j at i * workers + j
    std::unique_ptr<dataplane::shadow_budget[]> shadow_budgets_; // per client; control writes, lcores read
    std::unique_ptr<dataplane::shadow_budget[]> shadow_pools_;   // per physical port; control writes, lcores read
    std::unique_ptr<snm::manager> manager_;
    std::uint64_t long_stalls_seen_ = 0; // forwarding lcores' stalls as long as a primary's bucket, at the last tick (control lcore)
    std::unique_ptr<snm::scaler> scaler_; // the shadow's capacity: base, reserve steps, hook grants
    std::function<void(const std::string& action, const std::string& result)> event_sink_;
    std::unique_ptr<snm::history_store> history_; // --state-dir; control lcore only (its writer thread is its own)
    std::unordered_set<std::string> known_keys_;  // clients the history knows: only those are looked up
    std::atomic<std::uint64_t> miss_route_{dataplane::route{}.pack()}; // control stores, lcores load (relaxed)
    std::ofstream snm_log_;

    // Failover. A thread of its own watches the ports, so that detection does
    // not wait for a control loop busy with a tick, a command or a snapshot
    // (it runs on the main lcore's CPUs, at real-time priority when allowed).
    // It and the control lcore's actions (set link, port fail, switchover,
    // views) take failover_mutex_ around everything below it: the egress
    // table's writers (roles and port flags; lcores read them lock-free,
    // egress.hpp), the failover logic, and the faults the operator made.
    mutable std::mutex failover_mutex_;
    std::unique_ptr<dataplane::egress_table> egress_;
    std::unique_ptr<snm::failover> failover_;
    struct port_fault_state {
        bool out_of_service = false; // failover's decision
        bool injected = false;       // `port fail`
        bool link_set_down = false;  // `set link-down port`
        bool stopped = false;        // ... on a driver without link control: the device was stopped instead
        double fault_since = -1;     // when the operator made the fault (for detection times)
    };
    std::array<port_fault_state, dataplane::max_ports> faults_{};
    double max_poll_gap_s_ = 0;
    std::uint64_t looks_ = 0;                                   // the monitor's looks so far
    std::array<std::uint64_t, dataplane::max_ports> tx_errors_{}; // the driver's oerrors, at the last read
    std::string monitor_priority_ = "not running";
    std::thread monitor_;
    std::atomic<bool> monitor_quit_{false};
    // Virtual cables cut by `set link-down port`: the main lcore alone (it
    // receives on the far ends) reads and writes these.
    struct cut_state {
        bool cut = false;
        std::uint64_t wire_lost = 0;     // what the cut cable lost
        std::uint64_t queued_at_cut = 0; // ... of which was already queued in it when cut
    };
    std::array<cut_state, dataplane::max_ports> cuts_{};

    // Forwarding lcores running dataplane::lcore_main (none when the main lcore forwards).
    std::optional<dpdk::lcore_launcher> launcher_;
    std::atomic<bool> quit_rx_{false};      // rtc and rx lcores
    std::atomic<bool> quit_workers_{false}; // pipeline workers, after the RX lcores are gone
    std::atomic<bool> paused_{false};       // control stores (release), RX lcores load (acquire) every loop
    std::vector<port_snapshot> port_baseline_; // `clear port stats`, parallel to ports_; control lcore only
    bool launched_ = false;
    bool stopped_ = false;

    std::chrono::steady_clock::time_point started_at_;
    std::chrono::steady_clock::time_point next_tick_;
    std::uint64_t ticks_ = 0;
    // Uptime of the previous tick (control thread only): rates are counts
    // over the time that really passed, which is more than the nominal tick
    // whenever the control thread falls behind (thousands of clients
    // registered at once, a slow disk under the history store).
    double last_tick_s_ = -1;
    std::vector<std::uint64_t> last_busy_; // per lcore slot, at the previous tick
    unsigned pool_baseline_ = 0;           // appliance pool in use after the ports started
    unsigned traffic_pool_baseline_ = 0;
};

// The `shadownet` command: parses the command line, initialises EAL (the
// embedded default when no EAL arguments are given), runs until --duration or
// a signal, prints the final counters and writes --summary-json.
// Returns the process exit code: 0 ok, 1 runtime failure, 2 bad usage/config.
int run_shadownet(int argc, const char* const* argv);

} // namespace shadownet::control
