#include "shadownet/control/appliance.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "shadownet/core/error.hpp"

namespace shadownet::control {

namespace {

constexpr unsigned vcable_ring_size = 4096; // ~4 ms at 1 Mpps: rides out a descheduled lcore
constexpr unsigned pool_cache = 256;
constexpr unsigned connect_ring_size = 4096;
constexpr unsigned handoff_ring_size = 1024;

unsigned round_pool_size(std::uint64_t n)
{
    // Mempools are most memory-efficient at 2^k - 1 elements.
    std::uint64_t p = 1;
    while (p - 1 < n)
        p <<= 1;
    return static_cast<unsigned>(std::min<std::uint64_t>(p - 1, (1U << 20) - 1));
}

dataplane::client_key_config key_config(const client_config& c)
{
    dataplane::client_key_config k;
    switch (c.key) {
    case client_key_kind::src_ip: k.mode = dataplane::client_key_mode::src_ip; break;
    case client_key_kind::vlan: k.mode = dataplane::client_key_mode::vlan; break;
    case client_key_kind::src_mac: k.mode = dataplane::client_key_mode::src_mac; break;
    }
    k.prefix_v4 = c.prefix_v4;
    k.prefix_v6 = c.prefix_v6;
    return k;
}

// The built-in traffic: a scenario file, or one group of clients at a constant rate.
gen::scenario builtin_scenario(const builtin_traffic_config& t)
{
    if (!t.scenario_file.empty()) {
        auto sc = gen::load_scenario(t.scenario_file);
        sc.duration = 0; // the appliance's --duration decides; the profiles keep their own times
        return sc;
    }
    // 0 means as fast as the generator can: a rate it cannot reach.
    auto sc = gen::simple_scenario(t.clients, t.rate_pps > 0 ? t.rate_pps : 1e9, 0);
    sc.groups.front().flows = t.flows_per_client;
    sc.groups.front().size = t.packet_size;
    return sc;
}

rate_spec capacity_of(const std::vector<port_capacity>& list, std::uint16_t port) noexcept
{
    const port_capacity* all = nullptr;
    for (const auto& c : list) {
        if (c.port == port)
            return c.rate;
        if (!c.port)
            all = &c;
    }
    return all ? all->rate : rate_spec{};
}

const char* role_name(dataplane::lcore_role r)
{
    switch (r) {
    case dataplane::lcore_role::rtc: return "rtc";
    case dataplane::lcore_role::rx: return "rx";
    case dataplane::lcore_role::worker: return "worker";
    }
    return "?";
}

} // namespace

appliance::appliance(const app_config& cfg) : cfg_(cfg), registry_(cfg.clients.history)
{
    const unsigned main_lcore = dpdk::main_lcore();
    const std::vector<unsigned> workers = dpdk::worker_lcores();

    // Virtual ports are created with exactly the queues the plan will give
    // every port, so count the appliance ports they will join first. The A
    // sides are created first so that the appliance's ports get the low ids.
    const std::uint16_t n_virtual = cfg.virtual_ports.value_or(0);
    std::vector<std::uint16_t> candidates = dpdk::ethdev_ports();
    if (n_virtual > 0) {
        const std::size_t n_ports = cfg.ports ? cfg.ports->size() + n_virtual : candidates.size() + n_virtual;
        const auto q = planned_queue_counts(cfg, n_ports, main_lcore, workers);
        for (std::uint16_t i = 0; i < n_virtual; ++i) {
            cables_.push_back(std::make_unique<dpdk::vcable>(fmt::format("vport{}", i), q.rxq,
                                                             static_cast<std::uint16_t>(q.txq + q.shadow_txq),
                                                             vcable_ring_size, dpdk::local_socket()));
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
    if (cfg.failover.mode == failover_mode::bond)
        bond_shadow_ports(plan_cfg, candidates);
    plan_ = make_forwarding_plan(plan_cfg, candidates, main_lcore, workers);

    // The appliance's own pool feeds RX on real ports; ring-backed ports carry
    // the built-in traffic's mbufs instead.
    const std::size_t n_ports = plan_.ports.size();
    const std::size_t n_lcores = plan_.fwd_lcores.size() + 1;
    std::uint64_t mbufs = cfg.mbufs;
    if (mbufs == 0)
        mbufs = n_ports * (std::uint64_t{plan_.rxq} * cfg.rxd +
                           (std::uint64_t{plan_.txq} + plan_.shadow_txq()) * cfg.txd) +
                n_lcores * (pool_cache + 2 * cfg.burst) +
                plan_.rx_lcores.size() * plan_.tx_lcores.size() * handoff_ring_size * (plan_.mode == forwarding_mode::pipeline) +
                1024;
    pool_.emplace(dpdk::mempool::pktmbuf("shadownet_pkts", round_pool_size(mbufs), pool_cache,
                                         dpdk::local_socket()));

    dpdk::port_setup setup;
    setup.rxq = plan_.rxq;
    setup.txq = plan_.txq;
    setup.shadow_txq = plan_.shadow_txq();
    setup.rxd = cfg.rxd;
    setup.txd = cfg.txd;
    for (const auto p : plan_.ports) {
        // Reserve the shadow queues where the device has room; elsewhere the
        // shadow path shares the primary queue (say so: it is not isolated).
        dpdk::port_setup mine = setup;
        const dpdk::device_caps caps = dpdk::device_caps_of(p);
        if (caps.max_tx_queues < setup.txq + setup.shadow_txq && caps.max_tx_queues >= setup.txq) {
            mine.shadow_txq = 0;
            if (setup.shadow_txq > 0)
                fmt::print(stderr,
                           "shadownet: warning: port {} ({}) has {} TX queues: no room for {} shadow queues, its "
                           "shadow path shares the primary queues\n",
                           p, dpdk::ethdev_name(p), caps.max_tx_queues, setup.shadow_txq);
        }
        ports_.emplace_back(p, mine, pool_->get());
    }

    if (!cables_.empty()) {
        std::uint64_t ring_slots = 0;
        std::vector<gen::engine_port> tports;
        std::vector<dpdk::port_setup> peer_setups;
        for (const auto& c : cables_) {
            dpdk::port_setup peer;
            peer.rxq = static_cast<std::uint16_t>(setup.txq + setup.shadow_txq);
            peer.txq = setup.rxq;
            peer.rxd = cfg.rxd;
            peer.txd = cfg.txd;
            ring_slots += std::uint64_t{vcable_ring_size} * (peer.rxq + peer.txq);
            // Shadow-only ports are not polled: the generator does not send into them.
            const bool polled = std::find(plan_.rx_ports.begin(), plan_.rx_ports.end(), c->side_a()) !=
                                plan_.rx_ports.end();
            tports.push_back({c->side_b(), polled ? peer.txq : std::uint16_t{0}, peer.rxq});
            peer_setups.push_back(peer);
        }
        // Enough to keep every ring of the cables busy, capped: when the pool
        // runs dry the generator waits for mbufs to come back (it owes the
        // packets, it does not lose them), which beats a pool EAL memory
        // cannot hold.
        const std::uint64_t gen_mbufs = std::min<std::uint64_t>(ring_slots + 4096, 16383);
        traffic_pool_.emplace(dpdk::mempool::pktmbuf("shadownet_gen", round_pool_size(gen_mbufs), pool_cache,
                                                     dpdk::local_socket()));
        for (std::size_t i = 0; i < cables_.size(); ++i)
            traffic_ports_.emplace_back(cables_[i]->side_b(), peer_setups[i], traffic_pool_->get());
        // The far ends both send (into the polled ports, or those of
        // --traffic-ports) and receive (from every port).
        for (const auto p : cfg.traffic.ports)
            if (std::find(plan_.rx_ports.begin(), plan_.rx_ports.end(), p) == plan_.rx_ports.end() ||
                std::none_of(cables_.begin(), cables_.end(), [p](const auto& c) { return c->side_a() == p; }))
                throw config_error(fmt::format("--traffic-ports: port {} is not a polled virtual port", p));
        std::vector<gen::engine_port> senders;
        for (std::size_t i = 0; i < tports.size(); ++i) {
            const bool chosen = cfg.traffic.ports.empty() ||
                                std::find(cfg.traffic.ports.begin(), cfg.traffic.ports.end(), cables_[i]->side_a()) !=
                                    cfg.traffic.ports.end();
            if (tports[i].txq > 0 && chosen)
                senders.push_back(tports[i]);
        }
        traffic_.emplace(builtin_scenario(cfg.traffic), std::move(senders), std::move(tports), traffic_pool_->get(),
                         cfg.burst);
    }

    table_ = std::make_unique<dataplane::client_table>("shadownet_clients", cfg.clients.max_clients,
                                                       dpdk::local_socket());
    snm::scaling_config sc;
    sc.base = cfg.snm.shadow_capacity;
    sc.reserve = cfg.snm.shadow_reserve;
    sc.reserve_steps = cfg.snm.reserve_steps;
    sc.hook = cfg.snm.scale_hook;
    sc.hook_timeout_s = cfg.snm.scale_hook_timeout_s;
    scaler_ = std::make_unique<snm::scaler>(sc);
    // The manager's forecast refits run in the background on the control
    // lcore's CPUs, never on a forwarding core.
    manager_ = std::make_unique<snm::manager>(
        cfg.snm, cfg.clients.tick_s, [this](std::uint16_t p) { return primary_capacity(p); },
        [this](std::uint16_t p) { return shadow_capacity(p); },
        snm::refit_setup{dpdk::main_lcore_cpus(), true});
    if (!cfg.snm.state_dir.empty()) {
        snm::history_options ho;
        ho.flush_interval_s = cfg.snm.history_flush_s;
        try {
            history_ = std::make_unique<snm::history_store>(cfg.snm.state_dir, ho);
        } catch (const std::runtime_error& e) {
            throw config_error(fmt::format("--state-dir: {}", e.what()));
        }
        for (auto& k : history_->keys())
            known_keys_.insert(std::move(k));
    }
    if (!cfg.snm.log_csv.empty()) {
        snm_log_.open(cfg.snm.log_csv, std::ios::trunc);
        if (!snm_log_)
            throw config_error(fmt::format("--snm-log: cannot write '{}'", cfg.snm.log_csv));
        snm_log_ << "t,kind,id,port,path,pps,mean_pps,upper_pps,reserved_pps,primary_drop_pps,shadow_drop_pps,"
                    "shadow_tx_pps,capacity_pps,constrained,key\n";
    }
    counters_ = std::make_unique<dataplane::lcore_counters[]>(RTE_MAX_LCORE);
    setup_probes();
    setup_failover();
    setup_lcores();
}

void appliance::setup_probes()
{
    // How each TX queue tells that it drained (route.hpp, step 3).
    probes_ = std::make_unique<dataplane::egress_probe_table>();
    for (const auto& p : ports_) {
        const std::string driver = dpdk::device_caps_of(p.id()).driver;
        const dpdk::vcable* cable = nullptr;
        for (const auto& c : cables_)
            if (c->side_a() == p.id())
                cable = c.get();
        const unsigned n_txq = static_cast<unsigned>(p.setup().txq) + p.setup().shadow_txq;
        for (unsigned q = 0; q < n_txq && q < dataplane::max_queues; ++q) {
            dataplane::egress_probe& probe = (*probes_)[p.id()][q];
            if (cable != nullptr) {
                probe.how = dataplane::egress_probe::kind::ring;
                probe.ring = cable->a_tx_ring(static_cast<std::uint16_t>(q));
            } else if (driver == "net_null" || driver == "net_pcap") {
                probe.how = dataplane::egress_probe::kind::immediate;
            } else if (driver == "net_ring" || driver == "net_memif") {
                probe.how = dataplane::egress_probe::kind::grace;
            } else {
                probe.how = dataplane::egress_probe::kind::descriptor;
                probe.ring_size = p.setup().txd;
            }
        }
    }
}

void appliance::setup_lcores()
{
    using dataplane::lcore_role;
    const bool pipeline = plan_.mode == forwarding_mode::pipeline;
    int handoff_field = -1;
    if (pipeline) {
        handoff_field = dataplane::register_handoff_field();
        if (handoff_field < 0)
            throw dpdk_error("cannot register the mbuf hand-off field", handoff_field);
        for (std::size_t i = 0; i < plan_.rx_lcores.size(); ++i)
            for (std::size_t j = 0; j < plan_.tx_lcores.size(); ++j)
                handoff_.push_back(std::make_unique<dpdk::ring>(fmt::format("sn_handoff_{}_{}", i, j),
                                                                handoff_ring_size, dpdk::local_socket(),
                                                                RING_F_SP_ENQ | RING_F_SC_DEQ));
    }
    const std::size_t n_clients = std::size_t{table_->capacity()} + 1;
    shadow_budgets_ = std::make_unique<dataplane::shadow_budget[]>(n_clients);
    shadow_pools_ = std::make_unique<dataplane::shadow_budget[]>(dataplane::max_ports);
    for (std::size_t p = 0; p < dataplane::max_ports; ++p)
        shadow_pools_[p].word.store(dataplane::no_shadow_pool, std::memory_order_relaxed);
    // Every transmitting lcore has its own TX queue on every port: each meters
    // an even share of a port's capacity and of a client's reservation.
    const double tx_share = 1.0 / static_cast<double>(std::max<std::size_t>(1, plan_.tx_lcores.size()));
    const double burst_s = cfg_.snm.capacity_burst_ms * 1e-3;
    const double grace_cycles = cfg_.switch_grace_us * 1e-6 * static_cast<double>(dpdk::tsc_hz());
    lcores_.resize(plan_.fwd_lcores.size());
    for (std::size_t i = 0; i < plan_.fwd_lcores.size(); ++i) {
        const unsigned id = plan_.fwd_lcores[i];
        lcore_slot& s = lcores_[i];
        auto& c = s.conf;
        c.lcore_id = id;
        const auto rx_it = std::find(plan_.rx_lcores.begin(), plan_.rx_lcores.end(), id);
        const auto tx_it = std::find(plan_.tx_lcores.begin(), plan_.tx_lcores.end(), id);
        c.role = !pipeline ? lcore_role::rtc : (rx_it != plan_.rx_lcores.end() ? lcore_role::rx : lcore_role::worker);
        if (rx_it != plan_.rx_lcores.end()) {
            const auto rx_index = static_cast<std::size_t>(rx_it - plan_.rx_lcores.begin());
            for (const auto& q : plan_.rx_by_lcore[rx_index])
                c.rx.push_back({q.port, q.queue});
            if (pipeline)
                for (std::size_t j = 0; j < plan_.tx_lcores.size(); ++j)
                    c.handoff_out.push_back(handoff_[rx_index * plan_.tx_lcores.size() + j]->get());
        }
        if (tx_it != plan_.tx_lcores.end()) {
            const auto tx_index = static_cast<std::size_t>(tx_it - plan_.tx_lcores.begin());
            c.primary_txq = plan_.primary_txq_of(tx_index);
            c.shadow_txq_base = plan_.shadow_txq_base_of(tx_index);
            c.shadow_txq_count = plan_.shadow_per_lcore;
            if (pipeline)
                for (std::size_t r = 0; r < plan_.rx_lcores.size(); ++r)
                    c.handoff_in.push_back(handoff_[r * plan_.tx_lcores.size() + tx_index]->get());
        }
        c.peer.fill(dataplane::no_port);
        for (const auto& p : ports_)
            c.has_shadow_txq[p.id()] = p.setup().shadow_txq > 0;
        for (const auto p : plan_.rx_ports)
            c.peer[p] = plan_.peer_of(p);
        c.egress = egress_.get();
        c.burst = std::min<std::uint16_t>(cfg_.burst, dataplane::max_burst);
        c.key = key_config(cfg_.clients);
        c.overflow_to_default = cfg_.clients.overflow_to_default;
        c.clients = table_.get();
        c.miss_route = &miss_route_;
        s.connect = std::make_unique<dpdk::ring>(fmt::format("sn_connect_{}", id), connect_ring_size,
                                                 dpdk::local_socket(), RING_F_SP_ENQ | RING_F_SC_DEQ,
                                                 static_cast<unsigned>(sizeof(dataplane::client_key)));
        c.connect_ring = s.connect->get();
        c.probes = probes_.get();
        c.grace_cycles = static_cast<std::uint64_t>(grace_cycles);
        c.stall_cycles = dpdk::tsc_hz() / 1000;
        c.handoff_field = handoff_field;
        c.counters = &counters_[id];
        s.stats = std::make_unique<dataplane::client_lcore_stats[]>(n_clients);
        s.egress = std::make_unique<dataplane::client_egress[]>(n_clients);
        c.clients_stats = s.stats.get();
        c.clients_egress = s.egress.get();
        if (tx_it != plan_.tx_lcores.end()) {
            for (const auto& p : ports_) {
                const rate_spec cap = primary_capacity(p.id());
                if (cap.pps <= 0 && cap.bps <= 0)
                    continue;
                auto m = std::make_unique<dataplane::token_meter>();
                if (!m->configure({cap.pps * tx_share, cap.bps * tx_share}, burst_s, c.burst))
                    throw config_error(fmt::format("--primary-capacity: DPDK refuses the rate for port {}", p.id()));
                c.primary_meter[p.id()] = m.get();
                s.primary_meters.push_back(std::move(m));
            }
            s.shadow_meters = std::make_unique<dataplane::client_shadow_meter[]>(n_clients);
            c.shadow_budgets = shadow_budgets_.get();
            c.shadow_meters = s.shadow_meters.get();
            s.shadow_pool_meters = std::make_unique<dataplane::client_shadow_meter[]>(dataplane::max_ports);
            c.shadow_pools = shadow_pools_.get();
            c.shadow_pool_meters = s.shadow_pool_meters.get();
            c.budget_share = tx_share;
            c.capacity_burst_s = burst_s;
        }
        c.quit = c.role == lcore_role::worker ? &quit_workers_ : &quit_rx_;
        c.pause = &paused_;
        s.state = std::make_unique<dataplane::lcore_state>();
        s.launch = {&s.conf, s.state.get()};
    }
    last_busy_.assign(lcores_.size(), 0);
}

appliance::~appliance()
{
    stop();
    // The cables must outlive the ports they back, and a bonding device's
    // members the device: close the ports explicitly first.
    traffic_.reset();
    traffic_ports_.clear();
    if (!bonds_.empty()) {
        // A bonding device polls its members' links from an EAL alarm that it
        // re-arms while started: stop it, then let the last alarm fire before
        // the device goes (and before EAL's cleanup, which in 22.11 frees the
        // alarm's interrupt handle under a pending alarm: a crash at exit).
        for (auto& p : ports_)
            for (const auto& b : bonds_)
                if (p.id() == b->id())
                    p.stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ports_.clear();
    bonds_.clear();
    cables_.clear();
    // Closing ports (memif, bonding) unregisters interrupt sources, which
    // wakes EAL's interrupt thread to rebuild its wait list; EAL 22.11's
    // cleanup does not stop that thread before freeing what it walks. Let it
    // settle first (seen: SIGSEGV in rte_intr_fd_get at exit, bond + memif).
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void appliance::bond_shadow_ports(app_config& plan_cfg, std::vector<std::uint16_t>& candidates)
{
    // --failover bond: each A:S of --shadow-ports becomes one active-backup
    // bonding device with A as its primary member; the device takes A's
    // place in the pairs, and neither A nor S is an appliance port of its own.
    if (cfg_.shadow_ports.empty())
        throw config_error("--failover bond: needs --shadow-ports A:S (each pair becomes one bonding device)");
    const auto drop = [](std::vector<std::uint16_t>& v, std::uint16_t p) { std::erase(v, p); };
    for (const auto& sp : cfg_.shadow_ports) {
        for (const auto p : {sp.a, sp.b})
            if (std::find(candidates.begin(), candidates.end(), p) == candidates.end())
                throw config_error(fmt::format("--shadow-ports: port {} does not exist", p));
        bonds_.push_back(std::make_unique<dpdk::bond>(fmt::format("net_bonding_sn{}", bonds_.size()), sp.a, sp.b,
                                                      dpdk::local_socket()));
        const std::uint16_t id = bonds_.back()->id();
        drop(candidates, sp.a);
        drop(candidates, sp.b);
        candidates.push_back(id);
        for (auto& pp : plan_cfg.port_pairs) {
            if (pp.a == sp.a)
                pp.a = id;
            if (pp.b == sp.a)
                pp.b = id;
        }
        if (plan_cfg.ports) {
            drop(*plan_cfg.ports, sp.a);
            drop(*plan_cfg.ports, sp.b);
            plan_cfg.ports->push_back(id);
        }
    }
    plan_cfg.shadow_ports.clear();
}

void appliance::start()
{
    for (auto& p : ports_)
        p.start();
    for (auto& p : traffic_ports_)
        p.start();
    // Started ports may have filled their RX descriptors from the pool: that
    // is the level "every mbuf came back" is measured against.
    pool_baseline_ = pool_->in_use();
    traffic_pool_baseline_ = traffic_pool_ ? traffic_pool_->in_use() : 0;
    if (plan_.main_forwards) {
        table_->register_reader(lcores_.front().conf.lcore_id);
    } else {
        // Should a launch fail half-way, the launcher stops and waits for
        // the lcores already running before the exception leaves.
        launcher_.emplace([this] {
            quit_rx_.store(true, std::memory_order_release);
            quit_workers_.store(true, std::memory_order_release);
        });
        for (auto& s : lcores_)
            launcher_->launch(s.conf.lcore_id, dataplane::lcore_main, &s.launch);
    }
    launched_ = true;
    started_at_ = std::chrono::steady_clock::now();
    monitor_quit_.store(false, std::memory_order_relaxed);
    monitor_ = std::thread([this] { monitor_loop(); });
    next_tick_ = started_at_;
    next_traffic_tick_ = started_at_;
}

double appliance::uptime_s() const noexcept
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
}

bool appliance::poll()
{
    bool worked = false;
    if (traffic_) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_traffic_tick_) {
            traffic_->tick(uptime_s());
            next_traffic_tick_ = std::max(now, next_traffic_tick_ +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(traffic_->plan().tick)));
        }
        discard_cut_cables();
        traffic_->poll();
        worked = true;
    }
    if (!launched_ || stopped_)
        return worked;
    if (plan_.main_forwards) {
        if (paused_.load(std::memory_order_relaxed))
            dataplane::lcore_paused_poll(lcores_.front().conf, *lcores_.front().state);
        else
            worked = dataplane::lcore_poll(lcores_.front().conf, *lcores_.front().state) > 0 || worked;
    }
    register_new_clients();
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_tick_) {
        tick();
        next_tick_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(cfg_.clients.tick_s));
        if (next_tick_ < now)
            next_tick_ = now; // we fell behind: do not burst ticks to catch up
    }
    return worked;
}

