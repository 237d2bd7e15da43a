#include "shadownet/core/config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

#include <boost/program_options.hpp>
#include <unistd.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "shadownet/core/error.hpp"

namespace po = boost::program_options;

namespace shadownet {

namespace {

unsigned parse_unsigned(const std::string& s, const std::string& what)
{
    unsigned v = 0;
    const auto* first = s.data();
    const auto* last = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (s.empty() || ec != std::errc() || ptr != last)
        throw config_error(fmt::format("{}: '{}' is not a non-negative integer", what, s));
    return v;
}

std::string trim(std::string s)
{
    const auto not_space = [](unsigned char c) { return !std::isspace(c); };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
    s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
    return s;
}

std::vector<std::string> split(const std::string& s, char sep)
{
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, sep))
        out.push_back(trim(item));
    return out;
}

// Options whose values are checked after parsing, with the option name in the message.
struct raw_options {
    std::string mode = "rtc";
    std::string rx_lcores;
    std::string client_key = "src-ip";
    unsigned prefix_v4 = 32;
    unsigned prefix_v6 = 128;
    std::string client_overflow = "default";
    std::string shadow_ports;
    std::string ports;
    std::string port_pairs;
    std::string fwd_lcores;
    int virtual_ports = -1;
    std::string config_file;
    std::string policy = "predictive";
    std::string primary_capacity;
    std::string shadow_capacity;
    std::string shadow_reserve;
    std::string spare_ports;
    std::string traffic_ports;
    std::string failover = "shadownet";
};

