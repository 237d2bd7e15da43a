#include "shadownet/dataplane/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_mbuf_dyn.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring_elem.h>

#include <type_traits>

#include "shadownet/dataplane/parse.hpp"

namespace shadownet::dataplane {

namespace {

constexpr unsigned max_groups = 8;

// Packets bound for one egress in this pass, in arrival order.
struct tx_group {
    std::uint16_t port;
    std::uint16_t queue;
    std::uint16_t n;
    std::array<rte_mbuf*, max_burst> pkts;
    std::array<std::uint32_t, max_burst> client;
    std::array<std::uint16_t, max_burst> in_port;
    path via;
};

constexpr std::size_t reason(drop_reason r) noexcept
{
    return static_cast<std::size_t>(r);
}

// Profiling builds only (counters.hpp, stage_cycles_enabled): charges the
// cycles since the last lap to a stage of this lcore. In normal builds every
// call compiles to nothing.
class stage_clock {
public:
    stage_clock() noexcept
    {
        if constexpr (stage_cycles_enabled)
            last_ = rte_rdtsc();
    }

    void lap(const lcore_conf& conf, fp_stage stage) noexcept
    {
        if constexpr (stage_cycles_enabled) {
            const std::uint64_t now = rte_rdtsc();
            conf.counters->stage_cycles[static_cast<std::size_t>(stage)].add(now - last_);
            last_ = now;
        }
    }

private:
    std::uint64_t last_ = 0;
};

void drop(const lcore_conf& conf, rte_mbuf* m, std::uint16_t in_port, std::uint32_t client, drop_reason why) noexcept
{
    conf.counters->port[in_port].drops[reason(why)].add(1);
    if (client != no_client)
        conf.clients_stats[client].drops.add(1);
    rte_pktmbuf_free(m);
}

// Position (ring) or time (others) after which the client's last packet on
// this egress has left; compared by drained().
std::uint64_t egress_mark(const lcore_conf& conf, std::uint16_t port, std::uint16_t queue, std::uint64_t now) noexcept
{
    const egress_probe& p = (*conf.probes)[port][queue];
    if (p.how == egress_probe::kind::ring)
        return __atomic_load_n(&p.ring->prod.tail, __ATOMIC_RELAXED);
    return now;
}

bool drained(const lcore_conf& conf, std::uint16_t port, std::uint16_t queue, std::uint64_t mark,
             std::uint64_t now) noexcept
{
    // What was sent to a port out of service is lost with it (egress.hpp).
    if ((conf.egress->flags(port) & port_tx_out) != 0)
        return true;
    const egress_probe& p = (*conf.probes)[port][queue];
    switch (p.how) {
    case egress_probe::kind::immediate:
        return true;
    case egress_probe::kind::ring: {
        // The consumer releases cons.tail after taking packets: once it has
        // passed our mark, everything we put before the mark has been taken.
        const std::uint32_t taken = __atomic_load_n(&p.ring->cons.tail, __ATOMIC_ACQUIRE);
        return static_cast<std::int32_t>(taken - static_cast<std::uint32_t>(mark)) >= 0;
    }
    case egress_probe::kind::descriptor:
        if (p.ring_size > 0 &&
            rte_eth_tx_descriptor_status(port, queue, static_cast<std::uint16_t>(p.ring_size - 1)) ==
                RTE_ETH_TX_DESC_DONE)
            return true;
        return now - mark >= conf.grace_cycles;
    case egress_probe::kind::grace:
        break;
    }
    return now - mark >= conf.grace_cycles;
}

// The lcore's meter for a budget word, re-derived when the word changed.
void refresh_meter(const lcore_conf& conf, client_shadow_meter& sm, std::uint64_t w) noexcept
{
    if (sm.applied == w)
        return;
    rate_limit mine = unpack_budget(w);
    mine.pps *= conf.budget_share;
    mine.bps *= conf.budget_share;
    sm.meter.configure(mine, conf.capacity_burst_s, conf.burst);
    sm.applied = w;
}

// The client's own budget, then its egress port's shadow pool (capacity.hpp).
bool within_shadow_budget(const lcore_conf& conf, std::uint32_t client, std::uint16_t port, std::uint64_t now,
                          std::uint32_t len) noexcept
{
    const std::uint64_t w = conf.shadow_budgets[client].word.load(std::memory_order_relaxed);
    if (w == budget_word_unlimited)
        return true;
    client_shadow_meter& sm = conf.shadow_meters[client];
    refresh_meter(conf, sm, w);
    const bool own = sm.meter.admit(now, len);
    if (conf.shadow_pools == nullptr)
        return own;
    const std::uint64_t pw = conf.shadow_pools[port].word.load(std::memory_order_relaxed);
    if (pw == no_shadow_pool)
        return own;
    client_shadow_meter& pool = conf.shadow_pool_meters[port];
    refresh_meter(conf, pool, pw);
    // Drawn on by every packet, so a borrower gets only what the others leave.
    const bool lent = pool.meter.admit(now, len);
    return own || lent;
}

// Drops what is beyond the egress's capacity (capacity.hpp) and closes the
// gaps, keeping order. Returns the packets left.
std::uint16_t meter(const lcore_conf& conf, std::uint16_t port, rte_mbuf** pkts, std::uint32_t* clients,
                    std::uint16_t* in_ports, path via, std::uint16_t n, std::uint64_t now) noexcept
{
    token_meter* link = via == path::primary ? conf.primary_meter[port] : nullptr;
    const bool budgets = via == path::shadow && conf.shadow_budgets != nullptr;
    if (link == nullptr && !budgets)
        return n;
    std::uint16_t kept = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        const std::uint32_t len = rte_pktmbuf_pkt_len(pkts[i]);
        const bool pass =
            link != nullptr ? link->admit(now, len) : within_shadow_budget(conf, clients[i], port, now, len);
        if (!pass) {
            drop(conf, pkts[i], in_ports[i], clients[i],
                 via == path::primary ? drop_reason::primary_over_capacity : drop_reason::shadow_over_capacity);
            continue;
        }
        pkts[kept] = pkts[i];
        clients[kept] = clients[i];
        in_ports[kept] = in_ports[i];
        ++kept;
    }
    return kept;
}

// Meters, sends what the PMD takes, counts it per port, per client and per
// path, and drops the rest as tx_full. Marks each client's egress for drain checks.
void send(const lcore_conf& conf, std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts, std::uint32_t* clients,
          std::uint16_t* in_ports, path via, std::uint16_t n, std::uint64_t now) noexcept
{
    const std::uint8_t flags = conf.egress->flags(port);
    if ((flags & port_tx_out) != 0) {
        // The port failed after these were classified (held packets, the
        // old egress of a client that could not wait): they would be lost there.
        for (std::uint16_t i = 0; i < n; ++i)
            drop(conf, pkts[i], in_ports[i], clients[i], drop_reason::port_down);
        return;
    }
    n = meter(conf, port, pkts, clients, in_ports, via, n, now);
    if (n == 0)
        return;
    // An injected fault (`port fail`) is a queue that takes nothing.
    const std::uint16_t sent = (flags & port_tx_stuck) != 0 ? 0 : rte_eth_tx_burst(port, queue, pkts, n);
    const std::uint64_t mark = egress_mark(conf, port, queue, now);
    // drained() never reads the mark of a PMD that is done at tx_burst.
    const bool marks = (*conf.probes)[port][queue].how != egress_probe::kind::immediate;
    const auto p = static_cast<std::size_t>(via);
    std::uint64_t bytes = 0;
    // A burst almost always comes from one ingress port: count runs, not packets.
    std::uint16_t run_port = sent ? in_ports[0] : 0;
    std::uint64_t run = 0;
    for (std::uint16_t i = 0; i < sent; ++i) {
        const std::uint32_t len = rte_pktmbuf_pkt_len(pkts[i]);
        bytes += len;
        client_lcore_stats& cs = conf.clients_stats[clients[i]];
        cs.tx_packets[p].add(1);
        cs.tx_bytes[p].add(len);
        if (marks)
            conf.clients_egress[clients[i]].mark = mark;
        if (in_ports[i] != run_port) {
            conf.counters->port[run_port].forwarded.add(run);
            run_port = in_ports[i];
            run = 0;
        }
        ++run;
    }
    if (run)
        conf.counters->port[run_port].forwarded.add(run);
    port_counters& out = conf.counters->port[port];
    out.tx_packets.add(sent);
    out.tx_bytes.add(bytes);
    if (sent < n)
        out.tx_refused.add(n - sent); // failover's evidence of a queue that does not drain
    for (std::uint16_t i = sent; i < n; ++i)
        drop(conf, pkts[i], in_ports[i], clients[i], drop_reason::tx_full);
}

struct tx_batch {
    std::array<tx_group, max_groups> groups;
    unsigned n_groups = 0;