void appliance::register_new_clients()
{
    std::array<dataplane::client_key, 64> keys;
    const double now = uptime_s();
    for (auto& s : lcores_) {
        unsigned n = 0;
        while ((n = s.connect->dequeue_burst_elem(std::span<dataplane::client_key>(keys))) > 0) {
            for (unsigned i = 0; i < n; ++i) {
                // The baseline is read before the key goes in: from then on
                // lcores count packets for the new client under this id.
                const auto next = table_->next_id();
                const client_totals baseline = next ? client_counters(*next) : client_totals{};
                // Several lcores may report the same source; add() refuses known keys.
                const auto id = table_->add(keys[i]);
                if (id) {
                    registry_.add(*id, keys[i], now, *id == next ? baseline : client_counters(*id));
                    std::string key = dataplane::to_string(keys[i]);
                    const auto warm = warm_start_of(key);
                    manager_->client_added(*id, std::move(key), now, warm ? &*warm : nullptr);
                }
            }
        }
    }
}

client_totals appliance::client_counters(std::uint32_t id) const
{
    client_totals t;
    for (const auto& s : lcores_) {
        const auto& c = s.stats[id];
        t.rx_packets += c.rx_packets.read();
        t.rx_bytes += c.rx_bytes.read();
        t.drops += c.drops.read();
        for (int p = 0; p < 2; ++p) {
            t.tx_packets[p] += c.tx_packets[p].read();
            t.tx_bytes[p] += c.tx_bytes[p].read();
        }
    }
    return t;
}

