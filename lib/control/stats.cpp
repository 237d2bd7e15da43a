#include "shadownet/control/stats.hpp"

#include <numeric>

#include <fmt/format.h>

#include "shadownet/core/json.hpp"

namespace shadownet::control {

using dataplane::drop_reason_count;
using dataplane::drop_reason_names;

std::uint64_t port_snapshot::drops_total() const noexcept
{
    return std::accumulate(drops.begin(), drops.end(), std::uint64_t{0});
}

std::uint64_t lcore_snapshot::stalls_total() const noexcept
{
    return std::accumulate(stalls.begin(), stalls.end(), std::uint64_t{0});
}

std::uint64_t stats_snapshot::rx() const noexcept
{
    std::uint64_t n = 0;
    for (const auto& p : ports)
        n += p.rx;
    return n;
}

std::uint64_t stats_snapshot::tx() const noexcept
{
    std::uint64_t n = 0;
    for (const auto& p : ports)
        n += p.tx;
    return n;
}

std::array<std::uint64_t, drop_reason_count> stats_snapshot::drops() const noexcept
{
    std::array<std::uint64_t, drop_reason_count> out{};
    for (const auto& p : ports)
        for (std::size_t r = 0; r < drop_reason_count; ++r)
            out[r] += p.drops[r];
    return out;
}

std::uint64_t stats_snapshot::drops_total() const noexcept
{
    const auto d = drops();
    return std::accumulate(d.begin(), d.end(), std::uint64_t{0});
}

std::string format_progress(const stats_snapshot& prev, const stats_snapshot& cur, double elapsed_s)
{
    const double dt = std::chrono::duration<double>(cur.at - prev.at).count();
    const auto mpps = [dt](std::uint64_t a, std::uint64_t b) { return dt > 0 ? double(b - a) / dt / 1e6 : 0.0; };
    std::string line = fmt::format("[{:7.1f}s]", elapsed_s);
    for (std::size_t i = 0; i < cur.ports.size() && i < prev.ports.size(); ++i) {
        const auto& a = prev.ports[i];
        const auto& b = cur.ports[i];
        line += fmt::format(" | port {} rx {:.3f} tx {:.3f} Mpps", b.id, mpps(a.rx, b.rx), mpps(a.tx, b.tx));
    }
    line += fmt::format(" | drops {}", cur.drops_total() - prev.drops_total());
    if (cur.traffic)
        line += fmt::format(" | gen sent {} recv {} p99 {} us", cur.traffic->totals.sent, cur.traffic->totals.received,
                            cur.traffic->latency.quantile(0.99) / 1000);
    return line;
}

std::string format_final(const stats_snapshot& s, double elapsed_s)
{
    std::string out = fmt::format("shadownet: ran {:.2f} s\n", elapsed_s);
    out += fmt::format("  {:>4}  {:<24} {:>14} {:>14} {:>12}\n", "port", "name", "rx", "tx", "dropped");
    for (const auto& p : s.ports)
        out += fmt::format("  {:>4}  {:<24} {:>14} {:>14} {:>12}\n", p.id, p.name, p.rx, p.tx, p.drops_total());
    out += fmt::format("  total rx {} = tx {} + dropped {}", s.rx(), s.tx(), s.drops_total());
    const auto d = s.drops();
    for (std::size_t r = 0; r < drop_reason_count; ++r)
        if (d[r] != 0)
            out += fmt::format(" [{} {}]", drop_reason_names[r], d[r]);
    out += '\n';
    if (s.traffic) {
        const auto& t = s.traffic->totals;
        out += fmt::format("  built-in traffic: sent {} received {} lost {} reordered {} duplicates {} backpressure {}; "
                           "latency p50 {} us p99 {} us max {} us\n",
                           t.sent, t.received, t.lost(), t.reordered, t.duplicates, t.backpressure,
                           s.traffic->latency.quantile(0.5) / 1000, s.traffic->latency.quantile(0.99) / 1000,
                           s.traffic->latency.max() / 1000);
    }
    return out;
}

void write_snm_client(json_writer& w, const snm::client_view& v)
{
    w.key("snm").begin_object();
    w.member("priority", v.priority);
    const auto& p = v.prof;
    w.key("profile").begin_object();
    w.member("class", snm::name_of(p.kind));
    w.member("observed_s", p.observed_s);
    w.member("mean_pps", p.mean_pps);
    w.member("peak_pps", p.peak_pps);
    w.member("p95_pps", p.p95_pps);
    w.member("mean_bps", p.mean_bps);
    w.member("peak_bps", p.peak_bps);
    w.member("cv", p.cv);
    w.member("mean_packet_bytes", p.mean_packet_bytes);
    w.end_object();
    w.key("forecast").begin_object();
    w.member("mean_pps", v.pred.mean_pps);
    w.member("upper_pps", v.pred.upper_pps);
    w.member("mean_bps", v.pred.mean_bps);
    w.member("upper_bps", v.pred.upper_bps);
    w.end_object();
    w.key("reservation").begin_object();
    w.member("pps", v.res.pps);
    w.member("bps", v.res.bps);
    w.member("wanted_pps", v.res.wanted_pps);
    w.end_object();
    w.key("routes").begin_array();
    for (const auto& e : v.history)
        w.begin_object()
            .member("t", e.t)
            .member("path", e.via == dataplane::path::shadow ? "shadow" : "primary")
            .member("reason", e.reason)
            .end_object();
    w.end_array();
    w.end_object();
}

void write_snm(json_writer& w, const snm_snapshot& s)
{
    w.key("snm").begin_object();
    w.member("policy", s.policy);
    const auto& sc = s.scores;
    w.key("scores").begin_object();
    w.member("switches_to_shadow", sc.switches_to_shadow);
    w.member("returns", sc.returns);
    w.member("needed", sc.needed);
    w.member("unneeded", sc.unneeded);
    w.member("mean_lead_s", sc.mean_lead_s());
    w.member("unforeseen_loss_ticks", sc.unforeseen_loss_ticks);
    w.member("unforeseen_loss_packets", sc.unforeseen_loss_packets);
    w.member("stall_loss_ticks", sc.stall_loss_ticks);
    w.member("stall_loss_packets", sc.stall_loss_packets);
    w.member("peak_shadow_used_pps", sc.peak_shadow_used_pps);
    w.member("reserved_at_peak_pps", sc.reserved_at_peak_pps);
    w.member("overcommit_ticks", sc.overcommit_ticks);
    w.member("high_watermark", sc.high_watermark);
    w.member("low_watermark", sc.low_watermark);
    w.member("quantile", sc.quantile);
    w.member("quantile_raises", sc.quantile_raises);
    w.member("quantile_cuts", sc.quantile_cuts);
    w.end_object();
    w.key("refits").begin_object();
    w.member("submitted", s.refits.submitted);
    w.member("applied", s.refits.applied);
    w.member("discarded", s.refits.discarded);
    w.member("in_flight", s.refits.in_flight);
    w.end_object();
    w.key("ports").begin_array();
    for (const auto& p : s.ports) {
        w.begin_object();
        w.member("port", unsigned{p.port});
        w.member("primary_capacity_pps", p.primary_capacity.pps);
        w.member("primary_capacity_bps", p.primary_capacity.bps);
        w.member("shadow_capacity_pps", p.shadow_capacity.pps);
        w.member("shadow_capacity_bps", p.shadow_capacity.bps);
        w.member("measured_pps", p.measured_pps);
        w.member("predicted_pps", p.predicted_pps);
        w.member("shadow_used_pps", p.shadow_used_pps);
        w.member("shadow_reserved_pps", p.shadow_reserved_pps);
        w.member("shadow_wanted_pps", p.shadow_wanted_pps);
        w.member("clients_on_shadow", p.clients_on_shadow);
        w.member("constrained", p.constrained);
        w.end_object();
    }
    w.end_array();
    w.key("scaling").begin_array();
    for (const auto& p : s.scaling) {
        const rate_spec cap = p.capacity(p.steps_active);
        w.begin_object();
        w.member("port", unsigned{p.port});
        w.member("base_pps", p.base.pps);
        w.member("reserve_pps", p.reserve.pps);
        w.member("reserve_steps_active", p.steps_active);
        w.member("reserve_steps", p.reserve_steps_total);
        w.member("granted_pps", p.granted.pps);
        w.member("capacity_pps", cap.pps);
        w.member("hook_running", p.hook_running);
        w.end_object();
    }
    w.end_array();
    w.key("scale_events").begin_array();
    for (const auto& e : s.scale_events) {
        w.begin_object();
        w.member("t", e.t);
        w.member("port", unsigned{e.port});
        w.member("action", e.action);
        w.member("result", e.result);
        w.member("request", e.request);
        w.member("answer", e.answer);
        w.member("duration_s", e.duration_s);
        w.member("capacity_pps", e.capacity_pps);
        w.end_object();
    }
    w.end_array();
    w.end_object();
}

void write_failover(json_writer& w, const failover_snapshot& s)
{
    w.key("failover").begin_object();
    w.member("mode", s.mode);
    w.member("poll_us", s.poll_us);
    w.member("max_poll_gap_us", s.max_poll_gap_us);
    w.member("monitor_priority", s.monitor_priority);
    w.key("egresses").begin_array();
    for (const auto& e : s.egresses) {
        w.begin_object();
        w.member("egress", unsigned{e.port});
        w.member("home_shadow", unsigned{e.home_shadow});
        w.member("primary", unsigned{e.primary});
        w.member("shadow", unsigned{e.shadow});
        w.member("epoch", unsigned{e.epoch});
        w.member("down", e.down);
        w.member("failovers", e.failovers);
        w.end_object();
    }
    w.end_array();
    w.key("ports").begin_array();
    for (const auto& p : s.ports) {
        w.begin_object();
        w.member("port", unsigned{p.health.port});
        w.member("name", p.name);
        w.member("health", snm::name_of(p.health.health));
        w.member("reason", p.health.reason);
        w.member("since_s", p.health.since_s);
        w.member("spare", p.health.spare);
        w.member("failures", p.health.failures);
        w.member("holddown_s", p.health.holddown_s);
        w.member("link_up", p.link_up);
        w.member("fault_injected", p.fault_injected);
        w.member("link_set_down", p.link_set_down);
        w.member("wire_lost", p.wire_lost);
        w.member("queued_at_cut", p.queued_at_cut);
        w.member("tx_refused", p.tx_refused);
        w.end_object();
    }
    w.end_array();
    w.key("bonds").begin_array();
    for (const auto& b : s.bonds)
        w.begin_object()
            .member("device", unsigned{b.device})
            .member("primary", unsigned{b.primary})
            .member("backup", unsigned{b.backup})
            .member("active", b.active)
            .end_object();
    w.end_array();
    w.key("events").begin_array();
    for (const auto& e : s.events)
        w.begin_object()
            .member("t", e.t)
            .member("port", unsigned{e.port})
            .member("what", e.what)
            .member("detail", e.detail)
            .end_object();
    w.end_array();
    w.end_object();
}

const char* policy_name(snm_policy p) noexcept
{
    switch (p) {
    case snm_policy::predictive: return "predictive";
    case snm_policy::reactive: return "reactive";
    case snm_policy::off: return "off";
    }
    return "?";
}

std::string summary_json(const stats_snapshot& s, double elapsed_s, std::uint64_t tsc_hz)
{
    json_writer w;
    w.begin_object();
    w.member("version", 1);
    w.member("elapsed_s", elapsed_s);
    w.key("ports").begin_array();
    for (const auto& p : s.ports) {
        w.begin_object();
        w.member("id", unsigned{p.id});
        w.member("name", p.name);
        w.member("rx", p.rx);
        w.member("tx", p.tx);
        w.member("forwarded", p.forwarded);
        w.member("drops", p.drops_total());
        w.member("rx_bytes", p.rx_bytes);
        w.member("tx_bytes", p.tx_bytes);
        w.member("tx_refused", p.tx_refused);
        w.key("dropped").begin_object();
        for (std::size_t r = 0; r < drop_reason_count; ++r)
            w.member(drop_reason_names[r], p.drops[r]);
        w.end_object();
        w.key("hw").begin_object();
        w.member("ipackets", p.hw.ipackets);
        w.member("opackets", p.hw.opackets);
        w.member("imissed", p.hw.imissed);
        w.member("ierrors", p.hw.ierrors);
        w.member("oerrors", p.hw.oerrors);
        w.member("rx_nombuf", p.hw.rx_nombuf);
        w.end_object();
        w.end_object();
    }
    w.end_array();

    w.key("totals").begin_object();
    w.member("rx", s.rx());
    w.member("tx", s.tx());
    w.member("drops", s.drops_total());
    w.key("dropped").begin_object();
    const auto d = s.drops();
    for (std::size_t r = 0; r < drop_reason_count; ++r)
        w.member(drop_reason_names[r], d[r]);
    w.end_object();
    w.end_object();

    w.key("lcores").begin_array();
    for (const auto& l : s.lcores) {
        w.begin_object();
        w.member("id", l.id);
        w.member("role", l.role);
        w.member("loops", l.loops);
        w.member("busy_cycles", l.busy_cycles);
        w.member("idle_cycles", l.idle_cycles);
        w.member("packets", l.packets);
        const double total = double(l.busy_cycles + l.idle_cycles);
        w.member("busy_percent", total > 0 ? 100.0 * double(l.busy_cycles) / total : 0.0);
        w.member("cycles_per_packet", l.packets ? double(l.busy_cycles) / double(l.packets) : 0.0);
        w.member("route_switches", l.switches);
        w.member("hold_overflow", l.hold_overflow);
        w.member("clients_announced", l.announced);
        w.member("announce_lost", l.announce_lost);
        w.member("client_cache_hits", l.cache_hits);
        w.member("client_cache_misses", l.cache_misses);
        gen::write_stalls_json(w, "stalls", l.stalls);
        w.member("max_stall_ms", l.max_stall_ms);
        if constexpr (dataplane::stage_cycles_enabled) {
            // Cycles of busy iterations by stage; what the stages do not
            // cover (hold queue, RCU, the loop itself) is busy_cycles minus their sum.
            w.key("stage_cycles").begin_object();
            for (std::size_t s = 0; s < dataplane::fp_stage_count; ++s)
                w.member(dataplane::fp_stage_names[s], l.stage_cycles[s]);
            w.end_object();
        }
        w.end_object();
    }
    w.end_array();
    w.member("tsc_hz", tsc_hz);

    const auto client_object = [&w](const client_totals& t) {
        w.member("rx_packets", t.rx_packets);
        w.member("rx_bytes", t.rx_bytes);
        w.key("tx_packets").begin_object().member("primary", t.tx_packets[0]).member("shadow", t.tx_packets[1]).end_object();
        w.key("tx_bytes").begin_object().member("primary", t.tx_bytes[0]).member("shadow", t.tx_bytes[1]).end_object();
        w.member("drops", t.drops);
    };
    w.key("mempools").begin_array();
    for (const auto& m : s.mempools) {
        w.begin_object();
        w.member("name", m.name);
        w.member("size", m.size);
        w.member("in_use", m.in_use);
        w.member("baseline", m.baseline);
        w.end_object();
    }
    w.end_array();
    w.key("rings").begin_array();
    for (const auto& [name, count] : s.rings)
        w.begin_object().member("name", name).member("count", count).end_object();
    w.end_array();

    w.key("clients").begin_object();
    w.member("count", std::uint64_t{s.clients.count});
    w.member("capacity", std::uint64_t{s.clients.capacity});
    w.member("connects", std::uint64_t{s.clients.connects});
    w.key("default").begin_object();
    client_object(s.clients.default_client);
    w.end_object();
    w.key("busiest").begin_array();
    for (const auto& c : s.clients.busiest) {
        w.begin_object();
        w.member("id", c.id);
        w.member("key", c.key);
        w.member("path", c.path);
        client_object(c.totals);
        if (c.shadow)
            write_snm_client(w, *c.shadow);
        w.end_object();
    }
    w.end_array();
    w.end_object();
    if (s.manager)
        write_snm(w, *s.manager);
    if (s.failover)
        write_failover(w, *s.failover);

    if (s.traffic) {
        w.key("traffic").begin_object();
        gen::write_traffic_json(w, s.traffic->totals, s.traffic->latency);
        w.end_object();
    }
    w.end_object();
    return w.str() + "\n";
}

} // namespace shadownet::control