    tx_group* find(std::uint16_t port, std::uint16_t queue) noexcept
    {
        // Most packets of a burst share the egress of the one before.
        if (n_groups > 0 && groups[n_groups - 1].port == port && groups[n_groups - 1].queue == queue)
            return &groups[n_groups - 1];
        for (unsigned i = 0; i < n_groups; ++i)
            if (groups[i].port == port && groups[i].queue == queue)
                return &groups[i];
        return nullptr;
    }

    void flush(const lcore_conf& conf, std::uint64_t now) noexcept
    {
        for (unsigned i = 0; i < n_groups; ++i) {
            tx_group& g = groups[i];
            send(conf, g.port, g.queue, g.pkts.data(), g.client.data(), g.in_port.data(), g.via, g.n, now);
        }
        n_groups = 0;
    }

    void add(const lcore_conf& conf, std::uint16_t port, std::uint16_t queue, path via, rte_mbuf* m,
             std::uint32_t client, std::uint16_t in_port, std::uint64_t now) noexcept
    {
        tx_group* g = find(port, queue);
        if (g == nullptr) {
            if (n_groups == max_groups)
                flush(conf, now);
            g = &groups[n_groups++];
            g->port = port;
            g->queue = queue;
            g->via = via;
            g->n = 0;
        }
        g->pkts[g->n] = m;
        g->client[g->n] = client;
        g->in_port[g->n] = in_port;
        ++g->n;
    }
};

path path_of_queue(const lcore_conf& conf, std::uint16_t queue) noexcept
{
    return queue >= conf.shadow_txq_base && queue < conf.shadow_txq_base + conf.shadow_txq_count ? path::shadow
                                                                                                  : path::primary;
}

enum class resolved : std::uint8_t { ok, no_route, port_down };

// The current roles of the logical egress of one ingress port (egress.hpp):
// loaded once per burst, or again when the ingress port changes (a worker's
// hand-off burst may mix them).
struct role_view {
    std::uint16_t in_port = no_port;
    std::uint16_t logical = no_port;
    egress_role role{};