void appliance::tick()
{
    ++ticks_;
    const double now = uptime_s();
    const double dt = last_tick_s_ < 0 ? cfg_.clients.tick_s : std::max(1e-3, now - last_tick_s_);
    last_tick_s_ = now;
    const double hz = static_cast<double>(dpdk::tsc_hz());

    // Busy cycles per lcore over the tick, and the packets each lcore handled
    // per client (to share those cycles out).
    std::vector<double> busy(lcores_.size());
    std::vector<double> lcore_units(lcores_.size(), 0);
    for (std::size_t i = 0; i < lcores_.size(); ++i) {
        const std::uint64_t b = counters_[lcores_[i].conf.lcore_id].busy_cycles.read();
        busy[i] = static_cast<double>(b - last_busy_[i]);
        last_busy_[i] = b;
    }
    // The mbufs the appliance itself holds right now.
    double held = 0;
    for (const auto& r : handoff_)
        held += r->count();
    for (const auto& s : lcores_)
        held += static_cast<double>(counters_[s.conf.lcore_id].held.read());

    // Each lcore's busy cycles are shared among the clients by the packets it
    // handled for them in the tick (received + sent).
    struct work {
        client_record* rec;
        client_totals delta;
    };
    std::vector<work> active;
    std::vector<double> units(lcores_.size() * registry_.size(), 0); // [client][lcore]
    double rx_total = 0;
    std::vector<std::uint32_t> idle;
    registry_.for_each([&](client_record& rec) {
        const client_totals now_totals = client_counters(rec.id) - rec.baseline;
        const client_totals d = now_totals - rec.last;
        rec.last = now_totals;
        if (d.rx_packets > 0)
            rec.last_active_s = now;
        else if (cfg_.clients.idle_timeout_s > 0 && now - rec.last_active_s >= cfg_.clients.idle_timeout_s)
            idle.push_back(rec.id);
        rec.lcore_work.resize(lcores_.size(), 0);
        const std::size_t row = active.size() * lcores_.size();
        for (std::size_t i = 0; i < lcores_.size(); ++i) {
            const auto& c = lcores_[i].stats[rec.id];
            const std::uint64_t w = c.rx_packets.read() + c.tx_packets[0].read() + c.tx_packets[1].read();
            units[row + i] = static_cast<double>(w - std::min(w, rec.lcore_work[i]));
            rec.lcore_work[i] = w;
            lcore_units[i] += units[row + i];
        }
        rx_total += static_cast<double>(d.rx_packets);
        active.push_back({&rec, d});
    });
    for (std::size_t k = 0; k < active.size(); ++k) {
        const work& w = active[k];
        client_sample smp;
        smp.t = static_cast<float>(now);
        smp.bits_per_s = static_cast<float>(static_cast<double>(w.delta.rx_bytes) * 8.0 / dt);
        smp.packets_per_s = static_cast<float>(static_cast<double>(w.delta.rx_packets) / dt);
        double cycles = 0;
        for (std::size_t i = 0; i < lcores_.size(); ++i)
            if (lcore_units[i] > 0)
                cycles += busy[i] * units[k * lcores_.size() + i] / lcore_units[i];
        smp.cpu = static_cast<float>(cycles / (hz * dt));
        smp.mbufs = static_cast<float>(rx_total > 0 ? held * static_cast<double>(w.delta.rx_packets) / rx_total : 0);
        w.rec->history.push(smp);
    }
    // Clients about to be forgotten (idle) are not news for the manager.
    std::vector<client_tick> ticked;
    ticked.reserve(active.size());
    for (const auto& w : active)
        if (std::find(idle.begin(), idle.end(), w.rec->id) == idle.end())
            ticked.push_back({w.rec, w.delta});
    for (const auto id : idle) {
        table_->remove(id);
        registry_.remove(id);
        manager_->client_removed(id);
    }
    run_manager(now, dt, ticked);
    record_history(ticked);
}

