// The `shadownet` command line front end. It only wires: parse, EAL, appliance,
// the control loop, reports.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include <unistd.h>

#include "shadownet/control/access.hpp"
#include "shadownet/control/appliance.hpp"
#include "shadownet/control/appliance_target.hpp"
#include "shadownet/dpdk/lcore.hpp"
#include "shadownet/control/command_queue.hpp"
#include "shadownet/control/console.hpp"
#include "shadownet/control/control_socket.hpp"
#include "shadownet/control/telemetry.hpp"
#include "shadownet/core/control_protocol.hpp"
#include "shadownet/core/error.hpp"
#include "shadownet/dpdk/eal.hpp"

namespace shadownet::control {

namespace {

// Written by the signal handler, read by the control loop.
std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_stop_signal(int sig)
{
    stop_requested.store(true, std::memory_order_relaxed);
    // A second Ctrl-C while we drain and report ends the process the usual way.
    std::signal(sig, SIG_DFL);
}

void install_signal_handlers()
{
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

void write_file(const std::string& path, const std::string& text)
{
    std::ofstream out(path, std::ios::trunc);
    if (!out)
        throw config_error(fmt::format("--summary-json: cannot write '{}'", path));
    out << text;
    if (!out.flush())
        throw config_error(fmt::format("--summary-json: cannot write '{}'", path));
}

// Fails before any traffic flows rather than after a long run.
void check_writable(const std::string& path)
{
    std::ofstream out(path, std::ios::app);
    if (!out)
        throw config_error(fmt::format("--summary-json: cannot write '{}'", path));
}

int run(const split_args& args, app_config cfg)
{
    if (!cfg.summary_json.empty())
        check_writable(cfg.summary_json);
    // The console's settings fail here, before EAL and traffic, with exit 2.
    const auto& con = cfg.console;
    access_groups named;
    if (!con.control_group.empty())
        named.control = group_id(con.control_group, "--control-group");
    if (!con.monitor_group.empty())
        named.monitor = group_id(con.monitor_group, "--monitor-group");
    if (!con.operator_group.empty())
        named.operators = group_id(con.operator_group, "--operator-group");
    const access_setup access = resolve_access(named, ::getegid());
    control_socket_config sock_cfg;
    sock_cfg.group = access.socket_group;
    sock_cfg.policy = access.policy;
    if (!con.cmdline_file.empty() && !std::ifstream(con.cmdline_file))
        throw config_error(fmt::format("--cmdline-file: cannot open '{}'", con.cmdline_file));
    std::unique_ptr<audit_log> audit;
    if (!con.audit_log.empty())
        audit = std::make_unique<audit_log>(con.audit_log);

    std::vector<std::string> eal_args = args.eal;
    bool owns_runtime_dir = false;
    if (!args.eal_given) {
        eal_args = embedded_eal_args(args.eal.front(), dpdk::allowed_cpus(), dpdk::unique_file_prefix("shadownet"));
        owns_runtime_dir = true;
        if (!cfg.virtual_ports)
            cfg.virtual_ports = 2;
    }
    dpdk::eal_guard eal(eal_args, owns_runtime_dir);
    install_signal_handlers();

    appliance app(cfg);
    if (audit) {
        // The appliance's own changes (scaling) go to the audit log as
        // changes by the appliance itself.
        const peer_identity self = identify_peer(::getuid(), ::getgid(), ::getpid());
        app.set_event_sink([&audit, self](const std::string& action, const std::string& result) {
            audit->write(format_audit_line(std::chrono::system_clock::now(), self, "appliance", action, result));
        });
    }
    const auto& plan = app.plan();
    if (!cfg.quiet) {
        const auto list = [](const std::vector<unsigned>& v) {
            std::string out;
            for (const auto l : v)
                out += fmt::format("{}{}", out.empty() ? "" : ",", l);
            return out;
        };
        const std::string lcores =
            plan.mode == forwarding_mode::pipeline
                ? fmt::format("pipeline: rx lcores {}, worker lcores {}", list(plan.rx_lcores), list(plan.tx_lcores))
                : fmt::format("run-to-completion on lcores {}{}", list(plan.fwd_lcores),
                              plan.main_forwards ? " (the main lcore)" : "");
        const std::string traffic =
            app.has_builtin_traffic()
                ? fmt::format(", built-in traffic at {} pps",
                              cfg.traffic.rate_pps > 0 ? fmt::format("{:.0f}", cfg.traffic.rate_pps) : std::string("max"))
                : std::string();
        fmt::print("shadownet: {} ports, {} pairs, {}; {} RX / {} TX + {} shadow TX queues per port; up to {} "
                   "clients{}\n",
                   plan.ports.size(), plan.pairs.size(), lcores, plan.rxq, plan.txq, plan.shadow_txq(),
                   cfg.clients.max_clients, traffic);
        std::fflush(stdout);
    }
    app.start();
    register_telemetry();
    // One snapshot a period serves both the progress line and telemetry,
    // which reports every client, in id order.
    const auto take = [&app] { return std::make_shared<const stats_snapshot>(app.snapshot(SIZE_MAX, false)); };
    auto prev = take();
    publish_telemetry(prev);

    const auto t0 = std::chrono::steady_clock::now();
    const auto elapsed = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    auto next_progress = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(cfg.stats_period_s > 0 ? cfg.stats_period_s : 1.0));

    // Commands from every front end run here, on the control lcore, through
    // the one command layer; other threads queue them (command_queue).
    appliance_target target(app);
    command_queue queue;
    const peer_identity self = identify_peer(::getuid(), ::getgid(), ::getpid());
    const auto audit_as = [&audit, &self](std::string_view via) -> command_queue::audit_fn {
        return [&audit, &self, via](const parsed_command& c, const reply& r) {
            if (audit)
                audit->write(format_audit_line(std::chrono::system_clock::now(), self, via, c.line, audit_result(r)));
        };
    };
    // An idle control loop naps, but never past the next look at the ports (failover).
    const auto idle_sleep = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(std::min(200e-6, cfg.failover.poll_us * 1e-6)));
    const auto print_reply = [](const reply& r) {
        if (!r.ok) {
            fmt::print(stderr, "shadownet: error: {}\n", r.text);
            std::fflush(stderr);
        } else if (!r.text.empty()) {
            fmt::print("{}{}", r.text, r.text.back() == '\n' ? "" : "\n");
            std::fflush(stdout);
        }
    };