    void load(const lcore_conf& conf, std::uint16_t port) noexcept
    {
        in_port = port;
        logical = conf.peer[port];
        if (logical < max_ports)
            role = conf.egress->role(logical);
    }
};

// The egress (port, queue) of a packet of route r that came in on in_port,
// through its logical egress's current roles (egress.hpp), and the epoch the
// switch protocol compares: the route's plus the roles'.
resolved resolve(const lcore_conf& conf, role_view& view, const route& r, std::uint16_t in_port,
                 std::uint16_t& port, std::uint16_t& queue, std::uint16_t& epoch) noexcept
{
    if (view.in_port != in_port) [[unlikely]]
        view.load(conf, in_port);
    if (view.logical >= max_ports)
        return resolved::no_route;
    const egress_role role = view.role;
    epoch = static_cast<std::uint16_t>(r.epoch + role.epoch);
    if (r.via == path::primary) {
        port = r.port != route_default_port ? r.port : role.primary;
        queue = conf.primary_txq;
    } else {
        port = r.port != route_default_port ? r.port : role.shadow;
        if (port >= max_ports)
            return resolved::no_route;
        queue = conf.shadow_txq_count > 0 && conf.has_shadow_txq[port]
                    ? static_cast<std::uint16_t>(conf.shadow_txq_base + r.queue % conf.shadow_txq_count)
                    : conf.primary_txq;
    }
    if (port >= max_ports)
        return resolved::no_route;
    return (conf.egress->flags(port) & port_tx_out) != 0 ? resolved::port_down : resolved::ok;
}

// Sends one held packet at once (the hold queue is the rare path).
void send_held(const lcore_conf& conf, const hold_entry& e, std::uint64_t now) noexcept
{
    rte_mbuf* m = e.m;
    std::uint32_t client = e.client;
    std::uint16_t in_port = e.in_port;
    send(conf, e.port, e.queue, &m, &client, &in_port, e.via, 1, now);
}

// Hold queue is full: the client's held packets (oldest first) and then this
// one go out on the old egress instead, so nothing overtakes anything; the
// switch completes on a later packet.
void unhold_client(const lcore_conf& conf, lcore_state& st, std::uint32_t client, std::uint64_t now) noexcept
{
    client_egress& ce = conf.clients_egress[client];
    unsigned keep = 0;
    for (unsigned i = 0; i < st.hold_count; ++i) {
        hold_entry e = st.hold[i];
        if (e.client != client) {
            st.hold[keep++] = e;
            continue;
        }
        e.port = ce.port;
        e.queue = ce.queue;
        e.via = path_of_queue(conf, ce.queue);
        send_held(conf, e, now);
    }
    st.hold_count = keep;
    ce.held = 0;
}

// Steps 2-4 of the switch protocol for one classified packet.
void egress_one(const lcore_conf& conf, lcore_state& st, tx_batch& batch, role_view& roles, rte_mbuf* m,
                const route& r, std::uint16_t in_port, std::uint64_t now) noexcept
{
    std::uint16_t port = 0;
    std::uint16_t queue = 0;
    std::uint16_t epoch = 0;
    if (const resolved how = resolve(conf, roles, r, in_port, port, queue, epoch); how != resolved::ok) {
        drop(conf, m, in_port, r.client, how == resolved::port_down ? drop_reason::port_down : drop_reason::no_route);
        return;
    }
    client_egress& ce = conf.clients_egress[r.client];
    const bool same_egress = ce.valid && ce.port == port && ce.queue == queue;
    if (!ce.valid) {
        ce = client_egress{0, epoch, static_cast<std::uint8_t>(port), static_cast<std::uint8_t>(queue), 0, 1, 0};
    } else if (ce.held == 0 && (ce.epoch == epoch || same_egress)) {
        ce.epoch = epoch;
    } else if (ce.held == 0 && batch.find(ce.port, ce.queue) == nullptr &&
               drained(conf, ce.port, ce.queue, ce.mark, now)) {
        ce.epoch = epoch;
        ce.port = static_cast<std::uint8_t>(port);
        ce.queue = static_cast<std::uint8_t>(queue);
        conf.counters->switches.add(1);
    } else if (st.hold_count < hold_capacity) {
        st.hold[st.hold_count++] =
            hold_entry{m, r.client, epoch, in_port, static_cast<std::uint8_t>(port), static_cast<std::uint8_t>(queue),
                       r.via, now};
        ++ce.held;
        return;
    } else {
        // Out of room to wait: keep the client on its old egress for now.
        conf.counters->hold_overflow.add(1);
        if (ce.held > 0) {
            batch.flush(conf, now);
            unhold_client(conf, st, r.client, now);
        }
        batch.add(conf, ce.port, ce.queue, path_of_queue(conf, ce.queue), m, r.client, in_port, now);
        return;
    }
    batch.add(conf, port, queue, r.via, m, r.client, in_port, now);
}

// Sends held packets whose client's old egress has drained, oldest first; a
// client's later packets never overtake its earlier ones. `force` sends
// everything (shutdown).
void flush_hold(const lcore_conf& conf, lcore_state& st, std::uint64_t now, bool force) noexcept
{
    if (st.hold_count == 0)
        return;
    unsigned keep = 0;
    for (unsigned i = 0; i < st.hold_count; ++i) {
        const hold_entry e = st.hold[i];
        client_egress& ce = conf.clients_egress[e.client];
        if (!ce.blocked) {
            const bool same = ce.port == e.port && ce.queue == e.queue;
            if (same || force || drained(conf, ce.port, ce.queue, ce.mark, now)) {
                if (!same) {
                    ce.port = e.port;
                    ce.queue = e.queue;
                    conf.counters->switches.add(1);
                }
                ce.epoch = e.epoch;
                --ce.held;
                send_held(conf, e, now);
                continue;
            }
            ce.blocked = 1;
        }
        st.hold[keep++] = e;
    }
    st.hold_count = keep;
    for (unsigned i = 0; i < keep; ++i)
        conf.clients_egress[st.hold[i].client].blocked = 0;
    conf.counters->held.set(keep);
}

void announce(const lcore_conf& conf, lcore_state& st, const client_key& key, std::uint64_t now) noexcept
{
    // Report a source at most once per millisecond per filter slot: under a
    // spoofed flood the ring would otherwise carry the same keys many times.
    const std::uint32_t h = rte_hash_crc(&key, sizeof(key), 0);
    std::uint64_t& last = st.announce_filter[h % st.announce_filter.size()];
    const std::uint64_t ms = rte_get_tsc_hz() / 1000;
    if (last != 0 && now - last < ms)
        return;
    last = now;
    client_key copy = key; // 22.11 takes a non-const pointer
    if (rte_ring_enqueue_elem(conf.connect_ring, &copy, sizeof(copy)) == 0)
        conf.counters->announced.add(1);
    else
        conf.counters->announce_lost.add(1);
}

void rcu_online(const lcore_conf& conf, lcore_state& st) noexcept
{
    if (!st.rcu_online) {
        rte_rcu_qsbr_thread_online(conf.clients->rcu(), conf.lcore_id);
        st.rcu_online = true;
    }
}

void rcu_tick(const lcore_conf& conf, lcore_state& st, unsigned handled) noexcept
{
    ++st.loop;
    if (handled > 0) {
        st.idle_loops = 0;
        if (st.loop % conf.quiescent_every == 0)
            rte_rcu_qsbr_quiescent(conf.clients->rcu(), conf.lcore_id);
        return;
    }
    if (st.rcu_online && ++st.idle_loops >= conf.offline_after_idle) {
        rte_rcu_qsbr_thread_offline(conf.clients->rcu(), conf.lcore_id);
        st.rcu_online = false;
    } else if (st.rcu_online && st.loop % conf.quiescent_every == 0) {
        rte_rcu_qsbr_quiescent(conf.clients->rcu(), conf.lcore_id);
    }
}

std::uint32_t flow_hash(const packet_meta& meta) noexcept
{
    std::uint32_t h = rte_hash_crc(meta.src_addr, sizeof(meta.src_addr), meta.l4_proto);
    h = rte_hash_crc(meta.dst_addr, sizeof(meta.dst_addr), h);
    return rte_hash_crc_4byte((std::uint32_t{meta.sport} << 16) | meta.dport, h);
}

handoff_meta* handoff_of(const lcore_conf& conf, rte_mbuf* m) noexcept
{
    return RTE_MBUF_DYNFIELD(m, conf.handoff_field, handoff_meta*);
}

// Receives one burst from (port, queue), parses and classifies it. Classified
// packets get their route in routes[] and land in out[]; the rest are dropped
// and counted here. Returns packets received.
unsigned receive_and_classify(const lcore_conf& conf, lcore_state& st, const rx_queue_ref& q,
                              std::array<rte_mbuf*, max_burst>& out, std::array<route, max_burst>& routes,
                              std::array<std::uint32_t, max_burst>& hashes, unsigned& n_out,
                              std::uint64_t now, stage_clock& clock) noexcept
{
    n_out = 0;
    // A failed or faulted port delivers nothing; not touching it also keeps
    // the lcore out of a driver that is tearing the port down (memif).
    if ((conf.egress->flags(q.port) & port_rx_off) != 0)
        return 0;
    std::array<rte_mbuf*, max_burst> pkts;
    const std::uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts.data(), conf.burst);
    if (n == 0)
        return 0;
    clock.lap(conf, fp_stage::rx);
    rcu_online(conf, st);
    // Before any lookup of this burst, on or off (client_cache.hpp:
    // invalidation, and the bypass rule: off, the burst goes straight to the
    // client table).
    const bool use_cache = st.cache.begin_burst(conf.clients->generation());
    std::array<packet_meta, max_burst> all_meta;
    std::array<parse_status, max_burst> status;
    parse_burst(std::span<rte_mbuf* const>(pkts.data(), n), all_meta.data(), status.data());
    clock.lap(conf, fp_stage::parse);
    std::array<rte_mbuf*, max_burst> ok;
    std::array<std::uint32_t, max_burst> ok_meta;
    std::array<std::uint64_t, max_burst> short_keys;
    std::array<std::uint32_t, max_burst> cache_hash;
    unsigned n_ok = 0;
    std::uint64_t rx_bytes = 0;
    // Two copies of the loop, so that the cache's path is the same code as
    // before the bypass rule (a run-time test inside it cost ~20 % in
    // BM_rtc, cache on) and the bypass path has no short key at all.
    auto gather = [&](auto with_cache) {
        for (std::uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            rx_bytes += rte_pktmbuf_pkt_len(m);
            if (status[i] != parse_ok) {
                drop(conf, m, q.port, no_client, parse_drop_reason(status[i]));
                continue;
            }
            if constexpr (decltype(with_cache)::value) {
                const packet_meta& pm = all_meta[i];
                const unsigned ip_version = pm.l3 == l3_kind::ipv6 ? 6 : 4;
                const std::uint64_t sk =
                    make_short_key(conf.key, ip_version, pm.src_addr, pm.vlan_outer, pm.src_mac);
                short_keys[n_ok] = sk;
                if (sk != no_short_key) {
                    cache_hash[n_ok] = client_cache::hash(sk);
                    rte_prefetch0(&st.cache.set_of(cache_hash[n_ok]));
                }
            } else {
                short_keys[n_ok] = no_short_key;
            }
            ok_meta[n_ok] = i;
            ok[n_ok++] = m;
        }
    };
    if (use_cache)
        gather(std::true_type{});
    else
        gather(std::false_type{});
    port_counters& in_counters = conf.counters->port[q.port];
    in_counters.rx_packets.add(n);
    in_counters.rx_bytes.add(rx_bytes);
    if (n_ok == 0) {
        clock.lap(conf, fp_stage::classify);
        return n;
    }
    // The lcore's cache first; what it does not hold goes to the client table
    // in one bulk lookup, with the full key.
    std::array<std::uint64_t, max_burst> words;
    std::uint64_t hits = 0;
    std::array<client_key, max_burst> keys;
    std::array<const client_key*, max_burst> key_ptrs;
    std::array<std::uint8_t, max_burst> miss_of; // miss k -> index among the ok packets
    std::array<std::uint8_t, max_burst> key_at;  // ... and back: ok packet i -> its key in keys[]
    unsigned n_miss = 0;
    for (unsigned i = 0; i < n_ok; ++i) {
        if (short_keys[i] != no_short_key && st.cache.find(short_keys[i], cache_hash[i], words[i])) {
            hits |= std::uint64_t{1} << i;
            continue;
        }
        const packet_meta& pm = all_meta[ok_meta[i]];
        make_client_key(conf.key, pm.l3 == l3_kind::ipv6 ? 6 : 4, pm.src_addr, pm.vlan_outer, pm.src_mac,
                        keys[n_miss]);
        key_ptrs[n_miss] = &keys[n_miss];
        key_at[i] = static_cast<std::uint8_t>(n_miss);
        miss_of[n_miss++] = static_cast<std::uint8_t>(i);
    }
    conf.counters->cache_hits.add(n_ok - n_miss);
    st.cache.end_burst(n_ok, n_ok - n_miss);
    if (n_miss > 0) {
        conf.counters->cache_misses.add(n_miss);
        std::array<std::uint64_t, max_burst> miss_words;
        const std::uint64_t found = conf.clients->lookup_bulk(key_ptrs.data(), n_miss, miss_words.data());
        for (unsigned k = 0; k < n_miss; ++k) {
            if (((found >> k) & 1) == 0 || client_table::is_dead(miss_words[k]))
                continue;
            const unsigned i = miss_of[k];
            words[i] = miss_words[k];
            hits |= std::uint64_t{1} << i;
            if (short_keys[i] != no_short_key)
                st.cache.insert(short_keys[i], cache_hash[i], miss_words[k]);
        }
    }
    clock.lap(conf, fp_stage::classify);
    // With many clients their per-lcore state is not in cache: ask for it now,
    // for the whole burst, before touching any of it.
    for (unsigned i = 0; i < n_ok; ++i) {
        const std::uint32_t id = (hits >> i) & 1 ? static_cast<std::uint32_t>(words[i]) : default_client;
        rte_prefetch0(&conf.clients_stats[id]);
        rte_prefetch0(&conf.clients_egress[id]);
    }
    for (unsigned i = 0; i < n_ok; ++i) {
        rte_mbuf* m = ok[i];
        route r;
        if (hits & (std::uint64_t{1} << i)) {
            r = route::unpack(words[i]);
        } else {
            // Every miss went to the table, so its full key is in keys[].
            announce(conf, st, keys[key_at[i]], now);
            if (conf.clients->full() && !conf.overflow_to_default) {
                drop(conf, m, q.port, default_client, drop_reason::client_limit);
                continue;
            }
            // The default client, on the path the control lcore chose for newcomers.
            r = conf.miss_route ? route::unpack(conf.miss_route->load(std::memory_order_relaxed)) : route{};
        }
        client_lcore_stats& cs = conf.clients_stats[r.client];
        cs.rx_packets.add(1);
        cs.rx_bytes.add(rte_pktmbuf_pkt_len(m));
        // Written only when it changes: the line is already ours, but a store
        // per packet would be wasted work.
        if (cs.in_port.read() != q.port + 1U)
            cs.in_port.set(q.port + 1U);
        out[n_out] = m;
        routes[n_out] = r;
        hashes[n_out] = conf.handoff_out.empty() ? 0 : flow_hash(all_meta[ok_meta[i]]);
        ++n_out;
    }
    clock.lap(conf, fp_stage::account);
    return n;
}