std::optional<snm::manager::warm_start> appliance::warm_start_of(const std::string& key) const
{
    // Only sources the history knows are looked up: a flood of new (spoofed)
    // sources must not cost a database read each.
    if (!history_ || known_keys_.count(key) == 0)
        return std::nullopt;
    snm::manager::warm_start w;
    if (const auto p = history_->load_profile(key)) {
        snm::profile prof;
        for (const auto k : {snm::client_class::steady, snm::client_class::bursty, snm::client_class::periodic,
                             snm::client_class::suspicious})
            if (p->kind == snm::name_of(k))
                prof.kind = k;
        prof.observed_s = p->observed_s;
        prof.mean_pps = p->mean_pps;
        prof.peak_pps = p->peak_pps;
        prof.p95_pps = p->p95_pps;
        prof.mean_bps = p->mean_bps;
        prof.peak_bps = p->peak_bps;
        prof.cv = p->cv;
        prof.mean_packet_bytes = p->mean_packet_bytes;
        w.prof = prof;
    }
    constexpr std::size_t warm_ticks = 100;
    w.pps = history_->recent_series(key, snm::history_level::tick, warm_ticks, snm::history_field::pps);
    w.bps = history_->recent_series(key, snm::history_level::tick, warm_ticks, snm::history_field::bps);
    return w;
}

