#include "shadownet/control/telemetry.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <charconv>
#include <mutex>
#include <string>

#include <rte_telemetry.h>

namespace shadownet::control {

namespace {

std::mutex published_mutex;
std::shared_ptr<const stats_snapshot> published; // guarded by published_mutex

std::shared_ptr<const stats_snapshot> current()
{
    std::lock_guard lock(published_mutex);
    return published;
}

// 22.11 names it _u64; later releases _uint. One place to change.
void add_u64(rte_tel_data* d, const std::string& name, std::uint64_t v)
{
    rte_tel_data_add_dict_u64(d, name.c_str(), v);
}

unsigned parse_param(const char* params, std::size_t index, unsigned fallback)
{
    if (params == nullptr)
        return fallback;
    std::string p(params);
    std::size_t start = 0;
    for (std::size_t i = 0; i < index; ++i) {
        start = p.find(',', start);
        if (start == std::string::npos)
            return fallback;
        ++start;
    }
    const std::size_t end = p.find(',', start);
    const std::string item = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    unsigned v = 0;
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    return ec == std::errc() && ptr == item.data() + item.size() && !item.empty() ? v : fallback;
}

// `detail`: the manager's view too (one client; a page of 64 would not fit a reply).
void client_dict(rte_tel_data* d, const client_snapshot& c, bool detail = false)
{
    add_u64(d, "id", c.id);
    rte_tel_data_add_dict_string(d, "key", c.key.c_str());
    rte_tel_data_add_dict_string(d, "path", c.path.c_str());
    add_u64(d, "rx_packets", c.totals.rx_packets);
    add_u64(d, "rx_bytes", c.totals.rx_bytes);
    add_u64(d, "tx_packets_primary", c.totals.tx_packets[0]);
    add_u64(d, "tx_packets_shadow", c.totals.tx_packets[1]);
    add_u64(d, "drops", c.totals.drops);
    if (detail && c.shadow) {
        // 22.11's dictionaries hold no doubles: rates rounded to whole units.
        const auto round = [](double v) { return static_cast<std::uint64_t>(std::max(0.0, v) + 0.5); };
        rte_tel_data_add_dict_string(d, "class", snm::name_of(c.shadow->prof.kind));
        add_u64(d, "profile_mean_pps", round(c.shadow->prof.mean_pps));
        add_u64(d, "forecast_pps", round(c.shadow->pred.mean_pps));
        add_u64(d, "forecast_upper_pps", round(c.shadow->pred.upper_pps));
        add_u64(d, "reserved_pps", round(c.shadow->res.pps));
        add_u64(d, "route_events", c.shadow->history.size());
        rte_tel_data_add_dict_int(d, "priority", c.shadow->priority);
    }
}

int on_ports(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const auto s = current();
    if (!s)
        return 0;
    for (const auto& p : s->ports) {
        rte_tel_data* c = rte_tel_data_alloc();
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_string(c, "name", p.name.c_str());
        add_u64(c, "rx", p.rx);
        add_u64(c, "tx", p.tx);
        add_u64(c, "forwarded", p.forwarded);
        add_u64(c, "drops", p.drops_total());
        rte_tel_data_add_dict_container(d, std::to_string(p.id).c_str(), c, 0);
    }
    return 0;
}

int on_drops(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const auto s = current();
    if (!s)
        return 0;
    const auto drops = s->drops();
    for (std::size_t r = 0; r < dataplane::drop_reason_count; ++r)
        add_u64(d, std::string(dataplane::drop_reason_names[r]), drops[r]);
    return 0;
}

int on_lcores(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const auto s = current();
    if (!s)
        return 0;
    for (const auto& l : s->lcores) {
        rte_tel_data* c = rte_tel_data_alloc();
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_string(c, "role", l.role.c_str());
        add_u64(c, "loops", l.loops);
        add_u64(c, "busy_cycles", l.busy_cycles);
        add_u64(c, "idle_cycles", l.idle_cycles);
        add_u64(c, "packets", l.packets);
        add_u64(c, "cycles_per_packet", l.packets ? l.busy_cycles / l.packets : 0);
        add_u64(c, "route_switches", l.switches);
        add_u64(c, "stalls", l.stalls_total());
        add_u64(c, "max_stall_us", static_cast<std::uint64_t>(l.max_stall_ms * 1e3));
        rte_tel_data_add_dict_container(d, std::to_string(l.id).c_str(), c, 0);
    }
    return 0;
}

// /shadownet/clients,START,COUNT: clients in id order, a page at a time.
int on_clients(const char*, const char* params, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const auto s = current();
    if (!s)
        return 0;
    const auto& all = s->clients.busiest; // published sorted by id, all of them
    const std::size_t start = parse_param(params, 0, 0);
    const std::size_t count = std::min<std::size_t>(parse_param(params, 1, telemetry_page_max), telemetry_page_max);
    add_u64(d, "total", s->clients.count);
    add_u64(d, "start", start);
    const std::size_t end = std::min(all.size(), start + count);
    add_u64(d, "next", end < all.size() ? end : 0);
    for (std::size_t i = start; i < end; ++i) {
        rte_tel_data* c = rte_tel_data_alloc();
        rte_tel_data_start_dict(c);
        client_dict(c, all[i]);
        rte_tel_data_add_dict_container(d, std::to_string(all[i].id).c_str(), c, 0);
    }
    return 0;
}

// /shadownet/client,ID
int on_client(const char*, const char* params, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const auto s = current();
    if (!s)
        return 0;
    const unsigned id = parse_param(params, 0, 0);
    for (const auto& c : s->clients.busiest)
        if (c.id == id) {
            client_dict(d, c, true);
            return 0;
        }
    return -1; // dpdk-telemetry.py shows null: no such client
}

int on_traffic(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const auto s = current();
    if (!s || !s->traffic)
        return 0;
    const auto& t = s->traffic->totals;
    add_u64(d, "sent", t.sent);
    add_u64(d, "received", t.received);
    add_u64(d, "lost", t.lost());
    add_u64(d, "reordered", t.reordered);
    add_u64(d, "latency_p99_ns", s->traffic->latency.quantile(0.99));
    return 0;
}

// The same shadow_view `show shadow` formats (appliance::shadow, once a period).
int on_shadow(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const auto s = current();
    if (!s)
        return 0;
    const shadow_view& v = s->shadow;
    const auto round = [](double x) { return static_cast<std::uint64_t>(std::max(0.0, x) + 0.5); };
    add_u64(d, "queues_per_lcore", v.queues_per_lcore);
    add_u64(d, "tx_lcores", v.tx_lcores);
    rte_tel_data* ports = rte_tel_data_alloc();
    rte_tel_data_start_dict(ports);
    for (const auto& p : v.ports) {
        rte_tel_data* c = rte_tel_data_alloc();
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_string(c, "name", p.name.c_str());
        add_u64(c, "first_queue", p.first_queue);
        add_u64(c, "queues", p.queues);
        if (p.shadow_port)
            add_u64(c, "shadow_port", *p.shadow_port);
        add_u64(c, "transmit_only", p.transmit_only ? 1 : 0);
        if (!p.transmit_only) {
            // The manager's account, as `show shadow` (0 capacity: unlimited).
            add_u64(c, "capacity_pps", round(p.capacity.pps));
            add_u64(c, "reserved_pps", round(p.reserved_pps));
            add_u64(c, "used_pps", round(p.used_pps));
            add_u64(c, "clients_on_shadow", p.clients_on_shadow);
        }
        rte_tel_data_add_dict_container(ports, std::to_string(p.port).c_str(), c, 0);
    }
    rte_tel_data_add_dict_container(d, "ports", ports, 0);
    add_u64(d, "clients_total", v.clients.size());
    // Replies are capped: the first ids only; `show shadow` lists them all.
    rte_tel_data* ids = rte_tel_data_alloc();
    rte_tel_data_start_array(ids, RTE_TEL_U64_VAL);
    for (std::size_t i = 0; i < v.clients.size() && i < telemetry_page_max * 4; ++i)
        rte_tel_data_add_array_u64(ids, v.clients[i].id);
    rte_tel_data_add_dict_container(d, "clients", ids, 0);
    return 0;
}

// /shadownet/snm: the shadow manager's policy, scores and per-port view.
int on_snm(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const auto s = current();
    if (!s || !s->manager)
        return 0;
    const auto round = [](double v) { return static_cast<std::uint64_t>(std::max(0.0, v) + 0.5); };
    const auto& m = *s->manager;
    const auto& sc = m.scores;
    rte_tel_data_add_dict_string(d, "policy", m.policy.c_str());
    rte_tel_data_add_dict_string(d, "high_watermark", fmt::format("{:.3f}", sc.high_watermark).c_str());
    rte_tel_data_add_dict_string(d, "low_watermark", fmt::format("{:.3f}", sc.low_watermark).c_str());
    rte_tel_data_add_dict_string(d, "quantile", fmt::format("{:.4f}", sc.quantile).c_str());
    add_u64(d, "switches_to_shadow", sc.switches_to_shadow);
    add_u64(d, "returns", sc.returns);
    add_u64(d, "needed", sc.needed);
    add_u64(d, "unneeded", sc.unneeded);
    add_u64(d, "mean_lead_ms", round(sc.mean_lead_s() * 1000));
    add_u64(d, "unforeseen_loss_ticks", sc.unforeseen_loss_ticks);
    add_u64(d, "unforeseen_loss_packets", round(sc.unforeseen_loss_packets));
    add_u64(d, "stall_loss_ticks", sc.stall_loss_ticks);
    add_u64(d, "stall_loss_packets", round(sc.stall_loss_packets));
    add_u64(d, "peak_shadow_used_pps", round(sc.peak_shadow_used_pps));
    add_u64(d, "reserved_at_peak_pps", round(sc.reserved_at_peak_pps));
    add_u64(d, "overcommit_ticks", sc.overcommit_ticks);
    rte_tel_data* ports = rte_tel_data_alloc();
    rte_tel_data_start_dict(ports);
    for (const auto& p : m.ports) {
        rte_tel_data* c = rte_tel_data_alloc();
        rte_tel_data_start_dict(c);
        add_u64(c, "primary_capacity_pps", round(p.primary_capacity.pps));
        add_u64(c, "measured_pps", round(p.measured_pps));
        add_u64(c, "predicted_pps", round(p.predicted_pps));
        add_u64(c, "shadow_used_pps", round(p.shadow_used_pps));
        add_u64(c, "shadow_reserved_pps", round(p.shadow_reserved_pps));
        add_u64(c, "shadow_wanted_pps", round(p.shadow_wanted_pps));
        add_u64(c, "clients_on_shadow", p.clients_on_shadow);
        add_u64(c, "constrained", p.constrained ? 1 : 0);
        rte_tel_data_add_dict_container(ports, std::to_string(p.port).c_str(), c, 0);
    }
    rte_tel_data_add_dict_container(d, "ports", ports, 0);
    return 0;
}

int on_failover(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const auto s = current();
    if (!s || !s->failover)
        return 0;
    const failover_snapshot& f = *s->failover;
    rte_tel_data_add_dict_string(d, "mode", f.mode.c_str());
    add_u64(d, "poll_us", static_cast<std::uint64_t>(f.poll_us));
    add_u64(d, "max_poll_gap_us", static_cast<std::uint64_t>(f.max_poll_gap_us));
    rte_tel_data* egresses = rte_tel_data_alloc();
    rte_tel_data_start_dict(egresses);
    for (const auto& e : f.egresses) {
        rte_tel_data* c = rte_tel_data_alloc();
        rte_tel_data_start_dict(c);
        add_u64(c, "primary", e.primary);
        add_u64(c, "shadow", e.shadow);
        add_u64(c, "epoch", e.epoch);
        add_u64(c, "down", e.down ? 1 : 0);
        add_u64(c, "failovers", e.failovers);
        rte_tel_data_add_dict_container(egresses, std::to_string(e.port).c_str(), c, 0);
    }
    rte_tel_data_add_dict_container(d, "egresses", egresses, 0);
    rte_tel_data* ports = rte_tel_data_alloc();
    rte_tel_data_start_dict(ports);
    for (const auto& p : f.ports) {
        rte_tel_data* c = rte_tel_data_alloc();
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_string(c, "health", snm::name_of(p.health.health));
        add_u64(c, "link_up", p.link_up ? 1 : 0);
        add_u64(c, "spare", p.health.spare ? 1 : 0);
        add_u64(c, "failures", p.health.failures);
        add_u64(c, "tx_refused", p.tx_refused);
        add_u64(c, "fault_injected", p.fault_injected ? 1 : 0);
        add_u64(c, "link_set_down", p.link_set_down ? 1 : 0);
        rte_tel_data_add_dict_container(ports, std::to_string(p.health.port).c_str(), c, 0);
    }
    rte_tel_data_add_dict_container(d, "ports", ports, 0);
    // The last events, one string each (a reply holds at most 16 KiB).
    rte_tel_data* events = rte_tel_data_alloc();
    rte_tel_data_start_array(events, RTE_TEL_STRING_VAL);
    const std::size_t shown = std::min<std::size_t>(f.events.size(), 16);
    for (std::size_t i = f.events.size() - shown; i < f.events.size(); ++i) {
        const auto& e = f.events[i];
        std::string line = fmt::format("{:.6f} s port {} {}: {}", e.t, e.port, e.what, e.detail);
        line.resize(std::min<std::size_t>(line.size(), RTE_TEL_MAX_STRING_LEN - 1));
        rte_tel_data_add_array_string(events, line.c_str());
    }
    rte_tel_data_add_dict_container(d, "events", events, 0);
    return 0;
}

} // namespace

void register_telemetry()
{
    static std::once_flag once;
    std::call_once(once, [] {
        rte_telemetry_register_cmd("/shadownet/ports", on_ports, "Per port rx, tx, forwarded, drops");
        rte_telemetry_register_cmd("/shadownet/drops", on_drops, "Drops by reason, all ports");
        rte_telemetry_register_cmd("/shadownet/lcores", on_lcores, "Per forwarding lcore: role, loops, cycles");
        rte_telemetry_register_cmd("/shadownet/clients", on_clients,
                                   "Clients by id, paged. Parameters: start,count (count <= 64)");
        rte_telemetry_register_cmd("/shadownet/client", on_client, "One client. Parameter: client id");
        rte_telemetry_register_cmd("/shadownet/traffic", on_traffic, "Built-in traffic: sent, received, lost");
        rte_telemetry_register_cmd("/shadownet/snm", on_snm,
                                   "Shadow manager: policy, watermarks, scores, per-port load and reservations");
        rte_telemetry_register_cmd("/shadownet/failover", on_failover,
                                   "Failover: per egress its primary and shadow port, per port its health, last events");
        rte_telemetry_register_cmd("/shadownet/shadow", on_shadow,
                                   "Reserved shadow TX queues per port, and the clients on the shadow path");
    });
}

void publish_telemetry(std::shared_ptr<const stats_snapshot> s)
{
    std::lock_guard lock(published_mutex);
    published = std::move(s);
}

} // namespace shadownet::control