po::options_description make_description(app_config& c, raw_options& raw)
{
    po::options_description run("Run");
    run.add_options()
        ("help,h", "print this help and exit")
        ("version", "print the version and exit")
        ("config", po::value(&raw.config_file)->value_name("FILE"),
         "read options from FILE (INI style: name = value, one per line); the command line wins")
        ("duration", po::value(&c.duration_s)->value_name("SECONDS"), "stop after SECONDS (0: run until Ctrl-C)")
        ("summary-json", po::value(&c.summary_json)->value_name("FILE"), "write the final counters to FILE as JSON")
        ("stats-period", po::value(&c.stats_period_s)->value_name("SECONDS"),
         "print a progress line every SECONDS (0: off)")
        ("quiet,q", po::bool_switch(&c.quiet), "no progress lines, only errors and the final counters");

    po::options_description ports("Ports and queues");
    ports.add_options()
        ("virtual-ports", po::value(&raw.virtual_ports)->value_name("N"),
         "add N ring-backed virtual ports fed by built-in traffic (default: 2 without EAL arguments, else 0)")
        ("ports", po::value(&raw.ports)->value_name("LIST"), "appliance ports, e.g. 0,1 or 0-3 (default: all)")
        ("port-pairs", po::value(&raw.port_pairs)->value_name("A:B,..."),
         "forwarding pairs (default: consecutive ports 0:1,2:3,...)")
        ("rxq", po::value(&c.rxq)->value_name("N"), "RX queues per port (0: one per forwarding lcore sharing the port)")
        ("shadow-txq", po::value(&c.shadow_txq)->value_name("N"),
         "reserved shadow TX queues per port and transmitting lcore")
        ("shadow-ports", po::value(&raw.shadow_ports)->value_name("A:S,..."),
         "separate shadow ports: the shadow path of traffic leaving on A leaves on S")
        ("spare-ports", po::value(&raw.spare_ports)->value_name("LIST"),
         "transmit-only ports held in reserve: after a failover one becomes the new shadow")
        ("switch-grace-us", po::value(&c.switch_grace_us)->value_name("US"),
         "route switch: wait this long for a TX queue that cannot report it drained")
        ("rxd", po::value(&c.rxd)->value_name("N"), "RX descriptors per queue")
        ("txd", po::value(&c.txd)->value_name("N"), "TX descriptors per queue")
        ("mbufs", po::value(&c.mbufs)->value_name("N"), "mbufs in the packet pool (0: sized automatically)")
        ("burst", po::value(&c.burst)->value_name("N"), "packets per RX/TX burst (1-512)");

    po::options_description lcores("Lcores");
    lcores.add_options()
        ("mode", po::value(&raw.mode)->value_name("rtc|pipeline"),
         "run-to-completion (each forwarding lcore receives, classifies and transmits) or pipeline (RX lcores "
         "classify and hand packets to worker lcores over rings)")
        ("fwd-lcores", po::value(&raw.fwd_lcores)->value_name("LIST"),
         "lcores that forward (default: every EAL lcore but the main one)")
        ("rx-lcores", po::value(&raw.rx_lcores)->value_name("LIST"),
         "pipeline: the forwarding lcores that receive and classify (default: the first half); the rest are workers");

    po::options_description clients("Clients");
    clients.add_options()
        ("client-key", po::value(&raw.client_key)->value_name("src-ip|vlan|src-mac"), "what makes a client")
        ("client-prefix4", po::value(&raw.prefix_v4)->value_name("BITS"), "src-ip: IPv4 source prefix length (1-32)")
        ("client-prefix6", po::value(&raw.prefix_v6)->value_name("BITS"), "src-ip: IPv6 source prefix length (1-128)")
        ("max-clients", po::value(&c.clients.max_clients)->value_name("N"), "clients the table holds")
        ("client-overflow", po::value(&raw.client_overflow)->value_name("default|drop"),
         "sources beyond --max-clients: count them under the default client, or drop them (client_limit)")
        ("client-idle-timeout", po::value(&c.clients.idle_timeout_s)->value_name("SECONDS"),
         "forget clients idle this long (0: never)")
        ("tick", po::value(&c.clients.tick_s)->value_name("SECONDS"), "control tick: per-client samples")
        ("history", po::value(&c.clients.history)->value_name("N"), "samples kept per client")
        ("summary-clients", po::value(&c.clients.summary_clients)->value_name("N"),
         "clients listed in the summary JSON, busiest first");

    po::options_description traffic("Built-in traffic (virtual ports)");
    traffic.add_options()
        ("traffic-rate", po::value(&c.traffic.rate_pps)->value_name("PPS"),
         "offered packets per second over all virtual ports (0: as fast as possible)")
        ("traffic-clients", po::value(&c.traffic.clients)->value_name("N"), "distinct client source addresses")
        ("traffic-flows", po::value(&c.traffic.flows_per_client)->value_name("N"), "UDP flows per client")
        ("packet-size", po::value(&c.traffic.packet_size)->value_name("BYTES"), "frame size without FCS (60-1518)")
        ("traffic-ports", po::value(&raw.traffic_ports)->value_name("LIST"),
         "the ports the built-in traffic enters on (default: every polled port)")
        ("traffic-scenario", po::value(&c.traffic.scenario_file)->value_name("FILE"),
         "drive the virtual ports with a shadowgen scenario file (docs/generator.md) instead");

    po::options_description snm("Shadow network manager");
    snm.add_options()
        ("policy", po::value(&raw.policy)->value_name("predictive|reactive|off"),
         "when clients move to their shadow: on a forecast, on a measured threshold, or never")
        ("primary-capacity", po::value(&raw.primary_capacity)->value_name("PORT:RATE,..."),
         "what each primary egress carries, e.g. 1:50kpps or all:1Gbit (PORT or 'all'; RATE in pps, kpps, "
         "Mpps, bit, kbit, Mbit, Gbit, or both joined by '+'); beyond it: primary_over_capacity drops")
        ("shadow-capacity", po::value(&raw.shadow_capacity)->value_name("PORT:RATE,..."),
         "what the shadow path of each egress may carry in all, shared out as client reservations")
        ("capacity-burst-ms", po::value(&c.snm.capacity_burst_ms)->value_name("MS"),
         "token bucket depth of a capacity or reservation, in milliseconds of its rate")
        ("horizon", po::value(&c.snm.horizon_s)->value_name("SECONDS"), "how far ahead predictions look")
        ("quantile", po::value(&c.snm.quantile)->value_name("Q"), "demand quantile for predictions and reservations")
        ("high-watermark", po::value(&c.snm.high_watermark)->value_name("FRACTION"),
         "share of a primary's capacity that counts as constrained")
        ("low-watermark", po::value(&c.snm.low_watermark)->value_name("FRACTION"),
         "clients return to the primary only when it stays below this share")
        ("sustain", po::value(&c.snm.sustain_s)->value_name("SECONDS"),
         "a constraint must be predicted (or measured) this long before a switch (0: one tick)")
        ("min-switch-interval", po::value(&c.snm.min_interval_s)->value_name("SECONDS"),
         "at least this long between two switches of one client")
        ("headroom", po::value(&c.snm.headroom)->value_name("FACTOR"), "shadow reservation = quantile x FACTOR")
        ("profile-window", po::value(&c.snm.profile_window_s)->value_name("SECONDS"),
         "how long a new client is observed before its profile is built")
        ("adapt", po::value(&c.snm.adapt)->value_name("BOOL"),
         "adapt the watermarks and the quantile from the manager's own scores")
        ("shadow-reserve", po::value(&raw.shadow_reserve)->value_name("PORT:RATE,..."),
         "shadow capacity held in reserve, brought into service in steps when the shadow is overloaded")
        ("reserve-steps", po::value(&c.snm.reserve_steps)->value_name("N"), "steps the reserve is used in (1-64)")
        ("scale-hook", po::value(&c.snm.scale_hook)->value_name("PROGRAM"),
         "run as 'PROGRAM scale-up|scale-down' with a JSON request on stdin once the reserve is spent "
         "(docs/shadow-manager.md, Scaling)")
        ("scale-hook-timeout", po::value(&c.snm.scale_hook_timeout_s)->value_name("SECONDS"),
         "a hook still running after this long is killed and reported")
        ("state-dir", po::value(&c.snm.state_dir)->value_name("DIR"),
         "keep each client's history and profile across restarts in DIR/history.sqlite")
        ("history-flush", po::value(&c.snm.history_flush_s)->value_name("SECONDS"),
         "how often history is written (a kill -9 loses at most about this much)")
        ("snm-log", po::value(&c.snm.log_csv)->value_name("FILE"),
         "write per tick and client: demand, forecast, quantile, reservation, route (CSV)");


    po::options_description failover("Failover (docs/resilience.md)");
    failover.add_options()
        ("failover", po::value(&raw.failover)->value_name("shadownet|bond|off"),
         "who handles a failed port: the appliance (default), a net_bonding active-backup device per "
         "primary and shadow port (for comparison), or nobody")
        ("failover-poll-us", po::value(&c.failover.poll_us)->value_name("US"),
         "how often the control loop checks link status and TX/RX counters")
        ("failover-stall-ms", po::value(&c.failover.stall_ms)->value_name("MS"),
         "TX refused with nothing taken this long: the port failed")
        ("failover-rx-silence-ms", po::value(&c.failover.rx_silence_ms)->value_name("MS"),
         "a port that was receiving and is silent this long failed (0: off)")
        ("failover-holddown-ms", po::value(&c.failover.holddown_ms)->value_name("MS"),
         "a failed port must be healthy this long before it returns")
        ("failover-revert", po::value(&c.failover.revert)->value_name("BOOL"),
         "a returning primary takes its role back (default: it stays the shadow)");

    po::options_description console("Console and control socket (docs/console.md)");
    console.add_options()
        ("interactive,i", po::bool_switch(&c.console.interactive), "open the interactive console on stdin")
        ("cmdline-file", po::value(&c.console.cmdline_file)->value_name("FILE"),
         "run the commands in FILE at start-up, then the console with -i, or stop and exit without it")
        ("cmdline-stop-on-error", po::bool_switch(&c.console.stop_on_error),
         "stop the --cmdline-file script and shadownet at the first failing command (exit 1)")
        ("control-socket", po::value(&c.console.control_socket)->value_name("PATH"),
         "the control socket for shadownet-ctl (default: <DPDK runtime dir>/shadownet.sock; none: no socket)")
        ("control-group", po::value(&c.console.control_group)->value_name("GROUP"),
         "the control socket's group (mode 0660): who may connect (default: shadownet's effective group)")
        ("monitor-group", po::value(&c.console.monitor_group)->value_name("GROUP"),
         "members may run read-only commands over the socket (default: the control group)")
        ("operator-group", po::value(&c.console.operator_group)->value_name("GROUP"),
         "members may run every command over the socket (root always may)")
        ("audit-log", po::value(&c.console.audit_log)->value_name("FILE"),
         "append every changing command (who, when, what, result) to FILE");

    po::options_description all("shadownet [EAL arguments --] [options]");
    all.add(run).add(ports).add(lcores).add(clients).add(traffic).add(snm).add(failover).add(console);
    return all;
}