void appliance::record_history(const std::vector<client_tick>& active)
{
    if (!history_)
        return;
    const double wall = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& w : active) {
        if (w.rec->history.size() == 0)
            continue;
        const client_sample& smp = w.rec->history.at(w.rec->history.size() - 1);
        history_->append(dataplane::to_string(w.rec->key), {wall, smp.packets_per_s, smp.bits_per_s, smp.cpu, smp.mbufs});
    }
    for (const auto& [id, p] : manager_->take_new_profiles()) {
        const client_record* rec = registry_.find(id);
        if (rec == nullptr)
            continue;
        snm::stored_profile sp;
        sp.kind = snm::name_of(p.kind);
        sp.observed_s = p.observed_s;
        sp.mean_pps = p.mean_pps;
        sp.peak_pps = p.peak_pps;
        sp.p95_pps = p.p95_pps;
        sp.mean_bps = p.mean_bps;
        sp.peak_bps = p.peak_bps;
        sp.cv = p.cv;
        sp.mean_packet_bytes = p.mean_packet_bytes;
        sp.updated = wall;
        std::string key = dataplane::to_string(rec->key);
        history_->save_profile(key, sp);
        known_keys_.insert(std::move(key));
    }
    if (history_->flush_due(wall)) {
        try {
            history_->flush(wall);
        } catch (const std::runtime_error& e) {
            // A batch that failed to commit is lost; the appliance goes on.
            fmt::print(stderr, "shadownet: warning: history: {}\n", e.what());
        }
    }
}

std::uint16_t appliance::egress_of(std::uint32_t client) const noexcept
{
    // The port its packets last came in on, as the lcore that saw most of them says.
    std::uint64_t best = 0;
    std::uint16_t in_port = 0;
    bool found = false;
    for (const auto& s : lcores_) {
        const auto& c = s.stats[client];
        const std::uint64_t p = c.in_port.read();
        if (p != 0 && (!found || c.rx_packets.read() > best)) {
            best = c.rx_packets.read();
            in_port = static_cast<std::uint16_t>(p - 1);
            found = true;
        }
    }
    // A port in no pair (a client seen only on a port that forwards nowhere)
    // has no egress: no capacity applies to it.
    for (const auto& pp : plan_.pairs) {
        if (found && pp.a == in_port)
            return pp.b;
        if (found && pp.b == in_port)
            return pp.a;
    }
    return dataplane::no_port;
}

bool appliance::fast_path_stalled_since_last_tick()
{
    // Stalls in the histogram bucket that holds the primary's bucket depth
    // and above: a shorter stall cannot overflow a full bucket at or below
    // capacity (the bucket fills faster than the backlog grows), one of about
    // its length can (the manager still checks the load, snm::manager::score_tick).
    const auto depth_us = static_cast<std::uint64_t>(std::max(1.0, std::round(cfg_.snm.capacity_burst_ms * 1000)));
    const std::size_t first = depth_us < 1000 ? 0 : dataplane::stall_bucket(depth_us, 1000);
    std::uint64_t long_stalls = 0;
    for (const auto& slot : lcores_)
        for (std::size_t b = first; b < dataplane::stall_buckets; ++b)
            long_stalls += counters_[slot.conf.lcore_id].stalls[b].read();
    return std::exchange(long_stalls_seen_, long_stalls) != long_stalls;
}

