#include "shadownet/core/plan.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "shadownet/core/error.hpp"

namespace shadownet {

namespace {

bool contains(std::span<const unsigned> v, unsigned x)
{
    return std::find(v.begin(), v.end(), x) != v.end();
}

struct lcore_roles {
    std::vector<unsigned> fwd;
    std::vector<unsigned> rx;
    std::vector<unsigned> tx;
    bool main_forwards = false;
};

lcore_roles choose_lcores(const app_config& cfg, unsigned main_lcore, std::span<const unsigned> worker_lcores)
{
    lcore_roles r;
    if (!cfg.fwd_lcores.empty()) {
        for (const auto l : cfg.fwd_lcores) {
            if (l == main_lcore)
                throw config_error(fmt::format("--fwd-lcores: lcore {} is the main (control) lcore", l));
            if (!contains(worker_lcores, l))
                throw config_error(fmt::format("--fwd-lcores: lcore {} is not enabled by EAL (workers: {})", l,
                                               worker_lcores.empty() ? std::string("none")
                                                                     : fmt::format("{}", fmt::join(worker_lcores, ","))));
        }
        r.fwd = cfg.fwd_lcores;
    } else if (!worker_lcores.empty()) {
        r.fwd.assign(worker_lcores.begin(), worker_lcores.end());
    } else if (cfg.mode == forwarding_mode::rtc) {
        r.fwd = {main_lcore};
        r.main_forwards = true;
    }
    if (cfg.mode == forwarding_mode::rtc) {
        r.rx = r.fwd;
        r.tx = r.fwd;
    } else {
        if (r.fwd.size() < 2)
            throw config_error(fmt::format("--mode pipeline: needs at least 2 forwarding lcores besides the main one "
                                           "(have {}); give EAL more lcores (-l/--lcores)",
                                           r.fwd.size()));
        if (!cfg.rx_lcores.empty()) {
            for (const auto l : cfg.rx_lcores)
                if (!contains(r.fwd, l))
                    throw config_error(fmt::format("--rx-lcores: lcore {} is not a forwarding lcore ({})", l,
                                                   fmt::join(r.fwd, ",")));
            r.rx = cfg.rx_lcores;
        } else {
            r.rx.assign(r.fwd.begin(), r.fwd.begin() + static_cast<std::ptrdiff_t>(r.fwd.size() / 2));
        }
        for (const auto l : r.fwd)
            if (!contains(r.rx, l))
                r.tx.push_back(l);
        if (r.tx.empty())
            throw config_error("--rx-lcores: leaves no worker lcore to transmit");
    }
    if (r.tx.size() > 16 || r.rx.size() > 16)
        throw config_error(fmt::format("{} forwarding lcores: at most 16 receiving and 16 transmitting are supported",
                                       r.fwd.size()));
    return r;
}

queue_counts queue_counts_for(const app_config& cfg, const lcore_roles& r, std::size_t n_ports)
{
    queue_counts q;
    q.txq = static_cast<std::uint16_t>(r.tx.size());
    q.shadow_txq = static_cast<std::uint16_t>(cfg.shadow_txq * r.tx.size());
    if (cfg.rxq != 0)
        q.rxq = cfg.rxq;
    else
        q.rxq = static_cast<std::uint16_t>(
            std::max<std::size_t>(1, (r.rx.size() + n_ports - 1) / std::max<std::size_t>(1, n_ports)));
    if (q.txq + q.shadow_txq > 64)
        throw config_error(fmt::format("{} primary + {} shadow TX queues per port: at most 64", q.txq, q.shadow_txq));
    return q;
}

} // namespace

queue_counts planned_queue_counts(const app_config& cfg, std::size_t n_ports, unsigned main_lcore,
                                  std::span<const unsigned> worker_lcores)
{
    return queue_counts_for(cfg, choose_lcores(cfg, main_lcore, worker_lcores), n_ports);
}

std::uint16_t forwarding_plan::peer_of(std::uint16_t in) const
{
    for (const auto& p : pairs) {
        if (p.a == in)
            return p.b;
        if (p.b == in)
            return p.a;
    }
    throw config_error(fmt::format("port {} is not in any pair", in));
}

std::uint16_t forwarding_plan::shadow_peer_of(std::uint16_t in) const
{
    const auto out = peer_of(in);
    for (const auto& s : shadow_ports)
        if (s.a == out)
            return s.b;
    return out;
}

forwarding_plan make_forwarding_plan(const app_config& cfg, std::span<const std::uint16_t> available_ports,
                                     unsigned main_lcore, std::span<const unsigned> worker_lcores)
{
    forwarding_plan plan;
    plan.mode = cfg.mode;

    // Ports.
    if (available_ports.empty())
        throw config_error("no ports: run without EAL arguments for the embedded default, add ports to the EAL "
                           "arguments (--vdev or a NIC), or ask for --virtual-ports N");
    if (cfg.ports) {
        for (const auto p : *cfg.ports) {
            if (std::find(available_ports.begin(), available_ports.end(), p) == available_ports.end())
                throw config_error(fmt::format("--ports: port {} does not exist (available: {})", p,
                                               fmt::join(available_ports, ",")));
            plan.ports.push_back(p);
        }
    } else {
        plan.ports.assign(available_ports.begin(), available_ports.end());
    }
    std::sort(plan.ports.begin(), plan.ports.end());
    for (const auto p : plan.ports)
        if (p >= plan_max_ports)
            throw config_error(fmt::format("port {}: at most {} ports are supported (ids 0-{})", p, plan_max_ports,
                                           plan_max_ports - 1));
    const auto is_ours = [&](std::uint16_t p) {
        return std::find(plan.ports.begin(), plan.ports.end(), p) != plan.ports.end();
    };

    // Shadow-only ports: targets of --shadow-ports; they transmit but are not polled.
    std::vector<std::uint16_t> shadow_only;
    for (const auto& s : cfg.shadow_ports) {
        for (const auto p : {s.a, s.b})
            if (!is_ours(p))
                throw config_error(fmt::format("--shadow-ports: port {} is not an appliance port (ports: {})", p,
                                               fmt::join(plan.ports, ",")));
        if (std::find(shadow_only.begin(), shadow_only.end(), s.b) == shadow_only.end())
            shadow_only.push_back(s.b);
    }
    plan.shadow_ports = cfg.shadow_ports;
    // Spare ports: transmit-only too, in no role until a failover needs a new shadow.
    for (const auto p : cfg.spare_ports) {
        if (!is_ours(p))
            throw config_error(fmt::format("--spare-ports: port {} is not an appliance port (ports: {})", p,
                                           fmt::join(plan.ports, ",")));
        if (std::find(shadow_only.begin(), shadow_only.end(), p) != shadow_only.end() ||
            std::any_of(cfg.shadow_ports.begin(), cfg.shadow_ports.end(), [p](const port_pair& s) { return s.a == p; }))
            throw config_error(fmt::format("--spare-ports: port {} already has a role in --shadow-ports", p));
        if (std::find(plan.spare_ports.begin(), plan.spare_ports.end(), p) == plan.spare_ports.end())
            plan.spare_ports.push_back(p);
    }
    for (const auto p : plan.ports)
        if (std::find(shadow_only.begin(), shadow_only.end(), p) == shadow_only.end() &&
            std::find(plan.spare_ports.begin(), plan.spare_ports.end(), p) == plan.spare_ports.end())
            plan.rx_ports.push_back(p);
    for (const auto& s : cfg.shadow_ports)
        if (std::find(shadow_only.begin(), shadow_only.end(), s.a) != shadow_only.end())
            throw config_error(fmt::format("--shadow-ports: port {} is a shadow port and cannot have one", s.a));

    // Pairs, among the polled ports.
    if (!cfg.port_pairs.empty()) {
        for (const auto& pp : cfg.port_pairs)
            for (const auto p : {pp.a, pp.b}) {
                if (!is_ours(p))
                    throw config_error(fmt::format("--port-pairs: port {} is not an appliance port (ports: {})", p,
                                                   fmt::join(plan.ports, ",")));
                if (std::find(shadow_only.begin(), shadow_only.end(), p) != shadow_only.end())
                    throw config_error(fmt::format("--port-pairs: port {} is a shadow port", p));
                if (std::find(plan.spare_ports.begin(), plan.spare_ports.end(), p) != plan.spare_ports.end())
                    throw config_error(fmt::format("--port-pairs: port {} is a spare port", p));
            }
        plan.pairs = cfg.port_pairs;
        for (const auto p : plan.rx_ports) {
            const bool paired = std::any_of(plan.pairs.begin(), plan.pairs.end(),
                                            [p](const port_pair& pp) { return pp.a == p || pp.b == p; });
            if (!paired)
                throw config_error(fmt::format("--port-pairs: port {} is not in any pair (use {}:{} to forward it "
                                               "to itself, or leave it out of --ports)",
                                               p, p, p));
        }
    } else {
        if (plan.rx_ports.size() % 2 != 0)
            throw config_error(fmt::format("{} ports cannot be paired: give --port-pairs (A:A forwards a port to "
                                           "itself) or an even number of ports",
                                           plan.rx_ports.size()));
        for (std::size_t i = 0; i + 1 < plan.rx_ports.size(); i += 2)
            plan.pairs.push_back({plan.rx_ports[i], plan.rx_ports[i + 1]});
    }

    // Lcores and queues.
    const auto roles = choose_lcores(cfg, main_lcore, worker_lcores);
    plan.fwd_lcores = roles.fwd;
    plan.main_forwards = roles.main_forwards;
    plan.rx_lcores = roles.rx;
    plan.tx_lcores = roles.tx;
    const auto counts = queue_counts_for(cfg, roles, plan.rx_ports.size());
    plan.rxq = counts.rxq;
    plan.txq = counts.txq;
    plan.shadow_per_lcore = cfg.shadow_txq;
    plan.rx_by_lcore.assign(plan.rx_lcores.size(), {});
    std::size_t next = 0;
    for (std::uint16_t q = 0; q < plan.rxq; ++q)
        for (const auto p : plan.rx_ports)
            plan.rx_by_lcore[next++ % plan.rx_lcores.size()].push_back({p, q});
    return plan;
}

} // namespace shadownet
