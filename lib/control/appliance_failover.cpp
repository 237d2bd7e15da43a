// The appliance's side of failover (docs/resilience.md): a monitor thread
// samples the ports, lets snm::failover decide, and stores the decisions into
// the fast path's egress table; the control lcore's actions (set link, port
// fail, switchover, views) share that state under failover_mutex_.
#include <algorithm>
#include <stdexcept>

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

#include <fmt/format.h>

#include "shadownet/control/appliance.hpp"

namespace shadownet::control {

namespace {

const char* mode_name(failover_mode m) noexcept
{
    switch (m) {
    case failover_mode::shadownet: return "shadownet";
    case failover_mode::bond: return "bond";
    case failover_mode::off: return "off";
    }
    return "?";
}

} // namespace

void appliance::setup_failover()
{
    egress_ = std::make_unique<dataplane::egress_table>();
    // One egress per port a pair forwards to, with the shadow the plan gives it.
    std::vector<snm::egress_def> defs;
    for (const auto in : plan_.rx_ports) {
        const std::uint16_t out = plan_.peer_of(in);
        if (std::none_of(defs.begin(), defs.end(), [out](const snm::egress_def& d) { return d.port == out; }))
            defs.push_back({out, plan_.shadow_peer_of(in)});
    }
    snm::failover_config fc;
    fc.enabled = cfg_.failover.mode == failover_mode::shadownet;
    fc.stall_s = cfg_.failover.stall_ms * 1e-3;
    fc.rx_silence_s = cfg_.failover.rx_silence_ms * 1e-3;
    fc.holddown_s = cfg_.failover.holddown_ms * 1e-3;
    fc.revert = cfg_.failover.revert;
    failover_ = std::make_unique<snm::failover>(fc, std::move(defs), plan_.spare_ports);
    for (const auto& r : failover_->initial_roles())
        egress_->set_role(r.egress, {static_cast<std::uint8_t>(r.primary), static_cast<std::uint8_t>(r.shadow), r.epoch});
}

const dpdk::port* appliance::find_port(std::uint16_t id) const noexcept
{
    for (const auto& p : ports_)
        if (p.id() == id)
            return &p;
    return nullptr;
}

dpdk::port* appliance::find_port(std::uint16_t id) noexcept
{
    for (auto& p : ports_)
        if (p.id() == id)
            return &p;
    return nullptr;
}

dpdk::vcable* appliance::cable_of(std::uint16_t side_a) const noexcept
{
    for (const auto& c : cables_)
        if (c->side_a() == side_a)
            return c.get();
    return nullptr;
}

void appliance::monitor_loop()
{
    pthread_setname_np(pthread_self(), "sn-failover");
    // On the control lcore's CPUs, never on a forwarding core; woken on time
    // (no timer slack) and, where the process may, ahead of the busy-polling
    // threads sharing those CPUs (SCHED_FIFO): a look at the ports takes a
    // few microseconds every --failover-poll-us.
    dpdk::pin_to_main_lcore_cpus();
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    sched_param sp{};
    sp.sched_priority = 1;
    const bool realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
    {
        std::lock_guard lock(failover_mutex_);
        monitor_priority_ = realtime ? "real-time (SCHED_FIFO 1)" : "normal (no permission for SCHED_FIFO)";
    }
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(cfg_.failover.poll_us * 1e-6));
    auto next = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last{};
    while (!monitor_quit_.load(std::memory_order_relaxed)) {
        next += period;
        const auto now = std::chrono::steady_clock::now();
        if (next < now)
            next = now; // fell behind: look now, do not catch up
        std::this_thread::sleep_until(next);
        const auto woke = std::chrono::steady_clock::now();
        std::lock_guard lock(failover_mutex_);
        if (last.time_since_epoch().count() != 0)
            max_poll_gap_s_ = std::max(max_poll_gap_s_, std::chrono::duration<double>(woke - last).count());
        last = woke;
        monitor_ports();
    }
}