void appliance::run_manager(double now, double dt, const std::vector<client_tick>& active)
{
    std::vector<snm::observation> obs;
    obs.reserve(active.size());
    for (const auto& w : active) {
        snm::observation o;
        o.id = w.rec->id;
        o.egress = egress_of(o.id);
        o.pps = static_cast<double>(w.delta.rx_packets) / dt;
        o.bps = static_cast<double>(w.delta.rx_bytes) * 8 / dt;
        // A client's drops are on the path it is on: over the primary's
        // capacity there, over its reservation on the shadow.
        const double drops = static_cast<double>(w.delta.drops) / dt;
        (w.rec->via == dataplane::path::primary ? o.primary_drop_pps : o.shadow_drop_pps) = drops;
        o.shadow_tx_pps = static_cast<double>(w.delta.tx_packets[1]) / dt;
        obs.push_back(o);
    }
    for (const auto& a : manager_->tick(now, obs, fast_path_stalled_since_last_tick())) {
        if (a.what != snm::action::kind::newcomers && registry_.find(a.id) == nullptr)
            continue;
        if (a.what == snm::action::kind::newcomers) {
            set_newcomer_path(a.via);
            continue;
        }
        if (a.what == snm::action::kind::budget) {
            set_shadow_budget(a.id, a.budget);
        } else if (a.via != dataplane::path::shadow || has_shadow_path()) {
            client_record* rec = registry_.find(a.id);
            table_->set_route(a.id, a.via);
            if (rec->via != a.via)
                ++rec->route_changes;
            rec->via = a.via;
        }
    }
    publish_shadow_pools(obs);
    // The shadow's load per egress port, for the scaler.
    std::vector<snm::shadow_load> loads;
    for (const auto& p : manager_->ports()) {
        snm::shadow_load l;
        l.port = p.port;
        l.wanted_pps = p.shadow_wanted_pps;
        l.used_pps = p.shadow_used_pps;
        for (const auto& o : obs)
            if (o.egress == p.port)
                l.drop_pps += o.shadow_drop_pps;
        loads.push_back(l);
    }
    for (const auto& e : scaler_->tick(now, loads))
        if (event_sink_)
            event_sink_(fmt::format("{} port {}", e.action, e.port),
                        fmt::format("{}; capacity {:.0f} pps{}{}", e.result, e.capacity_pps,
                                    e.request.empty() ? "" : fmt::format("; request {}", e.request),
                                    e.answer.empty() ? "" : fmt::format("; answer {} after {:.3f} s", e.answer,
                                                                         e.duration_s)));
    if (snm_log_.is_open()) {
        for (const auto& o : obs) {
            const auto v = manager_->client(o.id);
            if (!v)
                continue;
            const client_record* rec = registry_.find(o.id);
            snm_log_ << fmt::format("{:.3f},client,{},{},{},{:.1f},{:.1f},{:.1f},{:.1f},{:.1f},{:.1f},{:.1f},,,{}\n", now,
                                    o.id, o.egress, v->via == dataplane::path::shadow ? "shadow" : "primary", o.pps,
                                    v->pred.mean_pps, v->pred.upper_pps, v->res.pps, o.primary_drop_pps,
                                    o.shadow_drop_pps, o.shadow_tx_pps,
                                    rec != nullptr ? dataplane::to_string(rec->key) : std::string{});
        }
        for (const auto& p : manager_->ports())
            snm_log_ << fmt::format("{:.3f},port,{},{},,{:.1f},,{:.1f},{:.1f},,,{:.1f},{:.1f},{},\n", now, p.port,
                                    p.port, p.measured_pps, p.predicted_pps, p.shadow_reserved_pps, p.shadow_used_pps,
                                    p.primary_capacity.pps, p.constrained ? 1 : 0);
    }
}

void appliance::publish_shadow_pools(const std::vector<snm::observation>& obs)
{
    // Per physical port its shadow packets leave on (capacity.hpp): the sum
    // of the budgets the fast path enforces for the clients on the shadow
    // that sent this tick, raised to the shadow's capacity there where it is
    // known. Unknown (no --shadow-capacity): the budgets only, and a client
    // alone there has nobody to borrow from.
    struct pool {
        double pps = 0, bps = 0; // the budgets
        bool bps_unlimited = false;
        double cap_pps = 0, cap_bps = 0; // the capacity; a unit some shadow there leaves open is unlimited
        bool cap_pps_open = false, cap_bps_open = false;
        unsigned clients = 0;
    };
    std::array<pool, dataplane::max_ports> pools{};
    const auto shadow_port_of = [&](std::uint16_t egress) {
        const auto role = egress_->role(egress);
        return role.shadow < dataplane::max_ports ? role.shadow : egress;
    };
    for (const auto& o : obs) {
        const client_record* rec = registry_.find(o.id);
        if (rec == nullptr || rec->via != dataplane::path::shadow || o.egress >= dataplane::max_ports)
            continue;
        const std::uint64_t w = shadow_budgets_[o.id].word.load(std::memory_order_relaxed);
        if (w == dataplane::budget_word_unlimited)
            continue;
        const dataplane::rate_limit b = dataplane::unpack_budget(w);
        pool& p = pools[shadow_port_of(o.egress)];
        p.pps += b.pps;
        p.bps += b.bps;
        p.bps_unlimited = p.bps_unlimited || b.bps <= 0;
        ++p.clients;
    }
    for (const auto& pv : manager_->ports()) {
        if (pv.port >= dataplane::max_ports)
            continue;
        pool& p = pools[shadow_port_of(pv.port)];
        const rate_spec cap = pv.shadow_capacity;
        p.cap_pps_open = p.cap_pps_open || cap.pps <= 0;
        p.cap_bps_open = p.cap_bps_open || cap.bps <= 0;
        p.cap_pps += std::max(0.0, cap.pps);
        p.cap_bps += std::max(0.0, cap.bps);
    }
    for (std::size_t port = 0; port < dataplane::max_ports; ++port) {
        const pool& p = pools[port];
        const bool capacity_known = !(p.cap_pps_open && p.cap_bps_open);
        std::uint64_t w = dataplane::no_shadow_pool;
        if (capacity_known && p.clients > 0) {
            // pack_budget: a negative rate is unlimited in that unit.
            const double pps = p.cap_pps_open ? -1 : std::max(p.pps, p.cap_pps);
            const double bps = p.cap_bps_open || p.bps_unlimited ? -1 : std::max(p.bps, p.cap_bps);
            w = dataplane::pack_budget(pps, bps);
        } else if (p.clients >= 2) {
            w = dataplane::pack_budget(p.pps, p.bps_unlimited ? -1 : p.bps);
        }
        shadow_pools_[port].word.store(w, std::memory_order_relaxed);
    }
}

