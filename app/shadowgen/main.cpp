// shadowgen: the pktgen-style load generator. It sends per-client demand (a
// scenario file, or --clients/--rate for a quick run) out of its TX ports and
// measures what comes back on its RX ports: per client sent, received, lost,
// duplicated and reordered packets, and latency.
//
// Usage: shadowgen [EAL arguments --] [options]. Without EAL arguments it runs
// against nothing useful (a net_null port); give it ports, e.g. memif:
//   shadowgen -l 0-1 --no-huge -m 512 --no-pci --file-prefix gen
//       --vdev net_memif0,role=client,socket=/tmp/shadownet.sock -- --rate 100000 --duration 5
//
// Threads: the main lcore runs the ticks, RX, the progress line and TX shard
// 0; with --tx-lcores N, worker lcores 1..N-1 (in EAL order) each run one more
// TX shard on their own TX queue (the engine's thread contract, engine.hpp).
// `workers_run` is the only other thing shared: the main lcore clears it
// (relaxed; the workers need no data from it) and then waits for them
// (dpdk::lcore_launcher, which also clears it when an exception unwinds).
//
// Start-up: nothing is sent before every port's link is up and each RX queue
// has been polled once. A memif client's link comes up after the server's,
// and the server can only transmit into slots the client's rx_burst has
// handed it; traffic sent as soon as the TX port connects would reach the
// appliance while its path back to us is not ready, and the appliance would
// drop it (tx_full).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "shadownet/core/config.hpp"
#include "shadownet/core/error.hpp"
#include "shadownet/core/json.hpp"
#include "shadownet/dpdk/eal.hpp"
#include "shadownet/dpdk/lcore.hpp"
#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/gen/engine.hpp"

namespace po = boost::program_options;
using namespace shadownet;

namespace {

std::atomic<bool> stop_requested{false};
std::atomic<bool> workers_run{true};

struct tx_worker {
    gen::engine* e;
    unsigned shard;
};

int tx_worker_main(void* arg)
{
    const auto* w = static_cast<const tx_worker*>(arg);
    while (workers_run.load(std::memory_order_relaxed))
        w->e->poll_tx(w->shard);
    return 0;
}

extern "C" void on_signal(int sig)
{
    stop_requested.store(true, std::memory_order_relaxed);
    std::signal(sig, SIG_DFL);
}

struct options {
    std::string scenario_file;
    std::vector<std::string> overrides;
    std::uint32_t clients = 16;
    double rate = 100'000;
    double duration = 10;
    std::uint16_t size = 64;
    std::uint32_t flows = 4;
    std::string tx_ports = "0";
    std::string rx_ports;
    std::string summary_json;
    std::string timeseries_csv;
    double drain_s = 0.5;
    double linger_s = 0;
    double link_wait_s = 10;
    unsigned tx_lcores = 1;
    std::size_t latency_clients = gen::engine::default_latency_clients;
    bool quiet = false;
};

options parse(const std::vector<std::string>& args, bool& help)
{
    options o;
    po::options_description d("shadowgen [EAL arguments --] [options]");
    d.add_options()
        ("help,h", "print this help")
        ("scenario", po::value(&o.scenario_file)->value_name("FILE"), "scenario file (docs/generator.md)")
        ("set", po::value(&o.overrides)->value_name("KEY=VALUE")->composing(),
         "override a scenario setting: duration=5, web.rate=2000 (repeatable)")
        ("clients", po::value(&o.clients)->value_name("N"), "without --scenario: clients")
        ("rate", po::value(&o.rate)->value_name("PPS"), "without --scenario: total packets per second")
        ("size", po::value(&o.size)->value_name("BYTES"), "without --scenario: frame size (60-1518)")
        ("flows", po::value(&o.flows)->value_name("N"), "without --scenario: UDP flows per client")
        ("duration", po::value(&o.duration)->value_name("SECONDS"), "run this long (overrides the scenario's)")
        ("tx-ports", po::value(&o.tx_ports)->value_name("LIST"), "ports to send on (default 0)")
        ("rx-ports", po::value(&o.rx_ports)->value_name("LIST"), "ports to receive on (default: the TX ports)")
        ("tx-lcores", po::value(&o.tx_lcores)->value_name("N"),
         "lcores that send (the main one and N-1 workers), one TX queue each per TX port (default 1)")
        ("drain", po::value(&o.drain_s)->value_name("SECONDS"), "after sending stops, wait this long for stragglers")
        ("link-wait", po::value(&o.link_wait_s)->value_name("SECONDS"),
         "before sending, wait this long for every port's link (memif: the appliance) to come up; 0: do not wait "
         "(default 10)")
        ("latency-clients", po::value(&o.latency_clients)->value_name("N"),
         "the first N clients get a latency histogram of their own, 1.1 KiB each (default 16384)")
        ("summary-json", po::value(&o.summary_json)->value_name("FILE"), "write per-client results as JSON")
        ("linger", po::value(&o.linger_s)->value_name("SECONDS"),
         "after writing the results, keep the ports open this long or until SIGINT/SIGTERM (memif: let the "
         "appliance stop first)")
        ("timeseries-csv", po::value(&o.timeseries_csv)->value_name("FILE"), "write t,group,offered,sent,received per tick")
        ("quiet,q", po::bool_switch(&o.quiet), "no progress lines");
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(d)
                      .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
                      .run(),
                  vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw config_error(e.what());
    }
    help = vm.count("help") > 0;
    if (help)
        fmt::print("{}", (std::ostringstream() << d).str());
    if (!vm.count("duration"))
        o.duration = -1; // the scenario decides
    return o;
}