void validate(app_config& c, const raw_options& raw)
{
    if (c.duration_s < 0)
        throw config_error(fmt::format("--duration: {} is negative", c.duration_s));
    if (c.stats_period_s < 0)
        throw config_error(fmt::format("--stats-period: {} is negative", c.stats_period_s));
    if (raw.virtual_ports >= 0) {
        if (raw.virtual_ports > 16)
            throw config_error(fmt::format("--virtual-ports: {} is more than 16", raw.virtual_ports));
        c.virtual_ports = static_cast<std::uint16_t>(raw.virtual_ports);
    } else if (raw.virtual_ports != -1) {
        throw config_error(fmt::format("--virtual-ports: {} is negative", raw.virtual_ports));
    }
    if (!raw.ports.empty()) {
        std::vector<std::uint16_t> ports;
        for (const unsigned p : parse_uint_list(raw.ports, "--ports")) {
            if (p >= 1024)
                throw config_error(fmt::format("--ports: port {} is out of range", p));
            ports.push_back(static_cast<std::uint16_t>(p));
        }
        c.ports = std::move(ports);
    }
    if (!raw.port_pairs.empty())
        c.port_pairs = parse_port_pairs(raw.port_pairs);
    if (!raw.fwd_lcores.empty())
        c.fwd_lcores = parse_uint_list(raw.fwd_lcores, "--fwd-lcores");
    if (!raw.rx_lcores.empty())
        c.rx_lcores = parse_uint_list(raw.rx_lcores, "--rx-lcores");
    if (raw.mode == "rtc" || raw.mode == "run-to-completion")
        c.mode = forwarding_mode::rtc;
    else if (raw.mode == "pipeline")
        c.mode = forwarding_mode::pipeline;
    else
        throw config_error(fmt::format("--mode: '{}' is not rtc or pipeline", raw.mode));
    if (!c.rx_lcores.empty() && c.mode != forwarding_mode::pipeline)
        throw config_error("--rx-lcores: only with --mode pipeline");
    if (raw.client_key == "src-ip")
        c.clients.key = client_key_kind::src_ip;
    else if (raw.client_key == "vlan")
        c.clients.key = client_key_kind::vlan;
    else if (raw.client_key == "src-mac")
        c.clients.key = client_key_kind::src_mac;
    else
        throw config_error(fmt::format("--client-key: '{}' is not src-ip, vlan or src-mac", raw.client_key));
    if (raw.prefix_v4 < 1 || raw.prefix_v4 > 32)
        throw config_error(fmt::format("--client-prefix4: {} is not in 1-32", raw.prefix_v4));
    if (raw.prefix_v6 < 1 || raw.prefix_v6 > 128)
        throw config_error(fmt::format("--client-prefix6: {} is not in 1-128", raw.prefix_v6));
    c.clients.prefix_v4 = static_cast<std::uint8_t>(raw.prefix_v4);
    c.clients.prefix_v6 = static_cast<std::uint8_t>(raw.prefix_v6);
    if (raw.client_overflow == "default")
        c.clients.overflow_to_default = true;
    else if (raw.client_overflow == "drop")
        c.clients.overflow_to_default = false;
    else
        throw config_error(fmt::format("--client-overflow: '{}' is not default or drop", raw.client_overflow));
    if (c.clients.max_clients == 0 || c.clients.max_clients > (1U << 24))
        throw config_error(fmt::format("--max-clients: {} is not in 1-16777216", c.clients.max_clients));
    if (c.clients.idle_timeout_s < 0)
        throw config_error(fmt::format("--client-idle-timeout: {} is negative", c.clients.idle_timeout_s));
    if (c.clients.tick_s < 0.001 || c.clients.tick_s > 60)
        throw config_error(fmt::format("--tick: {} is not in 0.001-60 seconds", c.clients.tick_s));
    if (c.clients.history < 2 || c.clients.history > 1'000'000)
        throw config_error(fmt::format("--history: {} is not in 2-1000000", c.clients.history));
    if (c.switch_grace_us < 0 || c.switch_grace_us > 1e6)
        throw config_error(fmt::format("--switch-grace-us: {} is not in 0-1000000", c.switch_grace_us));
    if (!raw.shadow_ports.empty()) {
        // Same syntax as pairs, but a shadow port may serve several primaries.
        for (const auto& item : split(raw.shadow_ports, ',')) {
            const auto colon = item.find(':');
            if (colon == std::string::npos)
                throw config_error(fmt::format("--shadow-ports: '{}' is not A:S", item));
            const unsigned a = parse_unsigned(trim(item.substr(0, colon)), "--shadow-ports");
            const unsigned b = parse_unsigned(trim(item.substr(colon + 1)), "--shadow-ports");
            if (a >= 1024 || b >= 1024 || a == b)
                throw config_error(fmt::format("--shadow-ports: '{}' is not two different ports", item));
            c.shadow_ports.push_back({static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(b)});
        }
    }
    if (c.burst == 0 || c.burst > 512)
        throw config_error(fmt::format("--burst: {} is not in 1-512", c.burst));
    if (c.rxq > 16)
        throw config_error(fmt::format("--rxq: {} is more than 16", c.rxq));
    if (c.shadow_txq > 8)
        throw config_error(fmt::format("--shadow-txq: {} is more than 8", c.shadow_txq));
    if (c.rxd < 32 || c.txd < 32)
        throw config_error("--rxd/--txd: at least 32 descriptors per queue");
    if (c.traffic.rate_pps < 0)
        throw config_error(fmt::format("--traffic-rate: {} is negative", c.traffic.rate_pps));
    if (c.traffic.clients == 0 || c.traffic.clients > 1'000'000)
        throw config_error(fmt::format("--traffic-clients: {} is not in 1-1000000", c.traffic.clients));
    if (c.traffic.flows_per_client == 0 || c.traffic.flows_per_client > 65535)
        throw config_error(fmt::format("--traffic-flows: {} is not in 1-65535", c.traffic.flows_per_client));
    if (c.traffic.packet_size < 60 || c.traffic.packet_size > 1518)
        throw config_error(fmt::format("--packet-size: {} is not in 60-1518", c.traffic.packet_size));

    if (raw.policy == "predictive")
        c.snm.policy = snm_policy::predictive;
    else if (raw.policy == "reactive")
        c.snm.policy = snm_policy::reactive;
    else if (raw.policy == "off")
        c.snm.policy = snm_policy::off;
    else
        throw config_error(fmt::format("--policy: '{}' is not predictive, reactive or off", raw.policy));
    if (!raw.primary_capacity.empty())
        c.snm.primary_capacity = parse_port_capacities(raw.primary_capacity, "--primary-capacity");
    if (!raw.shadow_capacity.empty())
        c.snm.shadow_capacity = parse_port_capacities(raw.shadow_capacity, "--shadow-capacity");
    const auto in_range = [](double v, double lo, double hi, const char* what) {
        if (!(v >= lo && v <= hi))
            throw config_error(fmt::format("{}: {} is not in {}-{}", what, v, lo, hi));
    };
    in_range(c.snm.capacity_burst_ms, 0.01, 10'000, "--capacity-burst-ms");
    in_range(c.snm.horizon_s, 0, 3600, "--horizon");
    in_range(c.snm.quantile, 0.5, 0.9999, "--quantile");
    in_range(c.snm.high_watermark, 0.05, 1, "--high-watermark");
    in_range(c.snm.low_watermark, 0, 1, "--low-watermark");
    if (c.snm.low_watermark >= c.snm.high_watermark)
        throw config_error(fmt::format("--low-watermark: {} is not below --high-watermark {}", c.snm.low_watermark,
                                       c.snm.high_watermark));
    in_range(c.snm.sustain_s, 0, 3600, "--sustain");
    in_range(c.snm.min_interval_s, 0, 86400, "--min-switch-interval");
    in_range(c.snm.headroom, 1, 10, "--headroom");
    in_range(c.snm.profile_window_s, 0, 86400, "--profile-window");
    in_range(c.snm.history_flush_s, 0.01, 3600, "--history-flush");
    if (!raw.shadow_reserve.empty())
        c.snm.shadow_reserve = parse_port_capacities(raw.shadow_reserve, "--shadow-reserve");
    if (c.snm.reserve_steps < 1 || c.snm.reserve_steps > 64)
        throw config_error(fmt::format("--reserve-steps: {} is not in 1-64", c.snm.reserve_steps));
    in_range(c.snm.scale_hook_timeout_s, 0.01, 3600, "--scale-hook-timeout");

    if (raw.failover == "shadownet")
        c.failover.mode = failover_mode::shadownet;
    else if (raw.failover == "bond")
        c.failover.mode = failover_mode::bond;
    else if (raw.failover == "off")
        c.failover.mode = failover_mode::off;
    else
        throw config_error(fmt::format("--failover: '{}' is not shadownet, bond or off", raw.failover));
    in_range(c.failover.poll_us, 1, 1'000'000, "--failover-poll-us");
    in_range(c.failover.stall_ms, 0.01, 60'000, "--failover-stall-ms");
    in_range(c.failover.rx_silence_ms, 0, 60'000, "--failover-rx-silence-ms");
    in_range(c.failover.holddown_ms, 0, 3'600'000, "--failover-holddown-ms");
    const auto port_list = [](const std::string& text, const char* what) {
        std::vector<std::uint16_t> out;
        for (const unsigned p : parse_uint_list(text, what)) {
            if (p >= 1024)
                throw config_error(fmt::format("{}: port {} is out of range", what, p));
            out.push_back(static_cast<std::uint16_t>(p));
        }
        return out;
    };
    if (!raw.spare_ports.empty())
        c.spare_ports = port_list(raw.spare_ports, "--spare-ports");
    if (!raw.traffic_ports.empty())
        c.traffic.ports = port_list(raw.traffic_ports, "--traffic-ports");
    if (!c.snm.scale_hook.empty() && ::access(c.snm.scale_hook.c_str(), X_OK) != 0)
        throw config_error(fmt::format("--scale-hook: '{}' is not an executable", c.snm.scale_hook));
}

} // namespace

rate_spec parse_rate(const std::string& text, const std::string& what)
{
    static constexpr struct {
        std::string_view suffix;
        double scale;
        bool bits;
    } units[] = {
        {"Mpps", 1e6, false}, {"kpps", 1e3, false}, {"pps", 1, false}, {"Gbit", 1e9, true},
        {"Mbit", 1e6, true},  {"kbit", 1e3, true},  {"bit", 1, true},
    };
    rate_spec out;
    const auto parts = split(text, '+');
    if (parts.empty() || parts.size() > 2)
        throw config_error(fmt::format("{}: '{}' is not a rate such as 50kpps, 100Mbit or 10kpps+80Mbit", what, text));
    for (const auto& part : parts) {
        std::string_view number = part;
        double scale = 1;
        bool bits = false;
        for (const auto& u : units)
            if (number.size() > u.suffix.size() && number.ends_with(u.suffix)) {
                number.remove_suffix(u.suffix.size());
                scale = u.scale;
                bits = u.bits;
                break;
            }
        double v = 0;
        const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
        if (number.empty() || ec != std::errc() || ptr != number.data() + number.size() || !(v > 0) ||
            v * scale > 1e13)
            throw config_error(fmt::format("{}: '{}' is not a rate such as 50kpps, 100Mbit or 10kpps+80Mbit", what,
                                           part));
        double& slot = bits ? out.bps : out.pps;
        if (slot > 0)
            throw config_error(fmt::format("{}: '{}' gives the {} rate twice", what, text, bits ? "bit" : "packet"));
        slot = v * scale;
    }
    return out;
}

std::vector<port_capacity> parse_port_capacities(const std::string& text, const std::string& what)
{
    std::vector<port_capacity> out;
    for (const auto& item : split(text, ',')) {
        const auto colon = item.find(':');
        if (colon == std::string::npos)
            throw config_error(fmt::format("{}: '{}' is not PORT:RATE or all:RATE", what, item));
        port_capacity pc;
        const std::string port = trim(item.substr(0, colon));
        if (port != "all") {
            const unsigned p = parse_unsigned(port, what);
            if (p >= 1024)
                throw config_error(fmt::format("{}: port {} is out of range", what, p));
            pc.port = static_cast<std::uint16_t>(p);
        }
        pc.rate = parse_rate(trim(item.substr(colon + 1)), what);
        for (const auto& seen : out)
            if (seen.port == pc.port)
                throw config_error(fmt::format("{}: port {} is given twice", what, port));
        out.push_back(pc);
    }
    if (out.empty())
        throw config_error(fmt::format("{}: no PORT:RATE given", what));
    return out;
}

namespace {

// Boost's messages are good but not one line with our program name; keep them
// short and name the option.
std::string describe(const po::error& e)
{
    return e.what();
}

} // namespace

parsed_options parse_app_options(std::span<const std::string> args)
{
    parsed_options out;
    raw_options raw;
    const auto desc = make_description(out.config, raw);
    po::variables_map vm;
    try {
        std::vector<std::string> argv(args.begin(), args.end());
        // Without allow_unguessed only exact or unambiguous prefixes match; we want exact names.
        const auto style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
        po::store(po::command_line_parser(argv).options(desc).style(style).run(), vm);
        if (vm.count("config")) {
            const auto path = vm["config"].as<std::string>();
            std::ifstream in(path);
            if (!in)
                throw config_error(fmt::format("--config: cannot open '{}'", path));
            try {
                po::store(po::parse_config_file(in, desc, false), vm);
            } catch (const po::error& e) {
                throw config_error(fmt::format("--config {}: {}", path, describe(e)));
            }
        }
        po::notify(vm);
    } catch (const po::unknown_option& e) {
        std::string hint;
        const std::string opt = e.get_option_name();
        if (opt.size() == 2 && opt[0] == '-')
            hint = " (EAL arguments such as -l go before '--')";
        throw config_error(fmt::format("unknown option '{}'{}", opt, hint));
    } catch (const po::error& e) {
        throw config_error(describe(e));
    }
    out.help = vm.count("help") > 0;
    out.version = vm.count("version") > 0;
    validate(out.config, raw);
    return out;
}

std::string app_options_help()
{
    app_config c;
    raw_options raw;
    std::ostringstream s;
    s << make_description(c, raw);
    return s.str();
}

split_args split_command_line(int argc, const char* const* argv)
{
    split_args out;
    out.eal.emplace_back(argc > 0 && argv[0] ? argv[0] : "shadownet");
    int dash = -1;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--") {
            dash = i;
            break;
        }
    }
    if (dash < 0) {
        for (int i = 1; i < argc; ++i)
            out.app.emplace_back(argv[i]);
        return out;
    }
    // A bare `--` (nothing before it) gives no EAL arguments: the embedded
    // default applies, as with no `--` at all.
    out.eal_given = dash > 1;
    for (int i = 1; i < dash; ++i)
        out.eal.emplace_back(argv[i]);
    for (int i = dash + 1; i < argc; ++i)
        out.app.emplace_back(argv[i]);
    return out;
}