dataplane::route appliance::set_client_route(std::uint32_t client, dataplane::path via)
{
    client_record* rec = registry_.find(client);
    if (rec == nullptr)
        throw std::out_of_range(fmt::format("client {} does not exist", client));
    if (via == dataplane::path::shadow && !has_shadow_path())
        throw config_error("no shadow path: no shadow TX queues (--shadow-txq 0) and no --shadow-ports");
    const auto r = table_->set_route(client, via);
    if (rec->via != via)
        ++rec->route_changes;
    rec->via = via;
    manager_->note_route(client, via, uptime_s(), "operator");
    return r;
}

void appliance::set_newcomer_path(dataplane::path via)
{
    if (via == dataplane::path::shadow && !has_shadow_path())
        return;
    auto r = dataplane::route::unpack(miss_route_.load(std::memory_order_relaxed));
    if (r.via == via)
        return;
    r.via = via;
    r.epoch = static_cast<std::uint16_t>(r.epoch + 1); // a new route: the lcores drain the old egress first
    miss_route_.store(r.pack(), std::memory_order_relaxed);
}

void appliance::set_policy(snm_policy p)
{
    manager_->set_policy(p);
}

void appliance::set_client_priority(std::uint32_t client, int priority)
{
    if (registry_.find(client) == nullptr || !manager_->set_priority(client, priority))
        throw std::out_of_range(fmt::format("client {} does not exist", client));
}

void appliance::set_shadow_budget(std::uint32_t client, const rate_spec& budget)
{
    if (client > table_->capacity())
        throw std::out_of_range(fmt::format("client {} does not exist", client));
    const double pps = budget.pps > 0 ? budget.pps : -1;
    const double bps = budget.bps > 0 ? budget.bps : -1;
    shadow_budgets_[client].word.store(dataplane::pack_budget(pps, bps), std::memory_order_relaxed);
}

rate_spec appliance::primary_capacity(std::uint16_t port) const noexcept
{
    return capacity_of(cfg_.snm.primary_capacity, port);
}

rate_spec appliance::shadow_capacity(std::uint16_t port) const noexcept
{
    return scaler_->capacity(port);
}

void appliance::stop()
{
    if (stopped_ || !launched_) {
        stopped_ = true;
        return;
    }
    // The monitor first: nothing may change roles while the fast path drains.
    monitor_quit_.store(true, std::memory_order_relaxed);
    if (monitor_.joinable())
        monitor_.join();
    // What waits in the ports while forwarding is paused, or in virtual ports
    // whose faults kept them from being polled, must be taken in and counted.
    set_forwarding(true);
    for (const auto& c : cables_) {
        const std::uint16_t p = c->side_a();
        egress_->set_flags(p, egress_->flags(p) & ~(dataplane::port_rx_off | dataplane::port_tx_stuck));
    }
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
            receive_traffic();
            if (plan_.main_forwards)
                dataplane::lcore_poll(lcores_.front().conf, *lcores_.front().state);
        }
    }
    stopped_ = true;
    if (plan_.main_forwards) {
        dataplane::lcore_finish(lcores_.front().conf, *lcores_.front().state);
        table_->unregister_reader(lcores_.front().conf.lcore_id);
    } else {
        // RX lcores first, so that nothing is handed to a worker that has left.
        quit_rx_.store(true, std::memory_order_release);
        for (const auto& s : lcores_)
            if (s.conf.role != dataplane::lcore_role::worker)
                launcher_->wait(s.conf.lcore_id);
        quit_workers_.store(true, std::memory_order_release);
        launcher_->wait_all();
    }
    if (traffic_) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
        do {
            receive_traffic();
        } while (pending(false) > 0 && std::chrono::steady_clock::now() < deadline);
    }
    register_new_clients();
}

stats_snapshot appliance::snapshot() const
{
    return snapshot(cfg_.clients.summary_clients, true);
}

stats_snapshot appliance::snapshot(std::size_t max_clients, bool busiest_first) const
{
    stats_snapshot s;
    s.at = std::chrono::steady_clock::now();
    s.ports = port_snapshots();
    s.lcores = lcore_stats();
    if (traffic_) {
        traffic_snapshot t;
        t.totals = traffic_->totals();
        t.latency = traffic_->latency();
        t.rate_pps = traffic_->current_rate();
        s.traffic = t;
    }

    s.mempools.push_back({"shadownet_pkts", pool_->size(), pool_->in_use(), pool_baseline_});
    if (traffic_pool_)
        s.mempools.push_back({"shadownet_gen", traffic_pool_->size(), traffic_pool_->in_use(), traffic_pool_baseline_});
    for (const auto& r : handoff_)
        s.rings.emplace_back(r->get()->name, r->count());

    s.clients.count = registry_.size();
    s.clients.capacity = table_->capacity();
    s.clients.connects = registry_.connects();
    s.clients.default_client = client_counters(dataplane::default_client);
    std::vector<client_snapshot> all;
    for (const auto id : registry_.ids())
        all.push_back(client_summary(*registry_.find(id)));
    const std::size_t keep = std::min<std::size_t>(all.size(), max_clients);
    if (busiest_first)
        std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                          [](const client_snapshot& a, const client_snapshot& b) {
                              return a.totals.rx_packets > b.totals.rx_packets ||
                                     (a.totals.rx_packets == b.totals.rx_packets && a.id < b.id);
                          });
    all.resize(keep);
    s.clients.busiest = std::move(all);
    s.shadow = shadow();
    s.manager = snm_view();
    s.failover = failover_view();
    return s;
}

snm_snapshot appliance::snm_view() const
{
    snm_snapshot m;
    m.policy = policy_name(manager_->policy());
    m.scores = manager_->score();
    m.refits = manager_->refits();
    m.ports = manager_->ports();
    m.scaling = scaler_->ports();
    m.scale_events = scaler_->events();
    return m;
}

std::vector<port_snapshot> appliance::port_snapshots() const
{
    std::vector<port_snapshot> out;
    for (const auto& p : ports_) {
        port_snapshot ps;
        ps.id = p.id();
        ps.name = p.name();
        for (const auto& slot : lcores_) {
            const auto& pc = counters_[slot.conf.lcore_id].port[p.id()];
            ps.rx += pc.rx_packets.read();
            ps.tx += pc.tx_packets.read();
            ps.forwarded += pc.forwarded.read();
            ps.rx_bytes += pc.rx_bytes.read();
            ps.tx_bytes += pc.tx_bytes.read();
            ps.tx_refused += pc.tx_refused.read();
            for (std::size_t r = 0; r < dataplane::drop_reason_count; ++r)
                ps.drops[r] += pc.drops[r].read();
        }
        ps.hw = p.hw_stats();
        out.push_back(std::move(ps));
    }
    return out;
}

