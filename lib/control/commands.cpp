#include "shadownet/control/commands.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <istream>
#include <map>
#include <thread>
#include <stdexcept>

#include <fmt/format.h>

#include "shadownet/core/error.hpp"
#include "shadownet/core/json.hpp"

namespace shadownet::control {

namespace {

using dataplane::drop_reason_count;
using dataplane::drop_reason_names;

constexpr std::uint64_t max_port_id = 1023;
constexpr std::uint64_t max_client_id = 0xffffffffULL;
constexpr std::size_t default_page = 64;
constexpr std::uint64_t max_priority = 65535;

std::vector<std::string_view> split_words(std::string_view line)
{
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
            ++i;
        if (i >= line.size() || line[i] == '#')
            break;
        std::size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' && line[j] != '\n')
            ++j;
        out.push_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

std::optional<std::uint64_t> to_number(std::string_view w)
{
    std::uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
    if (w.empty() || ec != std::errc() || ptr != w.data() + w.size())
        return std::nullopt;
    return v;
}

std::string token_usage(const token_spec& t)
{
    std::string s;
    switch (t.kind) {
    case token_kind::keyword: return std::string(t.name);
    case token_kind::choice:
        for (const auto c : t.choices)
            s += fmt::format("{}{}", s.empty() ? "" : "|", c);
        break;
    case token_kind::port_or_all: s = fmt::format("{}|all", t.name); break;
    case token_kind::number:
    case token_kind::path:
    case token_kind::rest: s = std::string(t.name); break;
    }
    return t.optional ? fmt::format("[{}]", s) : fmt::format("<{}>", s);
}

// ---- formatting helpers, shared by the actions ----

std::string path_name(dataplane::path p)
{
    return p == dataplane::path::shadow ? "shadow" : "primary";
}

void totals_json(json_writer& w, const client_totals& t)
{
    w.member("rx_packets", t.rx_packets);
    w.member("rx_bytes", t.rx_bytes);
    w.key("tx_packets").begin_object().member("primary", t.tx_packets[0]).member("shadow", t.tx_packets[1]).end_object();
    w.key("tx_bytes").begin_object().member("primary", t.tx_bytes[0]).member("shadow", t.tx_bytes[1]).end_object();
    w.member("drops", t.drops);
}

void client_json(json_writer& w, const client_snapshot& c)
{
    w.member("id", c.id);
    w.member("key", c.key);
    w.member("path", c.path);
    totals_json(w, c.totals);
}

std::string clients_table(const std::vector<client_snapshot>& cs)
{
    std::string out = fmt::format("  {:>8}  {:<40} {:<8} {:>14} {:>16} {:>14} {:>14} {:>10}\n", "id", "key", "path",
                                  "rx_packets", "rx_bytes", "tx_primary", "tx_shadow", "drops");
    for (const auto& c : cs)
        out += fmt::format("  {:>8}  {:<40} {:<8} {:>14} {:>16} {:>14} {:>14} {:>10}\n", c.id, c.key, c.path,
                           c.totals.rx_packets, c.totals.rx_bytes, c.totals.tx_packets[0], c.totals.tx_packets[1],
                           c.totals.drops);
    return out;
}

double busy_percent(const lcore_snapshot& l)
{
    const double total = double(l.busy_cycles + l.idle_cycles);
    return total > 0 ? 100.0 * double(l.busy_cycles) / total : 0.0;
}

double cycles_per_packet(const lcore_snapshot& l)
{
    return l.packets ? double(l.busy_cycles) / double(l.packets) : 0.0;
}

bool json_out(const exec_context& ctx, const parsed_command& cmd)
{
    return cmd.json || ctx.format == output_format::json;
}

reply ok(std::string text)
{
    return {true, std::move(text), false};
}

reply fail(const parsed_command& cmd, std::string_view why)
{
    return {false, fmt::format("{}: {}", cmd.spec->name, why), false};
}

// The ports a <port|all> argument names; throws std::out_of_range for an unknown one.
std::vector<std::uint16_t> selected_ports(command_target& t, const arg_value& a)
{
    const auto ids = t.port_ids();
    if (!a.number)
        return ids;
    const auto p = static_cast<std::uint16_t>(*a.number);
    if (std::find(ids.begin(), ids.end(), p) == ids.end())
        throw std::out_of_range(fmt::format("port {} is not an appliance port", p));
    return {p};
}

// ---- actions: one per command ----

reply show_port_stats(exec_context& ctx, const parsed_command& cmd)
{
    const auto want = selected_ports(ctx.target, cmd.arg("port"));
    std::vector<port_snapshot> rows;
    for (auto& p : ctx.target.port_stats())
        if (std::find(want.begin(), want.end(), p.id) != want.end())
            rows.push_back(std::move(p));
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().key("ports").begin_array();
        for (const auto& p : rows) {
            w.begin_object();
            w.member("id", unsigned{p.id});
            w.member("name", p.name);
            w.member("rx", p.rx);
            w.member("tx", p.tx);
            w.member("forwarded", p.forwarded);
            w.member("drops", p.drops_total());
            w.member("rx_bytes", p.rx_bytes);
            w.member("tx_bytes", p.tx_bytes);
            w.key("dropped").begin_object();
            for (std::size_t r = 0; r < drop_reason_count; ++r)
                w.member(drop_reason_names[r], p.drops[r]);
            w.end_object();
            w.key("hw").begin_object();
            w.member("ipackets", p.hw.ipackets).member("opackets", p.hw.opackets);
            w.member("ibytes", p.hw.ibytes).member("obytes", p.hw.obytes);
            w.member("imissed", p.hw.imissed).member("ierrors", p.hw.ierrors);
            w.member("oerrors", p.hw.oerrors).member("rx_nombuf", p.hw.rx_nombuf);
            w.end_object();
            w.end_object();
        }
        w.end_array().end_object();
        return ok(w.str());
    }
    std::string out;
    for (const auto& p : rows) {
        out += fmt::format("port {} ({})\n", p.id, p.name);
        out += fmt::format("  RX-packets: {:<14} RX-bytes: {:<16} forwarded: {}\n", p.rx, p.rx_bytes, p.forwarded);
        out += fmt::format("  TX-packets: {:<14} TX-bytes: {:<16} dropped:   {}\n", p.tx, p.tx_bytes, p.drops_total());
        out += fmt::format("  hw: ipackets {} opackets {} imissed {} ierrors {} oerrors {} rx_nombuf {}\n", p.hw.ipackets,
                           p.hw.opackets, p.hw.imissed, p.hw.ierrors, p.hw.oerrors, p.hw.rx_nombuf);
    }
    return ok(out);
}

reply show_port_xstats(exec_context& ctx, const parsed_command& cmd)
{
    const auto want = selected_ports(ctx.target, cmd.arg("port"));
    std::map<std::uint16_t, std::string> names;
    for (const auto& p : ctx.target.port_stats())
        names[p.id] = p.name;
    const auto name_of = [&names](std::uint16_t id) { return names[id]; };
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().key("ports").begin_array();
        for (const auto p : want) {
            w.begin_object().member("id", unsigned{p}).member("name", name_of(p));
            w.key("xstats").begin_object();
            for (const auto& [k, v] : ctx.target.port_xstats(p))
                w.member(k, v);
            w.end_object().end_object();
        }
        w.end_array().end_object();
        return ok(w.str());
    }
    std::string out;
    for (const auto p : want) {
        out += fmt::format("port {} ({}) xstats\n", p, name_of(p));
        for (const auto& [k, v] : ctx.target.port_xstats(p))
            out += fmt::format("  {}: {}\n", k, v);
    }
    return ok(out);
}

reply clear_port_stats(exec_context& ctx, const parsed_command& cmd)
{
    const auto& a = cmd.arg("port");
    const auto want = selected_ports(ctx.target, a);
    ctx.target.clear_port_stats(a.number ? std::optional<std::uint16_t>(want.front()) : std::nullopt);
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().key("cleared").begin_array();
        for (const auto p : want)
            w.value(unsigned{p});
        w.end_array().end_object();
        return ok(w.str());
    }
    std::string list;
    for (const auto p : want)
        list += fmt::format("{}{}", list.empty() ? "" : ", ", p);
    return ok(fmt::format("port stats cleared: port {}\n", list));
}