unsigned poll_rtc(const lcore_conf& conf, lcore_state& st, std::uint64_t now) noexcept
{
    unsigned handled = 0;
    std::array<rte_mbuf*, max_burst> pkts;
    std::array<route, max_burst> routes;
    std::array<std::uint32_t, max_burst> hashes;
    for (const auto& q : conf.rx) {
        unsigned n_ok = 0;
        stage_clock clock;
        handled += receive_and_classify(conf, st, q, pkts, routes, hashes, n_ok, now, clock);
        if (n_ok == 0)
            continue;
        tx_batch batch;
        role_view roles;
        for (unsigned i = 0; i < n_ok; ++i)
            egress_one(conf, st, batch, roles, pkts[i], routes[i], q.port, now);
        clock.lap(conf, fp_stage::egress);
        batch.flush(conf, now);
        clock.lap(conf, fp_stage::tx);
    }
    return handled;
}

unsigned poll_rx(const lcore_conf& conf, lcore_state& st, std::uint64_t now) noexcept
{
    unsigned handled = 0;
    std::array<rte_mbuf*, max_burst> pkts;
    std::array<route, max_burst> routes;
    std::array<std::uint32_t, max_burst> hashes;
    const auto n_workers = static_cast<std::uint32_t>(conf.handoff_out.size());
    for (const auto& q : conf.rx) {
        unsigned n_ok = 0;
        stage_clock clock;
        handled += receive_and_classify(conf, st, q, pkts, routes, hashes, n_ok, now, clock);
        // Per worker, keep arrival order: one pass per worker over the burst.
        for (std::uint32_t w = 0; w < n_workers && n_ok > 0; ++w) {
            std::array<rte_mbuf*, max_burst> mine;
            std::array<std::uint32_t, max_burst> mine_client;
            unsigned n_mine = 0;
            for (unsigned i = 0; i < n_ok; ++i) {
                if (hashes[i] % n_workers != w)
                    continue;
                handoff_meta* hm = handoff_of(conf, pkts[i]);
                hm->route = routes[i].pack();
                hm->in_port = q.port;
                mine_client[n_mine] = routes[i].client;
                mine[n_mine++] = pkts[i];
            }
            if (n_mine == 0)
                continue;
            const unsigned put = rte_ring_enqueue_burst(conf.handoff_out[w], reinterpret_cast<void* const*>(mine.data()),
                                                        n_mine, nullptr);
            for (unsigned i = put; i < n_mine; ++i)
                drop(conf, mine[i], q.port, mine_client[i], drop_reason::ring_full);
        }
        if (n_ok > 0)
            clock.lap(conf, fp_stage::handoff);
    }
    return handled;
}