void appliance::monitor_ports()
{
    const double t = uptime_s();
    // The driver's statistics can cost a NIC tens of register reads: its TX
    // error count is read once a millisecond, not at every look.
    const auto stats_every = static_cast<std::uint64_t>(std::max(1.0, 1000.0 / cfg_.failover.poll_us));
    const bool read_stats = looks_++ % stats_every == 0;
    const bool forwarding_on = forwarding();
    std::vector<snm::port_sample> samples;
    samples.reserve(failover_->watched().size());
    for (const auto id : failover_->watched()) {
        const dpdk::port* p = find_port(id);
        if (p == nullptr)
            continue;
        snm::port_sample s;
        s.port = id;
        s.link_up = p->link().up;
        if (read_stats)
            tx_errors_[id] = p->hw_stats().oerrors;
        s.tx_errors = tx_errors_[id];
        for (const auto& slot : lcores_) {
            const auto& pc = counters_[slot.conf.lcore_id].port[id];
            s.tx_packets += pc.tx_packets.read();
            s.tx_refused += pc.tx_refused.read();
            s.rx_packets += pc.rx_packets.read();
        }
        const auto& f = faults_[id];
        s.rx_expected = forwarding_on && (egress_->flags(id) & dataplane::port_rx_off) == 0 &&
                        std::find(plan_.rx_ports.begin(), plan_.rx_ports.end(), id) != plan_.rx_ports.end();
        s.faulted = f.injected;
        if (f.fault_since >= 0)
            s.fault_since = f.fault_since;
        samples.push_back(s);
    }
    const auto u = failover_->observe(t, samples);
    if (!u.empty())
        apply_failover(u);
}

void appliance::apply_failover(const snm::failover_update& u)
{
    for (const auto& r : u.roles)
        egress_->set_role(r.egress,
                          {static_cast<std::uint8_t>(r.primary), static_cast<std::uint8_t>(r.shadow), r.epoch});
    for (const auto& [port, out] : u.out_of_service) {
        faults_[port].out_of_service = out;
        refresh_port_flags(port);
    }
    for (const auto& e : u.events)
        report_failover(e);
}

void appliance::report_failover(const snm::failover_event& e)
{
    if (!cfg_.quiet)
        fmt::print(stderr, "shadownet: failover: {:.6f} s: port {}: {}: {}\n", e.t, e.port, e.what, e.detail);
    if (event_sink_)
        event_sink_(fmt::format("failover {} port {}", e.what, e.port), e.detail);
}

void appliance::refresh_port_flags(std::uint16_t port)
{
    const auto& f = faults_[port];
    std::uint8_t flags = 0;
    if (f.out_of_service)
        flags |= dataplane::port_tx_out | dataplane::port_rx_off;
    if (f.injected)
        flags |= dataplane::port_tx_stuck | dataplane::port_rx_off;
    if (f.link_set_down)
        flags |= dataplane::port_rx_off; // a port whose link is down delivers nothing
    if (f.stopped)
        flags |= dataplane::port_tx_stuck; // a stopped device takes nothing (and its burst functions say so loudly)
    egress_->set_flags(port, flags);
}

void appliance::set_port_link(std::uint16_t port, bool up)
{
    const bool bonded = std::any_of(bonds_.begin(), bonds_.end(), [port](const auto& b) {
        return b->primary() == port || b->backup() == port;
    });
    if (find_port(port) == nullptr && !bonded)
        throw std::out_of_range(fmt::format("port {} is not an appliance port", port));
    // The device changes state under the lock: the monitor reads its link.
    std::lock_guard lock(failover_mutex_);
    auto& f = faults_[port];
    int rc = up && f.stopped ? -ENOTSUP : dpdk::set_link(port, up);
    bool stopped = f.stopped && !up;
    if (rc == -ENOTSUP) {
        // No link control in the driver: stop (or restart) the device.
        std::uint16_t via = port;
        for (const auto& b : bonds_)
            if (b->primary() == port || b->backup() == port)
                via = b->id();
        rc = stop_or_start_quiesced(port, via, up);
        stopped = f.stopped;
    }
    if (rc != 0)
        throw std::runtime_error(fmt::format("port {} ({}): cannot set its link {} (error {})", port,
                                             dpdk::ethdev_name(port), up ? "up" : "down", rc));
    if (const dpdk::vcable* c = cable_of(port); c != nullptr) {
        if (!up)
            cuts_[port].queued_at_cut += c->pending_to_b();
        cuts_[port].cut = !up;
    }
    f.link_set_down = !up;
    f.fault_since = up ? -1 : uptime_s();
    refresh_port_flags(port);
    failover_->log(uptime_s(), port, up ? "link-up" : "link-down",
                   fmt::format("set by the operator{}{}",
                               cable_of(port) != nullptr && !up ? "; the virtual cable's far end is cut" : "",
                               stopped ? "; the driver has no link control, the device is stopped" : ""));
    report_failover(failover_->events().back());
}

