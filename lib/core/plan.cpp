#include "shadownet/core/plan.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "shadownet/core/error.hpp"

namespace shadownet {

namespace {

std::vector<unsigned> choose_fwd_lcores(const app_config& cfg, unsigned main_lcore,
                                        std::span<const unsigned> worker_lcores, bool& main_forwards)
{
    main_forwards = false;
    if (!cfg.fwd_lcores.empty()) {
        for (const auto l : cfg.fwd_lcores) {
            if (l == main_lcore)
                throw config_error(fmt::format("--fwd-lcores: lcore {} is the main (control) lcore", l));
            if (std::find(worker_lcores.begin(), worker_lcores.end(), l) == worker_lcores.end())
                throw config_error(fmt::format("--fwd-lcores: lcore {} is not enabled by EAL (workers: {})", l,
                                               worker_lcores.empty() ? std::string("none")
                                                                     : fmt::format("{}", fmt::join(worker_lcores, ","))));
        }
        return cfg.fwd_lcores;
    }
    if (!worker_lcores.empty())
        return {worker_lcores.begin(), worker_lcores.end()};
    main_forwards = true;
    return {main_lcore};
}

queue_counts queue_counts_for(const app_config& cfg, std::size_t n_lcores, std::size_t n_ports)
{
    if (n_lcores > 16)
        throw config_error(fmt::format("{} forwarding lcores: at most 16 are supported", n_lcores));
    queue_counts q;
    q.txq = static_cast<std::uint16_t>(n_lcores);
    if (cfg.rxq != 0)
        q.rxq = cfg.rxq;
    else
        q.rxq = static_cast<std::uint16_t>(std::max<std::size_t>(1, (n_lcores + n_ports - 1) / std::max<std::size_t>(1, n_ports)));
    return q;
}

} // namespace

queue_counts planned_queue_counts(const app_config& cfg, std::size_t n_ports, unsigned main_lcore,
                                  std::span<const unsigned> worker_lcores)
{
    bool main_forwards = false;
    const auto lcores = choose_fwd_lcores(cfg, main_lcore, worker_lcores, main_forwards);
    return queue_counts_for(cfg, lcores.size(), n_ports);
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

forwarding_plan make_forwarding_plan(const app_config& cfg, std::span<const std::uint16_t> available_ports,
                                     unsigned main_lcore, std::span<const unsigned> worker_lcores)
{
    forwarding_plan plan;

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

    // Pairs.
    const auto is_ours = [&](std::uint16_t p) {
        return std::find(plan.ports.begin(), plan.ports.end(), p) != plan.ports.end();
    };
    if (!cfg.port_pairs.empty()) {
        for (const auto& pp : cfg.port_pairs)
            for (const auto p : {pp.a, pp.b})
                if (!is_ours(p))
                    throw config_error(fmt::format("--port-pairs: port {} is not an appliance port (ports: {})", p,
                                                   fmt::join(plan.ports, ",")));
        plan.pairs = cfg.port_pairs;
        for (const auto p : plan.ports) {
            const bool paired = std::any_of(plan.pairs.begin(), plan.pairs.end(),
                                            [p](const port_pair& pp) { return pp.a == p || pp.b == p; });
            if (!paired)
                throw config_error(fmt::format("--port-pairs: port {} is not in any pair (use {}:{} to forward it "
                                               "to itself, or leave it out of --ports)",
                                               p, p, p));
        }
    } else {
        if (plan.ports.size() % 2 != 0)
            throw config_error(fmt::format("{} ports cannot be paired: give --port-pairs (A:A forwards a port to "
                                           "itself) or an even number of ports",
                                           plan.ports.size()));
        for (std::size_t i = 0; i + 1 < plan.ports.size(); i += 2)
            plan.pairs.push_back({plan.ports[i], plan.ports[i + 1]});
    }

    plan.fwd_lcores = choose_fwd_lcores(cfg, main_lcore, worker_lcores, plan.main_forwards);

    // Queues: every forwarding lcore gets its own TX queue on every port, and
    // the RX queues of all ports are dealt round-robin over the lcores.
    const auto n_lcores = plan.fwd_lcores.size();
    const auto counts = queue_counts_for(cfg, n_lcores, plan.ports.size());
    plan.rxq = counts.rxq;
    plan.txq = counts.txq;
    plan.shadow_txq = cfg.shadow_txq;
    plan.rx_by_lcore.assign(n_lcores, {});
    std::size_t next = 0;
    for (std::uint16_t q = 0; q < plan.rxq; ++q)
        for (const auto p : plan.ports)
            plan.rx_by_lcore[next++ % n_lcores].push_back({p, q});
    for (std::size_t i = 0; i < n_lcores; ++i)
        plan.tx_queue_by_lcore.push_back(static_cast<std::uint16_t>(i));
    return plan;
}

} // namespace shadownet