unsigned poll_worker(const lcore_conf& conf, lcore_state& st, std::uint64_t now) noexcept
{
    unsigned handled = 0;
    std::array<rte_mbuf*, max_burst> pkts;
    for (rte_ring* r : conf.handoff_in) {
        stage_clock clock;
        const unsigned n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(pkts.data()), conf.burst, nullptr);
        if (n == 0)
            continue;
        clock.lap(conf, fp_stage::rx);
        handled += n;
        conf.counters->handoff_rx.add(n);
        tx_batch batch;
        role_view roles;
        for (unsigned i = 0; i < n; ++i) {
            const handoff_meta* hm = handoff_of(conf, pkts[i]);
            egress_one(conf, st, batch, roles, pkts[i], route::unpack(hm->route), hm->in_port, now);
        }
        clock.lap(conf, fp_stage::egress);
        batch.flush(conf, now);
        clock.lap(conf, fp_stage::tx);
    }
    return handled;
}

void note_stall(const lcore_conf& conf, lcore_state& st, std::uint64_t now) noexcept
{
    const std::uint64_t gap = now - st.last_loop_tsc;
    const bool stalled = st.last_loop_tsc != 0 && conf.stall_cycles != 0 && gap >= conf.stall_cycles;
    st.last_loop_tsc = now;
    if (!stalled) [[likely]]
        return;
    conf.counters->stalls[stall_bucket(gap, conf.stall_cycles)].add(1);
    if (gap > conf.counters->max_stall_cycles.read())
        conf.counters->max_stall_cycles.set(gap);
}

} // namespace