    // Whatever ends the run: a signal, `quit` from any front end, --duration.
    const auto stopping = [&target, &elapsed, &cfg] {
        return stop_requested.load(std::memory_order_relaxed) || target.quit_requested() ||
               (cfg.duration_s > 0 && elapsed() >= cfg.duration_s);
    };
    // One turn of the control loop: forward, run what the console and the
    // socket queued, the progress line and telemetry once a period. Returns
    // whether there was work. `wait` runs turns too, so a script's wait keeps
    // the appliance whole (socket, telemetry, --duration), and may recurse
    // once: a command run from inside a wait cannot itself be a `wait`
    // (the socket refuses it, and the console's thread is blocked on its own).
    std::function<bool(double)> keep_running;
    const auto turn = [&]() -> bool {
        bool worked = app.poll();
        worked = queue.drain(target, keep_running) > 0 || worked;
        if (!stopping() && std::chrono::steady_clock::now() >= next_progress) {
            auto cur = take();
            if (cfg.stats_period_s > 0 && !cfg.quiet && !con.interactive) {
                fmt::print("{}\n", format_progress(*prev, *cur, elapsed()));
                std::fflush(stdout);
            }
            publish_telemetry(cur);
            prev = std::move(cur);
            next_progress += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(cfg.stats_period_s > 0 ? cfg.stats_period_s : 1.0));
        }
        return worked;
    };
    keep_running = [&](double seconds) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                                   std::chrono::duration<double>(seconds));
        while (std::chrono::steady_clock::now() < until) {
            if (stopping())
                return false;
            if (!turn())
                std::this_thread::sleep_for(idle_sleep);
        }
        return true;
    };

    std::optional<control_socket> server;
    if (con.control_socket != "none") {
        sock_cfg.path = con.control_socket.empty() ? fmt::format("{}/{}", eal.runtime_dir(), ctl::socket_name)
                                                   : con.control_socket;
        server.emplace(sock_cfg, queue, audit.get());
    }
    int exit_code = 0;
    bool quit = false;
    if (!con.cmdline_file.empty()) {
        exec_context ctx{target, output_format::text, 0, audit_as("script"), print_reply, keep_running};
        const auto res = run_script_file(ctx, con.cmdline_file, con.stop_on_error, print_reply);
        if (res.stopped && con.stop_on_error)
            exit_code = 1;
        // The script is the whole run unless a console follows it (issue 6):
        // a script that wants the appliance to run longer says `wait`.
        quit = !con.interactive || exit_code != 0 || res.quit || target.quit_requested();
    }
    std::optional<console> terminal;
    if (con.interactive && !quit)
        terminal.emplace(queue, audit_as("console"));

    while (!quit && !stopping())
        if (!turn())
            std::this_thread::sleep_for(idle_sleep);
    // Front ends first: nothing may wait on a control loop that has left.
    queue.close();
    terminal.reset();
    server.reset();
    app.stop();
    publish_telemetry(nullptr);
    const double ran = elapsed();
    const auto final_stats = app.snapshot();
    fmt::print("{}", format_final(final_stats, ran));
    std::fflush(stdout);
    if (!cfg.summary_json.empty())
        write_file(cfg.summary_json, summary_json(final_stats, ran, dpdk::tsc_hz()));
    return exit_code;
}

} // namespace

int run_shadownet(int argc, const char* const* argv)
{
    try {
        const auto args = split_command_line(argc, argv);
        const auto parsed = parse_app_options(args.app);
        if (parsed.help) {
            fmt::print("usage: shadownet [EAL arguments --] [options]\n\n"
                       "Without EAL arguments (no '--', or nothing before it) shadownet runs its\n"
                       "embedded default: two virtual ports with built-in traffic, no hugepages, no PCI.\n\n{}",
                       app_options_help());
            return 0;
        }
        if (parsed.version) {
            fmt::print("shadownet {}\n", SHADOWNET_VERSION);
            return 0;
        }
        return run(args, parsed.config);
    } catch (const config_error& e) {
        fmt::print(stderr, "shadownet: error: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "shadownet: error: {}\n", e.what());
        return 1;
    }
}

} // namespace shadownet::control
