// The appliance's configuration model and its parser (command line and config file).
// Pure C++: no DPDK include, unit-tested without EAL.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace shadownet {

// Two ports that forward to each other (a -> b and b -> a); a == b forwards a port to itself.
struct port_pair {
    std::uint16_t a = 0;
    std::uint16_t b = 0;
    friend bool operator==(const port_pair&, const port_pair&) = default;
};

// Built-in traffic on virtual ports: the embedded default's packet source.
struct builtin_traffic_config {
    double rate_pps = 1'000'000; // offered load over all virtual ports; 0 = as fast as the generator can
    std::uint32_t clients = 16;  // distinct source addresses
    std::uint32_t flows_per_client = 4;
    std::uint16_t packet_size = 64; // frame size without FCS, 60..1518
    std::string scenario_file;      // a shadowgen scenario instead of the constant rate above
    std::vector<std::uint16_t> ports; // the appliance ports it enters on; empty: every polled port
};

enum class forwarding_mode : std::uint8_t { rtc, pipeline };
enum class client_key_kind : std::uint8_t { src_ip, vlan, src_mac };

// How packets map to clients, and what happens to the ones that do not fit.
struct client_config {
    client_key_kind key = client_key_kind::src_ip;
    std::uint8_t prefix_v4 = 32;          // with src_ip: clients are source prefixes of this length
    std::uint8_t prefix_v6 = 128;
    std::uint32_t max_clients = 65536;
    bool overflow_to_default = true;      // beyond max_clients: the default client (true) or a client_limit drop
    double idle_timeout_s = 300;          // forget clients idle this long (0: never)
    double tick_s = 0.1;                  // control tick: per-client samples
    std::uint32_t history = 600;          // samples kept per client (20 bytes each)
    std::uint32_t summary_clients = 1000; // clients listed in the summary JSON (busiest first)
};

// A rate limit: packets/s and/or bits/s; 0 means no limit in that unit.
struct rate_spec {
    double pps = 0;
    double bps = 0;
    friend bool operator==(const rate_spec&, const rate_spec&) = default;
};

// A capacity for one port, or for every port when `port` is empty.
struct port_capacity {
    std::optional<std::uint16_t> port;
    rate_spec rate;
    friend bool operator==(const port_capacity&, const port_capacity&) = default;
};

enum class snm_policy : std::uint8_t { predictive, reactive, off };

// The shadow network manager (docs/shadow-manager.md).
struct snm_config {
    snm_policy policy = snm_policy::predictive;
    std::vector<port_capacity> primary_capacity; // per egress port; none: a primary never fills up
    std::vector<port_capacity> shadow_capacity;  // what the shadow path of each egress port may carry in all
    double capacity_burst_ms = 5;   // token bucket depth: the modelled link's buffer
    double horizon_s = 1.0;         // how far ahead the predictive policy looks
    double quantile = 0.95;         // the demand quantile reservations and predictions use
    double high_watermark = 0.9;    // fraction of primary capacity that counts as "constrained"
    double low_watermark = 0.7;     // back to the primary only below this
    double sustain_s = 0.0;         // a prediction must hold this long before a switch (0: one tick)
    double min_interval_s = 2.0;    // between two switches of one client
    double headroom = 1.1;          // shadow reservation = quantile x headroom
    double profile_window_s = 5.0;  // what a new client's profile is built from
    bool adapt = true;              // learn watermarks and the quantile from outcomes
    std::string log_csv;            // per tick and client: demand, forecast, budget, route
    std::vector<port_capacity> shadow_reserve;   // shadow capacity held back, brought into service in steps
    unsigned reserve_steps = 4;
    std::string scale_hook;         // executable asked for more shadow capacity once the reserve is spent
    double scale_hook_timeout_s = 5;
    std::string state_dir;          // history and profiles across restarts (SQLite); empty: none
    double history_flush_s = 1.0;   // a kill -9 loses at most about this much history
};

// Failover (docs/resilience.md): how a failed port is detected and who takes over.
enum class failover_mode : std::uint8_t {
    shadownet, // the appliance's own: detection in the control loop, roles switched in the fast path
    bond,      // baseline for comparison: each primary and its shadow port under a net_bonding active-backup device
    off,
};

struct failover_config_options {
    failover_mode mode = failover_mode::shadownet;
    double poll_us = 100;        // how often the control loop looks at link status and TX/RX counters
    double stall_ms = 1;         // TX refused and nothing taken this long: the port failed
    double rx_silence_ms = 0;    // a receiving port silent this long failed (0: off)
    double holddown_ms = 1000;   // a failed port healthy this long returns (as the shadow)
    bool revert = false;         // ... and takes its primary role back
};

