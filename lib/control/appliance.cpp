#include "shadownet/control/appliance.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "shadownet/core/error.hpp"

namespace shadownet::control {

namespace {

constexpr unsigned vcable_ring_size = 4096; // ~4 ms at 1 Mpps: rides out a descheduled lcore
constexpr unsigned pool_cache = 256;

unsigned round_pool_size(std::uint64_t n)
{
    // Mempools are most memory-efficient at 2^k - 1 elements.
    std::uint64_t p = 1;
    while (p - 1 < n)
        p <<= 1;
    return static_cast<unsigned>(std::min<std::uint64_t>(p - 1, (1U << 20) - 1));
}

} // namespace

appliance::appliance(const app_config& cfg) : cfg_(cfg)
{
    const unsigned main_lcore = rte_get_main_lcore();
    std::vector<unsigned> workers;
    unsigned l = 0;
    RTE_LCORE_FOREACH_WORKER(l) { workers.push_back(l); }

    // Virtual ports are created with exactly the queues the plan will give
    // every port, so count the appliance ports they will join first.
    const std::uint16_t n_virtual = cfg.virtual_ports.value_or(0);
    std::vector<std::uint16_t> candidates = dpdk::ethdev_ports();
    if (n_virtual > 0) {
        const std::size_t n_ports = cfg.ports ? cfg.ports->size() + n_virtual : candidates.size() + n_virtual;
        const auto q = planned_queue_counts(cfg, n_ports, main_lcore, workers);
        for (std::uint16_t i = 0; i < n_virtual; ++i) {
            cables_.push_back(std::make_unique<dpdk::vcable>(fmt::format("vport{}", i), q.rxq,
                                                             static_cast<std::uint16_t>(q.txq + cfg.shadow_txq),
                                                             vcable_ring_size, static_cast<int>(rte_socket_id())));
            candidates.push_back(cables_.back()->side_a());
        }
        for (auto& c : cables_)
            c->open_side_b();
    }
    // --ports picks among the EAL ports; virtual ports always belong to the appliance.
    app_config plan_cfg = cfg;
    if (plan_cfg.ports)
        for (const auto& c : cables_)
            plan_cfg.ports->push_back(c->side_a());
    plan_ = make_forwarding_plan(plan_cfg, candidates, main_lcore, workers);

    // The appliance's own pool feeds RX on real ports; ring-backed ports carry
    // the built-in traffic's mbufs instead.
    const std::size_t n_ports = plan_.ports.size();
    const std::size_t n_lcores = plan_.fwd_lcores.size() + 1;
    std::uint64_t mbufs = cfg.mbufs;
    if (mbufs == 0)
        mbufs = n_ports * (std::uint64_t{plan_.rxq} * cfg.rxd +
                           (std::uint64_t{plan_.txq} + plan_.shadow_txq) * cfg.txd) +
                n_lcores * (pool_cache + 2 * cfg.burst) + 1024;
    pool_.emplace(dpdk::mempool::pktmbuf("shadownet_pkts", round_pool_size(mbufs), pool_cache,
                                         static_cast<int>(rte_socket_id())));

    dpdk::port_setup setup;
    setup.rxq = plan_.rxq;
    setup.txq = plan_.txq;
    setup.shadow_txq = plan_.shadow_txq;
    setup.rxd = cfg.rxd;
    setup.txd = cfg.txd;
    for (const auto p : plan_.ports)
        ports_.emplace_back(p, setup, pool_->get());

    if (!cables_.empty()) {
        std::uint64_t ring_slots = 0;
        std::vector<gen::traffic_port> tports;
        std::vector<dpdk::port_setup> peer_setups;
        for (const auto& c : cables_) {
            const auto& a = *std::find_if(ports_.begin(), ports_.end(),
                                          [&](const dpdk::port& p) { return p.id() == c->side_a(); });
            dpdk::port_setup peer;
            peer.rxq = static_cast<std::uint16_t>(a.setup().txq + a.setup().shadow_txq);
            peer.txq = a.setup().rxq;
            peer.rxd = cfg.rxd;
            peer.txd = cfg.txd;
            ring_slots += std::uint64_t{vcable_ring_size} * (peer.rxq + peer.txq);
            tports.push_back({c->side_b(), peer.txq, peer.rxq});
            peer_setups.push_back(peer);
        }
        // Enough to keep every ring of the cables busy, capped: when the pool
        // runs dry the generator waits for mbufs to come back (it owes the
        // packets, it does not lose them), which beats a pool EAL memory
        // cannot hold.
        const std::uint64_t gen_mbufs = std::min<std::uint64_t>(ring_slots + 4096, 16383);
        traffic_pool_.emplace(dpdk::mempool::pktmbuf("shadownet_gen", round_pool_size(gen_mbufs),
                                                     pool_cache, static_cast<int>(rte_socket_id())));
        for (std::size_t i = 0; i < cables_.size(); ++i)
            traffic_ports_.emplace_back(cables_[i]->side_b(), peer_setups[i], traffic_pool_->get());
        traffic_.emplace(cfg.traffic, std::move(tports), traffic_pool_->get(), cfg.burst);
    }

    counters_ = std::make_unique<dataplane::lcore_counters[]>(RTE_MAX_LCORE);
    fwd_confs_.resize(plan_.fwd_lcores.size());
    for (std::size_t i = 0; i < plan_.fwd_lcores.size(); ++i) {
        auto& c = fwd_confs_[i];
        c.lcore_id = plan_.fwd_lcores[i];
        for (const auto& q : plan_.rx_by_lcore[i])
            c.rx.push_back({q.port, q.queue});
        c.peer.fill(dataplane::no_port);
        for (const auto p : plan_.ports)
            c.peer[p] = plan_.peer_of(p);
        c.txq = plan_.tx_queue_by_lcore[i];
        c.burst = cfg.burst;
        c.counters = &counters_[c.lcore_id];
        c.quit = &quit_;
    }
}

appliance::~appliance()
{
    stop();
    // Members go in reverse order: traffic, generator ports, appliance ports,
    // pools, cables. The cables must outlive the ports they back: close the
    // ports explicitly first.
    traffic_.reset();
    traffic_ports_.clear();
    ports_.clear();
    cables_.clear();
}

void appliance::start()
{
    for (auto& p : ports_)
        p.start();
    for (auto& p : traffic_ports_)
        p.start();
    for (auto& c : fwd_confs_) {
        if (plan_.main_forwards)
            continue;
        if (const int rc = rte_eal_remote_launch(dataplane::fwd_lcore_main, &c, c.lcore_id); rc != 0)
            throw dpdk_error(fmt::format("cannot launch lcore {}: busy", c.lcore_id), rc);
    }
    launched_ = true;
}

bool appliance::poll()
{
    bool worked = false;
    if (traffic_) {
        traffic_->poll();
        worked = true;
    }
    if (plan_.main_forwards && launched_ && !stopped_)
        worked = dataplane::fwd_poll(fwd_confs_.front()) > 0 || worked;
    return worked;
}

void appliance::stop()
{
    if (stopped_ || !launched_) {
        stopped_ = true;
        return;
    }
    stopped_ = true;
    const auto pending = [this](bool to_appliance) {
        unsigned n = 0;
        for (const auto& c : cables_)
            n += to_appliance ? c->pending_to_a() : c->pending_to_b();
        return n;
    };
    if (traffic_) {
        traffic_->stop_sending();
        // Let the fast path take in what the generator already put on the wire.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
        while (pending(true) > 0 && std::chrono::steady_clock::now() < deadline) {
            traffic_->receive();
            if (plan_.main_forwards)
                dataplane::fwd_poll(fwd_confs_.front());
        }
    }
    quit_.store(true, std::memory_order_release);
    if (!plan_.main_forwards)
        rte_eal_mp_wait_lcore();
    if (traffic_) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
        do {
            traffic_->receive();
        } while (pending(false) > 0 && std::chrono::steady_clock::now() < deadline);
    }
}