std::string summary(const gen::engine& e, double elapsed)
{
    const auto t = e.totals();
    json_writer w;
    w.begin_object();
    w.member("elapsed_s", elapsed);
    w.key("totals").begin_object();
    gen::write_traffic_json(w, t, e.latency());
    w.end_object();
    w.key("clients").begin_array();
    for (std::size_t i = 0; i < e.client_count(); ++i) {
        const auto& s = e.stats_of(i);
        w.begin_object();
        w.member("index", std::uint64_t{i});
        w.member("group", e.plan().groups[e.group_of(i)].name);
        w.member("offered", s.offered);
        w.member("sent", s.sent);
        w.member("unstamped", s.unstamped);
        w.member("received", s.received);
        w.member("lost", s.lost());
        w.member("duplicates", s.duplicates);
        w.member("reordered", s.reordered);
        if (const auto* h = e.latency_of(i))
            gen::write_latency_json(w, *h);
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return w.str() + "\n";
}

int run(const split_args& args, const options& o)
{
    gen::scenario sc = o.scenario_file.empty() ? gen::simple_scenario(o.clients, o.rate, 10) : gen::load_scenario(o.scenario_file);
    if (o.scenario_file.empty()) {
        sc.groups.front().size = o.size;
        sc.groups.front().flows = o.flows;
    }
    for (const auto& kv : o.overrides)
        gen::apply_override(sc, kv);
    if (o.duration >= 0)
        sc.duration = o.duration;
    if (!o.summary_json.empty() && !std::ofstream(o.summary_json, std::ios::app))
        throw config_error(fmt::format("--summary-json: cannot write '{}'", o.summary_json));

    std::vector<std::string> eal_args = args.eal;
    bool owns = false;
    if (!args.eal_given) {
        eal_args = embedded_eal_args(args.eal.front(), dpdk::allowed_cpus(), dpdk::unique_file_prefix("shadowgen"), 1);
        eal_args.push_back("--vdev");
        eal_args.push_back("net_null0");
        owns = true;
    }
    dpdk::eal_guard eal(eal_args, owns);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    const auto existing = dpdk::ethdev_ports();
    const auto pick = [&](const std::string& list, const char* what) {
        std::vector<std::uint16_t> out;
        for (const auto p : parse_uint_list(list, what)) {
            if (std::find(existing.begin(), existing.end(), p) == existing.end())
                throw config_error(fmt::format("{}: port {} does not exist ({} ports)", what, p, existing.size()));
            out.push_back(static_cast<std::uint16_t>(p));
        }
        return out;
    };
    if (o.tx_lcores < 1 || o.tx_lcores > dpdk::lcore_count())
        throw config_error(fmt::format("--tx-lcores {}: the EAL has {} lcores (-l)", o.tx_lcores, dpdk::lcore_count()));
    const auto tx_ids = pick(o.tx_ports, "--tx-ports");
    const auto rx_ids = pick(o.rx_ports.empty() ? o.tx_ports : o.rx_ports, "--rx-ports");
    auto pool = dpdk::mempool::pktmbuf("shadowgen_pkts", 16383, 256, dpdk::local_socket());
    std::vector<dpdk::port> ports;
    std::vector<gen::engine_port> tx;
    std::vector<gen::engine_port> rx;
    std::vector<std::uint16_t> all = tx_ids;
    for (const auto p : rx_ids)
        if (std::find(all.begin(), all.end(), p) == all.end())
            all.push_back(p);
    // A TX port gets a queue per TX lcore and as many RX queues (a looped-back
    // net_ring port returns TX queue q on RX queue q).
    const auto queues_of = [&](std::uint16_t p) {
        return std::find(tx_ids.begin(), tx_ids.end(), p) != tx_ids.end() ? static_cast<std::uint16_t>(o.tx_lcores)
                                                                         : std::uint16_t{1};
    };
    for (const auto p : all) {
        dpdk::port_setup s;
        s.txq = queues_of(p);
        s.rxq = queues_of(p);
        ports.emplace_back(p, s, pool.get());
        ports.back().start();
    }
    for (const auto p : tx_ids)
        tx.push_back({p, queues_of(p), queues_of(p)});
    for (const auto p : rx_ids)
        rx.push_back({p, queues_of(p), queues_of(p)});
    gen::engine e(sc, tx, rx, pool.get(), 32, o.tx_lcores, o.latency_clients);
    if (o.link_wait_s > 0) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.link_wait_s);
        const auto down = [&ports] {
            return std::find_if(ports.begin(), ports.end(), [](const dpdk::port& p) { return !p.link().up; });
        };
        for (auto p = down(); p != ports.end(); p = down()) {
            if (stop_requested.load(std::memory_order_relaxed))
                break; // the loop below ends at once and writes what there is
            if (std::chrono::steady_clock::now() >= until)
                throw std::runtime_error(fmt::format("port {} ({}): link still down after {} s (--link-wait)",
                                                     p->id(), p->name(), o.link_wait_s));
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    // One poll of every RX queue before the first packet leaves: a memif
    // client's rx_burst is what hands the server (the appliance) the slots it
    // transmits into.
    e.receive();
    std::vector<tx_worker> workers;
    workers.reserve(o.tx_lcores);
    dpdk::lcore_launcher launcher([] { workers_run.store(false, std::memory_order_relaxed); });
    for (const unsigned lcore : dpdk::worker_lcores()) {
        if (workers.size() + 1 == o.tx_lcores)
            break;
        workers.push_back({&e, static_cast<unsigned>(workers.size() + 1)});
        launcher.launch(lcore, tx_worker_main, &workers.back());
    }
    if (!o.quiet)
        fmt::print("shadowgen: {} clients in {} groups, {} s, tx ports {}, rx ports {}, {} TX lcores\n",
                   sc.client_count(), sc.groups.size(), sc.duration, o.tx_ports,
                   o.rx_ports.empty() ? o.tx_ports : o.rx_ports, o.tx_lcores);

    const auto t0 = std::chrono::steady_clock::now();
    const auto since = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    double next_tick = 0;
    double next_print = 1;
    bool sending = true;
    double stopped_at = -1;
    while (!stop_requested.load(std::memory_order_relaxed)) {
        const double t = since();
        if (t >= next_tick) {
            sending = e.tick(t) && sending;
            next_tick += sc.tick;
            if (!sending && stopped_at < 0)
                stopped_at = t;
        }
        e.poll();
        if (stopped_at >= 0 && t - stopped_at >= o.drain_s)
            break;
        if (!o.quiet && t >= next_print) {
            const auto tot = e.totals();
            fmt::print("[{:6.1f}s] offered {:.0f} pps | sent {} received {} lost {} reordered {} | p99 {} us\n", t,
                       e.current_rate(), tot.sent, tot.received, tot.lost(), tot.reordered,
                       e.latency().quantile(0.99) / 1000);
            std::fflush(stdout);
            next_print += 1;
        }
    }
    e.stop_sending();
    workers_run.store(false, std::memory_order_relaxed);
    launcher.wait_all();
    const double elapsed = since();
    const auto tot = e.totals();
    fmt::print("shadowgen: sent {} received {} lost {} duplicates {} reordered {} backpressure {}; latency p50 {} us "
               "p99 {} us max {} us\n",
               tot.sent, tot.received, tot.lost(), tot.duplicates, tot.reordered, tot.backpressure,
               e.latency().quantile(0.5) / 1000, e.latency().quantile(0.99) / 1000, e.latency().max() / 1000);
    if (!o.summary_json.empty())
        std::ofstream(o.summary_json, std::ios::trunc) << summary(e, elapsed);
    if (!o.timeseries_csv.empty()) {
        std::ofstream csv(o.timeseries_csv, std::ios::trunc);
        csv << "t,group,offered_pps,sent_pps,received_pps\n";
        for (const auto& r : e.series())
            csv << fmt::format("{:.3f},{},{:.1f},{:.1f},{:.1f}\n", r.t, sc.groups[r.group].name, r.offered_pps,
                               r.sent_pps, r.received_pps);
    }
    // DPDK 22.11's memif PMD unmaps a connection's regions from its control
    // thread when the peer goes away, while the peer's lcores may still be
    // reading them in rx_burst: the appliance can crash when shadowgen exits
    // under it. --linger keeps this side connected until whoever runs the
    // pair has stopped the appliance and then signals us.
    if (o.linger_s > 0) {
        stop_requested.store(false, std::memory_order_relaxed);
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        const double until = since() + o.linger_s;
        while (!stop_requested.load(std::memory_order_relaxed) && since() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        const auto args = split_command_line(argc, argv);
        bool help = false;
        const auto o = parse(args.app, help);
        if (help)
            return 0;
        return run(args, o);
    } catch (const config_error& e) {
        fmt::print(stderr, "shadowgen: error: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "shadowgen: error: {}\n", e.what());
        return 1;
    }
}