// The operator surfaces: console, scripts, control socket (docs/console.md).
struct console_config {
    bool interactive = false;    // -i: the rte_cmdline console on stdin
    std::string cmdline_file;    // a script run at start-up; without -i it is the whole run
    bool stop_on_error = false;  // the script stops at its first failing command, exit 1
    std::string control_socket;  // empty: <DPDK runtime dir>/shadownet.sock; "none": no socket
    std::string control_group;   // the socket file's group (mode 0660); default: our effective group
    std::string monitor_group;   // read-only commands; default: the control group
    std::string operator_group;  // every command
    std::string audit_log;       // changing commands, allowed or refused; empty: none
};

struct app_config {
    // Run control.
    double duration_s = 0;      // 0: until SIGINT/SIGTERM
    std::string summary_json;   // empty: no summary file
    double stats_period_s = 1;  // live progress line period; 0: off
    bool quiet = false;

    // Ports. Unset optionals mean "choose a default once the ports are known".
    std::optional<std::uint16_t> virtual_ports; // ring-backed ports with built-in traffic
    std::optional<std::vector<std::uint16_t>> ports; // appliance ports; default all
    std::vector<port_pair> port_pairs;               // default: consecutive pairs
    std::uint16_t rxq = 0;          // RX queues per port; 0: enough for every forwarding lcore
    std::uint16_t shadow_txq = 1;   // reserved shadow TX queues per port and transmitting lcore, idle until a client is routed there
    std::vector<port_pair> shadow_ports; // a:b: the shadow path of traffic leaving on a leaves on b instead
    std::vector<std::uint16_t> spare_ports; // transmit-only ports held in reserve: a new shadow after a failover
    double switch_grace_us = 100;   // route switch: how long to wait for a TX queue that cannot say it drained
    std::uint16_t rxd = 1024;
    std::uint16_t txd = 1024;
    std::uint32_t mbufs = 0;        // mbufs in the appliance pool; 0: sized from ports and queues
    std::uint16_t burst = 32;

    // Lcores. Empty: every worker lcore EAL enabled forwards.
    forwarding_mode mode = forwarding_mode::rtc;
    std::vector<unsigned> fwd_lcores;
    std::vector<unsigned> rx_lcores; // pipeline: the forwarding lcores that receive and classify (default: half)

    client_config clients;

    builtin_traffic_config traffic;

    snm_config snm;
    failover_config_options failover;
    console_config console;
};

// What the command line asked for. `help`/`version` set: print and exit 0.
struct parsed_options {
    app_config config;
    bool help = false;
    bool version = false;
};

// Parses the application arguments (those after `--`, or all of them when there
// is no `--`). `--config FILE` reads the same options from an INI-style file;
// the command line wins over the file. Throws config_error with one line.
parsed_options parse_app_options(std::span<const std::string> args);

// The option reference printed by --help.
std::string app_options_help();

// The command line split at `--` as DPDK applications do.
struct split_args {
    std::vector<std::string> eal; // argv[0] first, then the EAL arguments
    std::vector<std::string> app;
    bool eal_given = false;       // something precedes `--`: EAL arguments are the user's
};
split_args split_command_line(int argc, const char* const* argv);

// EAL arguments for the embedded default: no hugepages, no PCI, a small memory
// size, a unique file prefix, and up to `max_lcores` of the CPUs we may run on.
std::vector<std::string> embedded_eal_args(const std::string& argv0, std::span<const unsigned> allowed_cpus,
                                           const std::string& file_prefix, unsigned max_lcores = 2);

// "1,3-5" -> {1,3,4,5}. Throws config_error naming `what`.
std::vector<unsigned> parse_uint_list(const std::string& text, const std::string& what);
// "50kpps", "2.5Mpps", "100Mbit", "1Gbit", "64000" (pps), "10kpps+80Mbit" (both).
// Throws config_error naming `what`.
rate_spec parse_rate(const std::string& text, const std::string& what);
// "1:50kpps,all:100Mbit" -> capacities. Throws config_error naming `what`.
std::vector<port_capacity> parse_port_capacities(const std::string& text, const std::string& what);
// "0:1,2:3" -> pairs. Throws config_error.
std::vector<port_pair> parse_port_pairs(const std::string& text);

} // namespace shadownet