reply show_lcores(exec_context& ctx, const parsed_command& cmd)
{
    const auto ls = ctx.target.lcores();
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().key("lcores").begin_array();
        for (const auto& l : ls) {
            w.begin_object();
            w.member("id", l.id);
            w.member("role", l.role);
            w.member("loops", l.loops);
            w.member("busy_cycles", l.busy_cycles);
            w.member("idle_cycles", l.idle_cycles);
            w.member("packets", l.packets);
            w.member("busy_percent", busy_percent(l));
            w.member("cycles_per_packet", cycles_per_packet(l));
            w.member("route_switches", l.switches);
            w.member("hold_overflow", l.hold_overflow);
            w.member("stalls", l.stalls_total());
            w.member("max_stall_ms", l.max_stall_ms);
            w.end_object();
        }
        w.end_array().end_object();
        return ok(w.str());
    }
    std::string out = fmt::format("  {:>5}  {:<10} {:>14} {:>7} {:>11} {:>14} {:>9} {:>7} {:>9}\n", "lcore", "role",
                                  "loops", "busy%", "cycles/pkt", "packets", "switches", "stalls", "max ms");
    for (const auto& l : ls)
        out += fmt::format("  {:>5}  {:<10} {:>14} {:>7.1f} {:>11.1f} {:>14} {:>9} {:>7} {:>9.1f}\n", l.id, l.role,
                           l.loops, busy_percent(l), cycles_per_packet(l), l.packets, l.switches, l.stalls_total(),
                           l.max_stall_ms);
    return ok(out);
}

reply show_clients(exec_context& ctx, const parsed_command& cmd)
{
    const std::size_t start = cmd.number_or("start", 0);
    const std::size_t count = cmd.number_or("count", default_page);
    const auto page = ctx.target.clients(start, count);
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object();
        w.member("total", std::uint64_t{page.total});
        w.member("start", std::uint64_t{start});
        w.member("next", std::uint64_t{page.next});
        w.key("clients").begin_array();
        for (const auto& c : page.clients) {
            w.begin_object();
            client_json(w, c);
            w.end_object();
        }
        w.end_array().end_object();
        return ok(w.str());
    }
    std::string out = fmt::format("clients: {} registered, {} listed from {}{}\n", page.total, page.clients.size(), start,
                                  page.next ? fmt::format(" (next page: show clients {} {})", page.next, count) : "");
    if (!page.clients.empty())
        out += clients_table(page.clients);
    return ok(out);
}