std::vector<lcore_snapshot> appliance::lcore_stats() const
{
    std::vector<lcore_snapshot> out;
    for (const auto& slot : lcores_) {
        const auto& c = counters_[slot.conf.lcore_id];
        lcore_snapshot ls;
        ls.id = slot.conf.lcore_id;
        ls.role = role_name(slot.conf.role);
        if (plan_.main_forwards)
            ls.role += "+main";
        ls.loops = c.loops.read();
        ls.busy_cycles = c.busy_cycles.read();
        ls.idle_cycles = c.idle_cycles.read();
        if (slot.conf.role == dataplane::lcore_role::worker) {
            ls.packets = c.handoff_rx.read();
        } else {
            std::array<bool, dataplane::max_ports> seen{};
            for (const auto& q : slot.conf.rx)
                if (!std::exchange(seen[q.port], true))
                    ls.packets += c.port[q.port].rx_packets.read();
        }
        ls.switches = c.switches.read();
        ls.hold_overflow = c.hold_overflow.read();
        ls.announced = c.announced.read();
        ls.announce_lost = c.announce_lost.read();
        ls.cache_hits = c.cache_hits.read();
        ls.cache_misses = c.cache_misses.read();
        for (std::size_t s = 0; s < dataplane::fp_stage_count; ++s)
            ls.stage_cycles[s] = c.stage_cycles[s].read();
        for (std::size_t b = 0; b < dataplane::stall_buckets; ++b)
            ls.stalls[b] = c.stalls[b].read();
        ls.max_stall_ms = 1e3 * static_cast<double>(c.max_stall_cycles.read()) / static_cast<double>(dpdk::tsc_hz());
        out.push_back(std::move(ls));
    }
    return out;
}

client_snapshot appliance::client_summary(const client_record& rec) const
{
    return {rec.id, dataplane::to_string(rec.key), rec.via == dataplane::path::shadow ? "shadow" : "primary",
            client_counters(rec.id) - rec.baseline, manager_->client(rec.id)};
}

bool appliance::set_forwarding(bool on) noexcept
{
    return !paused_.exchange(!on, std::memory_order_acq_rel);
}

std::vector<port_snapshot> appliance::port_stats() const
{
    auto now = port_snapshots();
    for (std::size_t i = 0; i < now.size() && i < port_baseline_.size(); ++i) {
        auto& p = now[i];
        const auto& b = port_baseline_[i];
        p.rx -= b.rx;
        p.tx -= b.tx;
        p.forwarded -= b.forwarded;
        p.rx_bytes -= b.rx_bytes;
        p.tx_bytes -= b.tx_bytes;
        for (std::size_t r = 0; r < dataplane::drop_reason_count; ++r)
            p.drops[r] -= b.drops[r];
        p.hw.ipackets -= b.hw.ipackets;
        p.hw.opackets -= b.hw.opackets;
        p.hw.ibytes -= b.hw.ibytes;
        p.hw.obytes -= b.hw.obytes;
        p.hw.imissed -= b.hw.imissed;
        p.hw.ierrors -= b.hw.ierrors;
        p.hw.oerrors -= b.hw.oerrors;
        p.hw.rx_nombuf -= b.hw.rx_nombuf;
    }
    return now;
}

void appliance::clear_port_stats(std::optional<std::uint16_t> port)
{
    auto now = port_snapshots();
    if (port_baseline_.size() != now.size()) {
        port_baseline_ = now;
        for (auto& b : port_baseline_) {
            port_snapshot zero;
            zero.id = b.id;
            zero.name = b.name;
            b = std::move(zero);
        }
    }
    bool found = !port;
    for (std::size_t i = 0; i < now.size(); ++i)
        if (!port || now[i].id == *port) {
            port_baseline_[i] = now[i];
            found = true;
        }
    if (!found)
        throw std::out_of_range(fmt::format("port {} is not an appliance port", *port));
}

std::vector<std::pair<std::string, std::uint64_t>> appliance::port_xstats(std::uint16_t port) const
{
    for (const auto& p : ports_)
        if (p.id() == port)
            return p.xstats();
    throw std::out_of_range(fmt::format("port {} is not an appliance port", port));
}

shadow_view appliance::shadow() const
{
    shadow_view v;
    v.queues_per_lcore = plan_.shadow_per_lcore;
    v.tx_lcores = plan_.tx_lcores.size();
    for (const auto& p : ports_) {
        shadow_port_view pv;
        pv.port = p.id();
        pv.name = p.name();
        pv.first_queue = p.first_shadow_txq();
        pv.queues = p.setup().shadow_txq;
        for (const auto& sp : plan_.shadow_ports) {
            if (sp.a == p.id())
                pv.shadow_port = sp.b;
            if (sp.b == p.id())
                pv.transmit_only = true;
        }
        if (!pv.transmit_only) {
            // The manager's account of the shadow path of traffic leaving here.
            pv.capacity = shadow_capacity(p.id());
            for (const auto& mp : manager_->ports())
                if (mp.port == p.id()) {
                    pv.reserved_pps = mp.shadow_reserved_pps;
                    pv.wanted_pps = mp.shadow_wanted_pps;
                    pv.used_pps = mp.shadow_used_pps;
                    pv.clients_on_shadow = mp.clients_on_shadow;
                }
        }
        v.ports.push_back(std::move(pv));
    }
    for (const auto id : registry_.ids()) {
        const client_record& rec = *registry_.find(id);
        if (rec.via == dataplane::path::shadow)
            v.clients.push_back(client_summary(rec));
    }
    return v;
}

std::vector<client_snapshot> appliance::clients_in_order(std::size_t start, std::size_t count) const
{
    std::vector<client_snapshot> out;
    const auto ids = registry_.ids();
    for (std::size_t i = start; i < ids.size() && out.size() < count; ++i)
        out.push_back(client_summary(*registry_.find(ids[i])));
    return out;
}

client_detail appliance::client(std::uint32_t id) const
{
    const client_record* rec = registry_.find(id);
    if (rec == nullptr)
        throw std::out_of_range(fmt::format("client {} does not exist", id));
    client_detail d;
    d.summary = client_summary(*rec);
    d.created_s = rec->created_s;
    d.last_active_s = rec->last_active_s;
    d.route_changes = rec->route_changes;
    d.route_epoch = table_->get_route(id).epoch;
    d.samples = rec->history.size();
    if (d.samples > 0)
        d.last_sample = rec->history.at(d.samples - 1);
    return d;
}

unsigned appliance::mempool_in_use() const noexcept
{
    unsigned n = pool_ ? pool_->in_use() : 0;
    if (traffic_pool_)
        n += traffic_pool_->in_use();
    return n;
}

} // namespace shadownet::control