std::vector<std::string> embedded_eal_args(const std::string& argv0, std::span<const unsigned> allowed_cpus,
                                           const std::string& file_prefix, unsigned max_lcores)
{
    if (allowed_cpus.empty())
        throw config_error("no CPU is available to run on");
    std::vector<unsigned> cpus(allowed_cpus.begin(), allowed_cpus.end());
    std::sort(cpus.begin(), cpus.end());
    cpus.resize(std::min<std::size_t>(cpus.size(), std::max(1U, max_lcores)));
    // Lcore i runs on the i-th allowed CPU, so lcore ids stay 0..n-1 wherever we are pinned.
    std::string lcores;
    for (std::size_t i = 0; i < cpus.size(); ++i)
        lcores += fmt::format("{}{}@{}", i ? "," : "", i, cpus[i]);
    return {argv0,        "--no-huge",   "-m", "256", "--no-pci", "--file-prefix", file_prefix,
            "--lcores",   lcores,
            // 22.11 warns at every start that the legacy telemetry socket is
            // unused. EAL applies the pattern levels last to first, so the
            // specific one goes before the catch-all.
            "--log-level", "lib.telemetry:error", "--log-level", "*:notice"};
}

std::vector<unsigned> parse_uint_list(const std::string& text, const std::string& what)
{
    std::vector<unsigned> out;
    for (const auto& item : split(text, ',')) {
        if (item.empty())
            throw config_error(fmt::format("{}: empty item in '{}'", what, text));
        const auto dash = item.find('-');
        if (dash == std::string::npos) {
            out.push_back(parse_unsigned(item, what));
            continue;
        }
        const unsigned lo = parse_unsigned(trim(item.substr(0, dash)), what);
        const unsigned hi = parse_unsigned(trim(item.substr(dash + 1)), what);
        if (hi < lo || hi - lo > 4096)
            throw config_error(fmt::format("{}: bad range '{}'", what, item));
        for (unsigned v = lo; v <= hi; ++v)
            out.push_back(v);
    }
    std::vector<unsigned> sorted = out;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
        throw config_error(fmt::format("{}: '{}' names an item twice", what, text));
    return out;
}

std::vector<port_pair> parse_port_pairs(const std::string& text)
{
    std::vector<port_pair> out;
    for (const auto& item : split(text, ',')) {
        const auto colon = item.find(':');
        if (colon == std::string::npos)
            throw config_error(fmt::format("--port-pairs: '{}' is not A:B", item));
        const unsigned a = parse_unsigned(trim(item.substr(0, colon)), "--port-pairs");
        const unsigned b = parse_unsigned(trim(item.substr(colon + 1)), "--port-pairs");
        if (a >= 1024 || b >= 1024)
            throw config_error(fmt::format("--port-pairs: '{}' is out of range", item));
        for (const auto& p : out)
            if (p.a == a || p.b == a || p.a == b || p.b == b)
                throw config_error(fmt::format("--port-pairs: port in '{}' is already paired", item));
        out.push_back({static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(b)});
    }
    return out;
}

} // namespace shadownet