reply show_client(exec_context& ctx, const parsed_command& cmd)
{
    const auto id = static_cast<std::uint32_t>(*cmd.arg("id").number);
    const client_detail d = ctx.target.client(id);
    const auto& c = d.summary;
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object();
        client_json(w, c);
        w.member("route_epoch", unsigned{d.route_epoch});
        w.member("route_changes", d.route_changes);
        w.member("created_s", d.created_s);
        w.member("last_active_s", d.last_active_s);
        w.member("samples", std::uint64_t{d.samples});
        w.key("last_sample");
        if (d.last_sample) {
            w.begin_object();
            w.member("t", double(d.last_sample->t));
            w.member("bits_per_s", double(d.last_sample->bits_per_s));
            w.member("packets_per_s", double(d.last_sample->packets_per_s));
            w.member("cpu", double(d.last_sample->cpu));
            w.member("mbufs", double(d.last_sample->mbufs));
            w.end_object();
        } else {
            w.null();
        }
        if (c.shadow)
            write_snm_client(w, *c.shadow);
        w.end_object();
        return ok(w.str());
    }
    std::string out = fmt::format("client {} ({})\n", c.id, c.key);
    out += fmt::format("  route: {} (epoch {}, {} changes)\n", c.path, d.route_epoch, d.route_changes);
    out += fmt::format("  seen: created at {:.1f} s, last active at {:.1f} s, {} samples\n", d.created_s,
                       d.last_active_s, d.samples);
    out += fmt::format("  rx: {} packets {} bytes; tx primary {} packets {} bytes, shadow {} packets {} bytes; drops {}\n",
                       c.totals.rx_packets, c.totals.rx_bytes, c.totals.tx_packets[0], c.totals.tx_bytes[0],
                       c.totals.tx_packets[1], c.totals.tx_bytes[1], c.totals.drops);
    if (d.last_sample)
        out += fmt::format("  last tick: {:.0f} packets/s, {:.0f} bits/s, {:.4f} cores, {:.1f} mbufs\n",
                           d.last_sample->packets_per_s, d.last_sample->bits_per_s, d.last_sample->cpu,
                           d.last_sample->mbufs);
    if (c.shadow) {
        const auto& v = *c.shadow;
        const auto& p = v.prof;
        out += fmt::format("  priority: {} (shadow reservations: higher first)\n", v.priority);
        out += fmt::format("  profile: {} after {:.1f} s: mean {:.0f} pps (peak {:.0f}, p95 {:.0f}), {:.0f} bits/s, "
                           "cv {:.2f}, {:.0f}-byte packets\n",
                           snm::name_of(p.kind), p.observed_s, p.mean_pps, p.peak_pps, p.p95_pps, p.mean_bps, p.cv,
                           p.mean_packet_bytes);
        out += fmt::format("  forecast: {:.0f} pps (upper {:.0f}), {:.0f} bits/s (upper {:.0f})\n", v.pred.mean_pps,
                           v.pred.upper_pps, v.pred.mean_bps, v.pred.upper_bps);
        out += fmt::format("  shadow reservation: {:.0f} pps {:.0f} bits/s (wanted {:.0f} pps)\n", v.res.pps, v.res.bps,
                           v.res.wanted_pps);
        for (const auto& e : v.history)
            out += fmt::format("  route at {:.1f} s: {} ({})\n", e.t, path_name(e.via), e.reason);
    }
    return ok(out);
}

reply show_snm(exec_context& ctx, const parsed_command& cmd)
{
    const snm_snapshot m = ctx.target.snm();
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object();
        write_snm(w, m);
        w.end_object();
        return ok(w.str());
    }
    const auto& sc = m.scores;
    std::string out = fmt::format("shadow manager: policy {}, watermarks high {:.2f} low {:.2f}, quantile {:.4f} "
                                  "(raised {}, lowered {} times)\n",
                                  m.policy, sc.high_watermark, sc.low_watermark, sc.quantile, sc.quantile_raises,
                                  sc.quantile_cuts);
    out += fmt::format("  switches: {} to the shadow, {} back; needed {}, unneeded {}, mean lead {:.2f} s\n",
                       sc.switches_to_shadow, sc.returns, sc.needed, sc.unneeded, sc.mean_lead_s());
    out += fmt::format("  unforeseen losses: {} ticks, {:.0f} packets; during fast-path stalls (not learned from): "
                       "{} ticks, {:.0f} packets; overcommitted {} ticks\n",
                       sc.unforeseen_loss_ticks, sc.unforeseen_loss_packets, sc.stall_loss_ticks,
                       sc.stall_loss_packets, sc.overcommit_ticks);
    out += fmt::format("  shadow peak use {:.0f} pps with {:.0f} pps reserved for its clients\n",
                       sc.peak_shadow_used_pps, sc.reserved_at_peak_pps);
    out += fmt::format("  forecast refits: {} submitted, {} applied, {} discarded, {} in flight\n",
                       m.refits.submitted, m.refits.applied, m.refits.discarded, m.refits.in_flight);
    out += fmt::format("  {:>4} {:>12} {:>12} {:>12} {:>12} {:>12} {:>8} {}\n", "port", "capacity", "measured",
                       "predicted", "shadow used", "reserved", "shadowed", "constrained");
    for (const auto& p : m.ports)
        out += fmt::format("  {:>4} {:>12.0f} {:>12.0f} {:>12.0f} {:>12.0f} {:>12.0f} {:>8} {}\n", p.port,
                           p.primary_capacity.pps, p.measured_pps, p.predicted_pps, p.shadow_used_pps,
                           p.shadow_reserved_pps, p.clients_on_shadow, p.constrained ? "yes" : "no");
    for (const auto& p : m.scaling)
        out += fmt::format("  shadow of port {}: {:.0f} pps = base {:.0f} + reserve {} of {} steps + {:.0f} granted{}\n",
                           p.port, p.capacity(p.steps_active).pps, p.base.pps, p.steps_active,
                           p.reserve_steps_total, p.granted.pps, p.hook_running ? " (hook running)" : "");
    const std::size_t shown = std::min<std::size_t>(m.scale_events.size(), 5);
    for (std::size_t i = m.scale_events.size() - shown; i < m.scale_events.size(); ++i) {
        const auto& e = m.scale_events[i];
        out += fmt::format("  at {:.1f} s: {} port {}: {}\n", e.t, e.action, e.port, e.result);
    }
    return ok(out);
}

reply set_policy(exec_context& ctx, const parsed_command& cmd)
{
    const std::string& word = cmd.arg("policy").word;
    const snm_policy p = word == "predictive" ? snm_policy::predictive
                         : word == "reactive" ? snm_policy::reactive
                                              : snm_policy::off;
    ctx.target.set_policy(p);
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().member("policy", policy_name(p)).end_object();
        return ok(w.str());
    }
    return ok(fmt::format("policy {}\n", policy_name(p)));
}