int appliance::stop_or_start_quiesced(std::uint16_t port, std::uint16_t via, bool start)
{
    egress_->set_flags(via, egress_->flags(via) | dataplane::port_tx_stuck | dataplane::port_rx_off);
    // Every forwarding lcore loads the flags at its next burst: once each has
    // begun two more loops, none is inside a burst on `via` any more. The
    // main lcore, when it forwards, is the caller: it is in no burst.
    std::vector<std::pair<unsigned, std::uint64_t>> seen;
    if (!plan_.main_forwards)
        for (const auto& slot : lcores_)
            seen.emplace_back(slot.conf.lcore_id, counters_[slot.conf.lcore_id].loops.read());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    bool quiet = false;
    while (!quiet && std::chrono::steady_clock::now() < deadline) {
        quiet = true;
        for (const auto& [lcore, loops] : seen)
            quiet = quiet && counters_[lcore].loops.read() >= loops + 2;
    }
    int rc = -EBUSY; // a paused or stalled lcore: better refuse than race it
    if (quiet) {
        if (dpdk::port* own = find_port(port); own != nullptr) {
            rc = 0;
            try {
                start ? own->start() : own->stop();
            } catch (const std::exception&) {
                rc = -EIO;
            }
        } else {
            rc = dpdk::set_started(port, start);
        }
    }
    faults_[port].stopped = quiet && rc == 0 ? !start : faults_[port].stopped;
    refresh_port_flags(via);
    if (via != port)
        refresh_port_flags(port);
    return rc;
}

void appliance::set_port_fault(std::uint16_t port, bool on)
{
    if (find_port(port) == nullptr)
        throw std::out_of_range(fmt::format("port {} is not an appliance port", port));
    std::lock_guard lock(failover_mutex_);
    auto& f = faults_[port];
    f.injected = on;
    f.fault_since = on ? uptime_s() : (f.link_set_down ? f.fault_since : -1);
    refresh_port_flags(port);
    failover_->log(uptime_s(), port, on ? "fault-injected" : "fault-cleared",
                   on ? "its TX queues take nothing and its RX queues deliver nothing; no link signal"
                      : "its queues work again");
    report_failover(failover_->events().back());
}

void appliance::switchover(std::uint16_t port)
{
    if (!bonds_.empty())
        throw std::invalid_argument("--failover bond: the bonding devices choose their own members");
    std::lock_guard lock(failover_mutex_);
    apply_failover(failover_->switchover(uptime_s(), port));
}

void appliance::discard_cut_cables()
{
    for (const auto& c : cables_) {
        auto& cut = cuts_[c->side_a()];
        if (cut.cut)
            cut.wire_lost += c->discard_to_b();
    }
}

void appliance::receive_traffic()
{
    discard_cut_cables();
    traffic_->receive();
}

failover_snapshot appliance::failover_view() const
{
    std::lock_guard lock(failover_mutex_);
    failover_snapshot s;
    s.mode = mode_name(cfg_.failover.mode);
    s.poll_us = cfg_.failover.poll_us;
    s.max_poll_gap_us = max_poll_gap_s_ * 1e6;
    s.monitor_priority = monitor_priority_;
    s.egresses = failover_->egresses();
    for (const auto& h : failover_->ports()) {
        failover_port_status st;
        st.health = h;
        if (const dpdk::port* p = find_port(h.port)) {
            st.name = p->name();
            st.link_up = p->link().up;
        }
        st.fault_injected = faults_[h.port].injected;
        st.link_set_down = faults_[h.port].link_set_down;
        st.wire_lost = cuts_[h.port].wire_lost;
        st.queued_at_cut = cuts_[h.port].queued_at_cut;
        for (const auto& slot : lcores_)
            st.tx_refused += counters_[slot.conf.lcore_id].port[h.port].tx_refused.read();
        s.ports.push_back(std::move(st));
    }
    s.events = failover_->events();
    for (const auto& b : bonds_)
        s.bonds.push_back({b->id(), b->primary(), b->backup(), b->active_member()});
    return s;
}

} // namespace shadownet::control