unsigned lcore_poll(const lcore_conf& conf, lcore_state& st) noexcept
{
    const std::uint64_t start = rte_rdtsc();
    note_stall(conf, st, start);
    flush_hold(conf, st, start, false);
    unsigned handled = 0;
    switch (conf.role) {
    case lcore_role::rtc:
        handled = poll_rtc(conf, st, start);
        break;
    case lcore_role::rx:
        handled = poll_rx(conf, st, start);
        break;
    case lcore_role::worker:
        handled = poll_worker(conf, st, start);
        break;
    }
    if (conf.role != lcore_role::worker)
        rcu_tick(conf, st, handled);
    const std::uint64_t spent = rte_rdtsc() - start;
    (handled ? conf.counters->busy_cycles : conf.counters->idle_cycles).add(spent);
    conf.counters->loops.add(1);
    return handled;
}

void lcore_paused_poll(const lcore_conf& conf, lcore_state& st) noexcept
{
    st.last_loop_tsc = 0; // a pause is not a stall
    flush_hold(conf, st, rte_rdtsc(), false);
    if (st.rcu_online && st.hold_count == 0) {
        rte_rcu_qsbr_thread_offline(conf.clients->rcu(), conf.lcore_id);
        st.rcu_online = false;
    }
}

void lcore_finish(const lcore_conf& conf, lcore_state& st) noexcept
{
    // Workers first take in what the RX lcores already handed over.
    if (conf.role == lcore_role::worker)
        while (poll_worker(conf, st, rte_rdtsc()) > 0) {
        }
    // Give the far end up to 100 ms to drain old egresses, then send the rest.
    const std::uint64_t deadline = rte_rdtsc() + rte_get_tsc_hz() / 10;
    while (st.hold_count > 0 && rte_rdtsc() < deadline)
        flush_hold(conf, st, rte_rdtsc(), false);
    flush_hold(conf, st, rte_rdtsc(), true);
    if (st.rcu_online) {
        rte_rcu_qsbr_thread_offline(conf.clients->rcu(), conf.lcore_id);
        st.rcu_online = false;
    }
}

int lcore_main(void* arg) noexcept
{
    const auto& launch = *static_cast<const lcore_launch*>(arg);
    const lcore_conf& conf = *launch.conf;
    lcore_state& st = *launch.state;
    const bool reads_table = conf.role != lcore_role::worker;
    if (reads_table)
        rte_rcu_qsbr_thread_register(conf.clients->rcu(), conf.lcore_id);
    const bool pausable = conf.pause != nullptr && conf.role != lcore_role::worker;
    while (!conf.quit->load(std::memory_order_acquire)) {
        if (pausable && conf.pause->load(std::memory_order_acquire)) {
            lcore_paused_poll(conf, st);
            rte_pause();
            continue;
        }
        lcore_poll(conf, st);
    }
    lcore_finish(conf, st);
    if (reads_table)
        rte_rcu_qsbr_thread_unregister(conf.clients->rcu(), conf.lcore_id);
    return 0;
}

int register_handoff_field()
{
    static const rte_mbuf_dynfield desc = {"shadownet_handoff", sizeof(handoff_meta), alignof(handoff_meta), 0};
    return rte_mbuf_dynfield_register(&desc);
}

} // namespace shadownet::dataplane