// "unlimited" for a capacity of 0 (no --shadow-capacity): what the shadow
// may carry is then only what its port can send.
std::string capacity_text(const rate_spec& c)
{
    if (c.pps <= 0 && c.bps <= 0)
        return "unlimited";
    if (c.bps <= 0)
        return fmt::format("{:.0f} pps", c.pps);
    if (c.pps <= 0)
        return fmt::format("{:.0f} bit/s", c.bps);
    return fmt::format("{:.0f} pps {:.0f} bit/s", c.pps, c.bps);
}

reply show_shadow(exec_context& ctx, const parsed_command& cmd)
{
    const shadow_view v = ctx.target.shadow();
    // A client's reservation and use, from the manager's view of it (absent
    // for a client the manager has not seen yet: zeros).
    const auto res = [](const client_snapshot& c) { return c.shadow ? c.shadow->res : snm::reservation{}; };
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object();
        w.member("queues_per_lcore", unsigned{v.queues_per_lcore});
        w.member("tx_lcores", std::uint64_t{v.tx_lcores});
        w.key("ports").begin_array();
        for (const auto& p : v.ports) {
            w.begin_object();
            w.member("id", unsigned{p.port});
            w.member("name", p.name);
            w.member("first_queue", unsigned{p.first_queue});
            w.member("queues", unsigned{p.queues});
            w.key("shadow_port");
            if (p.shadow_port)
                w.value(unsigned{*p.shadow_port});
            else
                w.null();
            w.member("transmit_only", p.transmit_only);
            w.member("capacity_pps", p.capacity.pps);
            w.member("capacity_bps", p.capacity.bps);
            w.member("reserved_pps", p.reserved_pps);
            w.member("wanted_pps", p.wanted_pps);
            w.member("used_pps", p.used_pps);
            w.member("clients_on_shadow", p.clients_on_shadow);
            w.end_object();
        }
        w.end_array();
        w.member("clients_total", std::uint64_t{v.clients.size()});
        w.key("clients").begin_array();
        for (const auto& c : v.clients) {
            w.begin_object();
            client_json(w, c);
            const auto r = res(c);
            w.key("reservation").begin_object();
            w.member("pps", r.pps).member("bps", r.bps).member("wanted_pps", r.wanted_pps);
            w.end_object();
            w.member("used_pps", c.shadow ? c.shadow->shadow_used_pps : 0.0);
            w.member("priority", c.shadow ? c.shadow->priority : 0);
            w.end_object();
        }
        w.end_array().end_object();
        return ok(w.str());
    }
    std::string out = fmt::format("shadow path: {} reserved TX queue(s) per port and transmitting lcore, {} "
                                  "transmitting lcore(s)\n",
                                  v.queues_per_lcore, v.tx_lcores);
    out += fmt::format("  {:>4}  {:<24} {:<14} {:<16} {:>22} {:>12} {:>12} {:>8}\n", "port", "name", "shadow queues",
                       "shadow egress", "capacity", "reserved", "used", "clients");
    for (const auto& p : v.ports) {
        const std::string queues = p.queues == 0 ? std::string("none (shares primary)")
                                                 : fmt::format("{}-{}", p.first_queue, p.first_queue + p.queues - 1);
        const std::string egress = p.transmit_only ? std::string("(a shadow port)")
                                   : p.shadow_port ? fmt::format("port {}", *p.shadow_port)
                                                   : std::string("same port");
        if (p.transmit_only) {
            out += fmt::format("  {:>4}  {:<24} {:<14} {}\n", p.port, p.name, queues, egress);
            continue;
        }
        out += fmt::format("  {:>4}  {:<24} {:<14} {:<16} {:>22} {:>8.0f} pps {:>8.0f} pps {:>8}\n", p.port, p.name,
                           queues, egress, capacity_text(p.capacity), p.reserved_pps, p.used_pps,
                           p.clients_on_shadow);
    }
    out += fmt::format("clients on the shadow path: {}\n", v.clients.size());
    if (!v.clients.empty()) {
        out += fmt::format("  {:>8}  {:<40} {:>12} {:>14} {:>12} {:>10} {:>8} {:>14} {:>10}\n", "id", "key",
                           "reserved_pps", "reserved_bps", "wanted_pps", "used_pps", "priority", "tx_shadow", "drops");
        for (const auto& c : v.clients) {
            const auto r = res(c);
            out += fmt::format("  {:>8}  {:<40} {:>12.0f} {:>14.0f} {:>12.0f} {:>10.0f} {:>8} {:>14} {:>10}\n", c.id,
                               c.key, r.pps, r.bps, r.wanted_pps, c.shadow ? c.shadow->shadow_used_pps : 0.0,
                               c.shadow ? c.shadow->priority : 0, c.totals.tx_packets[1], c.totals.drops);
        }
    }
    return ok(out);
}

reply set_client_route(exec_context& ctx, const parsed_command& cmd)
{
    const auto id = static_cast<std::uint32_t>(*cmd.arg("id").number);
    const auto via = cmd.arg("path").word == "shadow" ? dataplane::path::shadow : dataplane::path::primary;
    const auto r = ctx.target.set_client_route(id, via);
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().member("client", r.client).member("path", path_name(r.via));
        w.member("epoch", unsigned{r.epoch}).member("changed", r.changed).end_object();
        return ok(w.str());
    }
    return ok(fmt::format("client {} route {}{} (epoch {})\n", r.client, path_name(r.via),
                          r.changed ? "" : " (unchanged)", r.epoch));
}

reply set_client_priority(exec_context& ctx, const parsed_command& cmd)
{
    const auto id = static_cast<std::uint32_t>(*cmd.arg("id").number);
    const auto priority = static_cast<int>(*cmd.arg("priority").number);
    ctx.target.set_client_priority(id, priority);
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().member("client", id).member("priority", priority).end_object();
        return ok(w.str());
    }
    return ok(fmt::format("client {} priority {}\n", id, priority));
}