stats_snapshot appliance::snapshot() const
{
    stats_snapshot s;
    s.at = std::chrono::steady_clock::now();
    for (const auto& p : ports_) {
        port_snapshot ps;
        ps.id = p.id();
        ps.name = p.name();
        for (const auto& conf : fwd_confs_) {
            const auto& pc = counters_[conf.lcore_id].port[p.id()];
            ps.rx += pc.rx_packets.read();
            ps.tx += pc.tx_packets.read();
            ps.forwarded += pc.forwarded.read();
            ps.rx_bytes += pc.rx_bytes.read();
            ps.tx_bytes += pc.tx_bytes.read();
            for (std::size_t r = 0; r < dataplane::drop_reason_count; ++r)
                ps.drops[r] += pc.drops[r].read();
        }
        ps.hw = p.hw_stats();
        s.ports.push_back(std::move(ps));
    }
    for (const auto& conf : fwd_confs_) {
        const auto& c = counters_[conf.lcore_id];
        lcore_snapshot ls;
        ls.id = conf.lcore_id;
        ls.role = plan_.main_forwards ? "main+forward" : "forward";
        ls.loops = c.loops.read();
        ls.busy_cycles = c.busy_cycles.read();
        ls.idle_cycles = c.idle_cycles.read();
        std::array<bool, dataplane::max_ports> seen{};
        for (const auto& q : conf.rx) {
            if (!std::exchange(seen[q.port], true))
                ls.packets += c.port[q.port].rx_packets.read();
        }
        s.lcores.push_back(std::move(ls));
    }
    if (traffic_)
        s.traffic = traffic_->totals();
    return s;
}

unsigned appliance::mempool_in_use() const noexcept
{
    unsigned n = pool_ ? pool_->in_use() : 0;
    if (traffic_pool_)
        n += traffic_pool_->in_use();
    return n;
}

} // namespace shadownet::control