reply show_drops(exec_context& ctx, const parsed_command& cmd)
{
    std::array<std::uint64_t, drop_reason_count> d{};
    for (const auto& p : ctx.target.port_stats())
        for (std::size_t r = 0; r < drop_reason_count; ++r)
            d[r] += p.drops[r];
    std::uint64_t total = 0;
    for (const auto v : d)
        total += v;
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().member("total", total).key("dropped").begin_object();
        for (std::size_t r = 0; r < drop_reason_count; ++r)
            w.member(drop_reason_names[r], d[r]);
        w.end_object().end_object();
        return ok(w.str());
    }
    std::string out = fmt::format("drops: {} in total\n", total);
    for (std::size_t r = 0; r < drop_reason_count; ++r)
        out += fmt::format("  {:<22} {}\n", drop_reason_names[r], d[r]);
    return ok(out);
}

reply forwarding(exec_context& ctx, const parsed_command& cmd, bool on)
{
    const bool was = ctx.target.set_forwarding(on);
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().member("forwarding", on).member("changed", was != on).end_object();
        return ok(w.str());
    }
    if (was == on)
        return ok(on ? "forwarding is already running\n" : "forwarding is already stopped\n");
    return ok(on ? "forwarding started\n" : "forwarding stopped: RX queues are not polled, packets wait in the ports\n");
}

reply start(exec_context& ctx, const parsed_command& cmd)
{
    return forwarding(ctx, cmd, true);
}

reply stop(exec_context& ctx, const parsed_command& cmd)
{
    return forwarding(ctx, cmd, false);
}

reply load(exec_context& ctx, const parsed_command& cmd)
{
    if (ctx.depth >= max_load_depth)
        return fail(cmd, fmt::format("scripts nested more than {} deep", max_load_depth));
    const std::string file = cmd.arg("file").word;
    exec_context inner{ctx.target, ctx.format, ctx.depth + 1, ctx.audit, ctx.out, ctx.wait};
    std::string collected;
    const auto res = run_script_file(inner, file, true, [&](const reply& r) {
        if (ctx.out)
            ctx.out(r);
        else if (r.ok)
            collected += r.text;
    });
    reply out;
    out.quit = res.quit;
    if (!res.errors.empty()) {
        out.ok = false;
        out.text = fmt::format("load: {}", res.errors.front());
        return out;
    }
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().member("file", file).member("ran", std::uint64_t{res.ran}).member("quit", res.quit);
        w.end_object();
        out.text = w.str();
    } else {
        out.text = collected + fmt::format("loaded {}: {} command(s)\n", file, res.ran);
    }
    return out;
}

reply quit(exec_context& ctx, const parsed_command& cmd)
{
    ctx.target.request_quit();
    reply r = ok(json_out(ctx, cmd) ? std::string("{\"quit\": true}") : std::string("stopping shadownet\n"));
    r.quit = true;
    return r;
}

reply wait(exec_context& ctx, const parsed_command& cmd)
{
    const double seconds = double(*cmd.arg("ms").number) / 1000.0;
    bool full = true;
    if (ctx.wait)
        full = ctx.wait(seconds);
    else
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    // Cut short because the appliance is stopping: the rest of a script must not run.
    reply r = json_out(ctx, cmd) ? ok(fmt::format("{{\"waited_ms\": {}, \"stopping\": {}}}", *cmd.arg("ms").number, !full))
                                 : ok(full ? std::string() : std::string("wait: shadownet is stopping\n"));
    r.quit = !full;
    return r;
}

reply show_failover(exec_context& ctx, const parsed_command& cmd)
{
    const failover_snapshot f = ctx.target.failover();
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object();
        write_failover(w, f);
        w.end_object();
        return ok(w.str());
    }
    std::string out = fmt::format("failover: {}, ports checked every {:.0f} us by a {} thread (longest gap so far "
                                  "{:.0f} us)\n",
                                  f.mode, f.poll_us, f.monitor_priority, f.max_poll_gap_us);
    out += fmt::format("  {:>6}  {:>7}  {:>6}  {:>5}  {:>9}  {}\n", "egress", "primary", "shadow", "epoch", "failovers",
                       "state");
    for (const auto& e : f.egresses) {
        const std::string shadow = e.shadow == e.primary ? std::string("queues") : std::to_string(e.shadow);
        out += fmt::format("  {:>6}  {:>7}  {:>6}  {:>5}  {:>9}  {}\n", e.port, e.primary, shadow, e.epoch, e.failovers,
                           e.down ? "down (dropping, port_down)" : "up");
    }
    out += fmt::format("  {:>4}  {:<24} {:<8} {:<5} {:>9}  {}\n", "port", "name", "health", "link", "refused", "note");
    for (const auto& p : f.ports) {
        std::string note = p.health.reason;
        if (p.health.spare)
            note = note.empty() ? "spare" : "spare; " + note;
        if (p.fault_injected)
            note += note.empty() ? "fault injected" : "; fault injected";
        if (p.link_set_down)
            note += note.empty() ? "link set down" : "; link set down";
        out += fmt::format("  {:>4}  {:<24} {:<8} {:<5} {:>9}  {}\n", p.health.port, p.name,
                           snm::name_of(p.health.health), p.link_up ? "up" : "down", p.tx_refused, note);
    }
    for (const auto& b : f.bonds)
        out += fmt::format("  bonding device {}: members {} (primary) and {}, transmitting on {}\n", b.device,
                           b.primary, b.backup, b.active >= 0 ? fmt::format("port {}", b.active) : std::string("none"));
    const std::size_t shown = std::min<std::size_t>(f.events.size(), 8);
    for (std::size_t i = f.events.size() - shown; i < f.events.size(); ++i) {
        const auto& e = f.events[i];
        out += fmt::format("  at {:.6f} s: port {}: {}: {}\n", e.t, e.port, e.what, e.detail);
    }
    return ok(out);
}

reply set_link(exec_context& ctx, const parsed_command& cmd)
{
    const auto port = static_cast<std::uint16_t>(*cmd.arg("port").number);
    const bool up = cmd.spec->name == "set link-up port";
    ctx.target.set_port_link(port, up);
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().member("port", unsigned{port}).member("link", up ? "up" : "down").end_object();
        return ok(w.str());
    }
    return ok(fmt::format("port {}: link {}\n", port, up ? "up" : "down"));
}

reply port_fault(exec_context& ctx, const parsed_command& cmd)
{
    const auto port = static_cast<std::uint16_t>(*cmd.arg("port").number);
    const bool on = cmd.spec->name == "port fail";
    ctx.target.set_port_fault(port, on);
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().member("port", unsigned{port}).member("fault", on ? "injected" : "cleared").end_object();
        return ok(w.str());
    }
    return ok(fmt::format("port {}: fault {}\n", port, on ? "injected" : "cleared"));
}

reply port_switchover(exec_context& ctx, const parsed_command& cmd)
{
    const auto port = static_cast<std::uint16_t>(*cmd.arg("port").number);
    ctx.target.switchover(port);
    const failover_snapshot f = ctx.target.failover();
    for (const auto& e : f.egresses) {
        if (e.shadow != port)
            continue; // after the swap, the old primary is the shadow
        if (json_out(ctx, cmd)) {
            json_writer w;
            w.begin_object().member("egress", unsigned{e.port}).member("primary", unsigned{e.primary});
            w.member("shadow", unsigned{e.shadow}).member("epoch", unsigned{e.epoch}).end_object();
            return ok(w.str());
        }
        return ok(fmt::format("egress {}: primary port {}, shadow port {}\n", e.port, e.primary, e.shadow));
    }
    return ok({});
}

reply help(exec_context& ctx, const parsed_command& cmd);

std::vector<command_spec> make_table()
{
    using k = token_kind;
    const auto kw = [](std::string_view w) { return token_spec{k::keyword, w, {}, 0, 0, false}; };
    const token_spec port{k::port_or_all, "port", {}, 0, max_port_id, false};
    const token_spec client_id{k::number, "id", {}, 0, max_client_id, false};
    const token_spec one_port{k::number, "port", {}, 0, max_port_id, false};
    return {
        {"show port stats", {kw("show"), kw("port"), kw("stats"), port},
         "per port packets and bytes received, transmitted, forwarded and dropped, since the last clear",
         command_access::read_only, false, show_port_stats},
        {"show port xstats", {kw("show"), kw("port"), kw("xstats"), port}, "the driver's extended statistics",
         command_access::read_only, false, show_port_xstats},
        {"clear port stats", {kw("clear"), kw("port"), kw("stats"), port},
         "start the port counters shown by show port stats and show drops from zero (the lcores' own counters, "
         "the summary and telemetry are not reset)",
         command_access::changing, false, clear_port_stats},
        {"show lcores", {kw("show"), kw("lcores")},
         "per forwarding lcore: role, loops, busy %, busy cycles per packet, packets, route switches",
         command_access::read_only, false, show_lcores},
        {"show clients",
         {kw("show"), kw("clients"), {k::number, "start", {}, 0, max_client_id, true},
          {k::number, "count", {}, 1, 100000, true}},
         "registered clients in id order, a page at a time (default 0 64)", command_access::read_only, false,
         show_clients},
        {"show client", {kw("show"), kw("client"), client_id},
         "one client: key, route, counters and its last per-tick sample", command_access::read_only, false,
         show_client},
        {"show shadow", {kw("show"), kw("shadow")},
         "the reserved shadow TX queues and ports, per port the shadow's capacity, reserved and used, and the "
         "clients on the shadow path now with their reservations",
         command_access::read_only, false, show_shadow},
        {"set client", {kw("set"), kw("client"), client_id, kw("route"), {k::choice, "path", {"primary", "shadow"}, 0, 0, false}},
         "move a client to its primary or shadow path (lossless, in order)", command_access::changing, false,
         set_client_route},
        {"set client priority",
         {kw("set"), kw("client"), client_id, kw("priority"), {k::number, "priority", {}, 0, max_priority, false}},
         "a client's priority for shadow reservations: when the shadow cannot hold them all, higher is served "
         "first (default 0)",
         command_access::changing, false, set_client_priority},
        {"show snm", {kw("show"), kw("snm")},
         "the shadow manager: policy, watermarks, its scores, and per port the primary's measured and predicted "
         "load against capacity and the shadow's use and reservations",
         command_access::read_only, false, show_snm},
        {"set policy", {kw("set"), kw("policy"), {k::choice, "policy", {"predictive", "reactive", "off"}, 0, 0, false}},
         "when the manager moves clients to their shadow: on a forecast, on a measured overload, or never",
         command_access::changing, false, set_policy},
        {"show failover", {kw("show"), kw("failover")},
         "failover: which port carries each egress's primary and shadow path, each port's health, recent events",
         command_access::read_only, false, show_failover},
        {"set link-down port", {kw("set"), kw("link-down"), kw("port"), one_port},
         "set a port's link down (a virtual port's far end is cut too): a real failure for failover to find",
         command_access::changing, false, set_link},
        {"set link-up port", {kw("set"), kw("link-up"), kw("port"), one_port}, "set a port's link up again",
         command_access::changing, false, set_link},
        {"port fail", {kw("port"), kw("fail"), one_port},
         "inject a silent fault: the port's queues stop moving packets and its link says nothing",
         command_access::changing, false, port_fault},
        {"port restore", {kw("port"), kw("restore"), one_port}, "clear a fault injected by port fail",
         command_access::changing, false, port_fault},
        {"port switchover", {kw("port"), kw("switchover"), one_port},
         "planned: the egress whose primary is this port swaps its primary and shadow ports (lossless)",
         command_access::changing, false, port_switchover},
        {"show drops", {kw("show"), kw("drops")}, "dropped packets by reason, all ports, since the last clear",
         command_access::read_only, false, show_drops},
        {"start", {kw("start")}, "resume forwarding", command_access::changing, false, start},
        {"stop", {kw("stop")}, "pause forwarding: RX queues are not polled, packets wait in the ports",
         command_access::changing, false, stop},
        {"load", {kw("load"), {k::path, "file", {}, 0, 0, false}},
         "run the commands in a script file (stops at its first error)", command_access::changing, true, load},
        {"wait", {kw("wait"), {k::number, "ms", {}, 0, 600000, false}},
         "scripts: let the appliance run this many milliseconds before the next command", command_access::read_only,
         true, wait},
        {"quit", {kw("quit")}, "stop the appliance (final counters and --summary-json as usual)",
         command_access::changing, false, quit},
        {"help", {kw("help"), {k::rest, "command", {}, 0, 0, true}},
         "list the commands, or the ones starting with the given words", command_access::read_only, false, help},
    };
}

const std::vector<command_spec>& table()
{
    static const std::vector<command_spec> t = make_table();
    return t;
}

reply help(exec_context& ctx, const parsed_command& cmd)
{
    const auto& a = cmd.arg("command");
    std::vector<const command_spec*> shown;
    for (const auto& s : table())
        if (!a.present || s.name == a.word ||
            (s.name.size() > a.word.size() && s.name.substr(0, a.word.size()) == a.word && s.name[a.word.size()] == ' '))
            shown.push_back(&s);
    if (shown.empty())
        return fail(cmd, fmt::format("no command starts with '{}'", a.word));
    if (json_out(ctx, cmd)) {
        json_writer w;
        w.begin_object().key("commands").begin_array();
        for (const auto* s : shown)
            w.begin_object()
                .member("usage", usage(*s))
                .member("help", s->help)
                .member("access", s->access == command_access::changing ? "changing" : "read-only")
                .end_object();
        w.end_array().end_object();
        return ok(w.str());
    }
    std::string out;
    for (const auto* s : shown)
        out += fmt::format("  {:<40} {}{}\n", usage(*s), s->help, s->access == command_access::changing ? " [changing]" : "");
    if (!a.present)
        out += "Add the word json to any command for its JSON form. Tab completes, ? or a second tab lists choices.\n";
    return ok(out);
}

} // namespace

std::span<const command_spec> command_table()
{
    return table();
}

std::string usage(const command_spec& spec)
{
    std::string out;
    for (const auto& t : spec.tokens)
        out += fmt::format("{}{}", out.empty() ? "" : " ", token_usage(t));
    return out;
}

const arg_value& parsed_command::arg(std::string_view name) const
{
    for (std::size_t i = 0; i < spec->tokens.size(); ++i)
        if (spec->tokens[i].kind != token_kind::keyword && spec->tokens[i].name == name)
            return args[i];
    throw std::logic_error(fmt::format("{}: no argument named {}", spec->name, name));
}

std::uint64_t parsed_command::number_or(std::string_view name, std::uint64_t fallback) const
{
    const auto& a = arg(name);
    return a.present && a.number ? *a.number : fallback;
}

bool is_blank_line(std::string_view line)
{
    return split_words(line).empty();
}

namespace {

// One candidate command's arguments (the words after its leading keywords).
struct argument_parse {
    std::optional<parsed_command> command;
    std::string error;
    std::size_t at = 0;                 // the word the error is about; words.size(): one is missing
    std::string_view expected_keyword;  // the error is this keyword's absence
};

argument_parse parse_arguments(const command_spec& s, const std::vector<std::string_view>& words, parsed_command out)
{
    const auto failed = [](std::string e, std::size_t at, std::string_view kw = {}) {
        argument_parse r;
        r.error = std::move(e);
        r.at = at;
        r.expected_keyword = kw;
        return r;
    };
    out.spec = &s;
    out.args.resize(s.tokens.size());
    std::size_t w = 0;
    for (std::size_t i = 0; i < s.tokens.size(); ++i) {
        const token_spec& t = s.tokens[i];
        if (w >= words.size()) {
            if (t.optional)
                continue;
            return failed(fmt::format("{}: missing {}", s.name, token_usage(t)), words.size());
        }
        const std::size_t at = w;
        const std::string_view word = words[w++];
        arg_value& a = out.args[i];
        a.present = true;
        a.word = std::string(word);
        switch (t.kind) {
        case token_kind::keyword:
            if (word != t.name) // keywords after an argument (set client <id> route ...)
                return failed(fmt::format("{}: expected '{}', not '{}'", s.name, t.name, word), at, t.name);
            break;
        case token_kind::choice:
            if (std::find(t.choices.begin(), t.choices.end(), word) == t.choices.end())
                return failed(fmt::format("{}: {} must be {}, not '{}'", s.name, t.name,
                                          token_usage(t).substr(1, token_usage(t).size() - 2), word),
                              at);
            break;
        case token_kind::port_or_all:
            if (word == "all")
                break;
            [[fallthrough]];
        case token_kind::number: {
            const auto n = to_number(word);
            if (!n)
                return failed(fmt::format("{}: {} '{}' is not a number{}", s.name, t.name, word,
                                          t.kind == token_kind::port_or_all ? " or all" : ""),
                              at);
            if (*n < t.min || *n > t.max)
                return failed(fmt::format("{}: {} {} is out of range ({}-{})", s.name, t.name, *n, t.min, t.max), at);
            a.number = n;
            break;
        }
        case token_kind::path: break;
        case token_kind::rest:
            while (w < words.size())
                a.word += fmt::format(" {}", words[w++]);
            break;
        }
    }
    if (w < words.size())
        return failed(fmt::format("{}: unexpected '{}' after the command (usage: {})", s.name, words[w], usage(s)), w);
    argument_parse r;
    r.command = std::move(out);
    return r;
}

} // namespace

parse_result parse_command(std::string_view line)
{
    auto words = split_words(line);
    if (words.empty())
        return {std::nullopt, "empty command"};
    parsed_command out;
    if (words.size() > 1 && words.back() == "json") {
        out.json = true;
        words.pop_back();
    }
    for (const auto w : words)
        out.line += fmt::format("{}{}", out.line.empty() ? "" : " ", w);
    if (out.json)
        out.line += " json";

    // A command is chosen when all its leading keywords are on the line (what
    // follows is then an argument error, named by the command); otherwise the
    // deepest run of matching keywords names the word that is wrong.
    // Several commands may share their leading keywords (set client <id>
    // route ... / priority ...): all of them are candidates.
    std::size_t best_depth = 0;
    const command_spec* committed = nullptr;
    std::size_t committed_depth = 0;
    std::vector<const command_spec*> candidates;
    for (const auto& s : table()) {
        std::size_t i = 0;
        while (i < s.tokens.size() && i < words.size() && s.tokens[i].kind == token_kind::keyword &&
               s.tokens[i].name == words[i])
            ++i;
        best_depth = std::max(best_depth, i);
        const bool all_keywords = i == s.tokens.size() || s.tokens[i].kind != token_kind::keyword;
        if (all_keywords && (committed == nullptr || i > committed_depth)) {
            committed = &s;
            committed_depth = i;
            candidates.clear();
        }
        if (all_keywords && i == committed_depth)
            candidates.push_back(&s);
    }
    if (committed == nullptr || committed_depth < best_depth) {
        std::vector<std::string_view> next;
        for (const auto& s : table()) {
            std::size_t i = 0;
            while (i < best_depth && i < s.tokens.size() && s.tokens[i].kind == token_kind::keyword &&
                   s.tokens[i].name == words[i])
                ++i;
            if (i == best_depth && i < s.tokens.size() && s.tokens[i].kind == token_kind::keyword &&
                std::find(next.begin(), next.end(), s.tokens[i].name) == next.end())
                next.push_back(s.tokens[i].name);
        }
        std::string expected;
        for (const auto n : next)
            expected += fmt::format("{}{}", expected.empty() ? "" : ", ", n);
        std::string prefix;
        for (std::size_t i = 0; i < best_depth; ++i)
            prefix += fmt::format("{}{}", prefix.empty() ? "" : " ", words[i]);
        if (best_depth == 0)
            return {std::nullopt, fmt::format("unknown command '{}' (try help)", words[0])};
        if (best_depth >= words.size())
            return {std::nullopt, fmt::format("{}: incomplete command, expected one of: {}", prefix, expected)};
        return {std::nullopt,
                fmt::format("{}: unknown word '{}', expected one of: {}", prefix, words[best_depth], expected)};
    }

    // The first candidate whose arguments parse wins. Otherwise the error of
    // the one that got furthest along the line; candidates that all stop at
    // the same word on a keyword name every keyword that would have done.
    std::vector<argument_parse> failures;
    std::size_t furthest = 0;
    for (const command_spec* s : candidates) {
        argument_parse r = parse_arguments(*s, words, out);
        if (r.command)
            return {std::move(r.command), {}};
        furthest = std::max(furthest, r.at);
        failures.push_back(std::move(r));
    }
    std::vector<const argument_parse*> tied;
    for (const auto& f : failures)
        if (f.at == furthest)
            tied.push_back(&f);
    std::vector<std::string_view> expected;
    for (const auto* f : tied)
        if (!f->expected_keyword.empty() &&
            std::find(expected.begin(), expected.end(), f->expected_keyword) == expected.end())
            expected.push_back(f->expected_keyword);
    const bool all_keywords = std::all_of(tied.begin(), tied.end(), [](const argument_parse* f) {
        return !f->expected_keyword.empty();
    });
    if (all_keywords && expected.size() > 1) {
        std::string prefix, alternatives;
        for (std::size_t i = 0; i < committed_depth; ++i)
            prefix += fmt::format("{}{}", prefix.empty() ? "" : " ", words[i]);
        for (std::size_t i = 0; i < expected.size(); ++i)
            alternatives += fmt::format("{}'{}'", i == 0 ? "" : i + 1 == expected.size() ? " or " : ", ", expected[i]);
        return {std::nullopt, fmt::format("{}: expected {}, not '{}'", prefix, alternatives, words[furthest])};
    }
    return {std::nullopt, tied.front()->error};
}

reply execute(exec_context& ctx, const parsed_command& cmd)
{
    reply r;
    try {
        r = cmd.spec->action(ctx, cmd);
    } catch (const std::out_of_range& e) {
        r = fail(cmd, e.what());
    } catch (const config_error& e) {
        r = fail(cmd, e.what());
    } catch (const std::exception& e) {
        r = fail(cmd, e.what());
    }
    if (cmd.spec->access == command_access::changing && ctx.audit)
        ctx.audit(cmd, r);
    return r;
}

reply execute_line(exec_context& ctx, std::string_view line)
{
    auto p = parse_command(line);
    if (!p.command)
        return {false, p.error, false};
    return execute(ctx, *p.command);
}

reply execute(command_target& target, const parsed_command& cmd, output_format format)
{
    exec_context ctx{target, format, 0, {}, {}, {}};
    return execute(ctx, cmd);
}

script_result run_script(exec_context& ctx, std::istream& in, std::string_view name, bool stop_on_error,
                         const std::function<void(const reply&)>& on_reply)
{
    script_result res;
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (is_blank_line(line))
            continue;
        ++res.ran;
        reply r = execute_line(ctx, line);
        if (!r.ok)
            r.text = fmt::format("{}:{}: {}", name, n, r.text);
        if (on_reply)
            on_reply(r);
        if (!r.ok) {
            ++res.failed;
            res.errors.push_back(r.text);
            if (stop_on_error) {
                res.stopped = true;
                break;
            }
        }
        if (r.quit) {
            res.quit = true;
            break;
        }
    }
    return res;
}

script_result run_script_file(exec_context& ctx, const std::string& path, bool stop_on_error,
                              const std::function<void(const reply&)>& on_reply)
{
    std::ifstream in(path);
    if (!in) {
        script_result res;
        res.failed = 1;
        res.stopped = true;
        res.errors.push_back(fmt::format("{}: cannot open the file", path));
        return res;
    }
    return run_script(ctx, in, path, stop_on_error, on_reply);
}

} // namespace shadownet::control
