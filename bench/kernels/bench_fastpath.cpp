// Fast-path kernels on a real EAL (no hugepages): ns per packet for
//   - lookup:    rte_hash bulk lookup of 32 client keys, with 16, 4 Ki and 1 Mi clients;
//   - classify:  parse + client key + bulk lookup for a burst of 32 mbufs;
//   - handoff:   SPSC rte_ring enqueue + dequeue of a burst (pipeline hand-off);
//   - telemetry: per-packet client counter updates (rx + tx, relaxed load+store);
//   - rtc:       the whole run-to-completion pass (lcore_poll) over two
//                ring-backed ports, with the far end recycling the packets.
// Run: build/bench/kernels/bench_fastpath [--benchmark_repetitions=5 ...]
#include <array>
#include <atomic>
#include <cstring>
#include <map>
#include <optional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "shadownet/core/config.hpp"
#include "shadownet/dataplane/client_table.hpp"
#include "shadownet/dataplane/parse.hpp"
#include "shadownet/dataplane/worker.hpp"
#include "shadownet/dpdk/eal.hpp"
#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/dpdk/ring.hpp"
#include "shadownet/dpdk/vcable.hpp"

namespace sd = shadownet::dataplane;
namespace dp = shadownet::dpdk;

namespace {

constexpr unsigned burst = 32;

sd::client_key key_of(std::uint32_t client)
{
    sd::client_key k;
    const std::uint8_t addr[16] = {10, static_cast<std::uint8_t>(client >> 16), static_cast<std::uint8_t>(client >> 8),
                                   static_cast<std::uint8_t>(client)};
    sd::make_client_key({}, 4, addr, 0, addr, k);
    return k;
}

// DPDK objects shared by the benchmarks; released before EAL cleans up.
struct shared_objects {
    std::map<std::uint32_t, std::unique_ptr<sd::client_table>> tables; // built once: 1 Mi entries is slow
    std::optional<dp::mempool> classify_pool;
    std::optional<dp::ring> handoff_ring;
};
std::unique_ptr<shared_objects> shared;

sd::client_table& table_of(std::uint32_t clients)
{
    auto& t = shared->tables[clients];
    if (!t) {
        t = std::make_unique<sd::client_table>("bench_" + std::to_string(clients), clients, 0);
        for (std::uint32_t c = 0; c < clients; ++c)
            t->add(key_of(c));
    }
    return *t;
}

void write_udp(rte_mbuf* m, std::uint32_t client, std::uint16_t flow)
{
    rte_pktmbuf_reset(m);
    auto* p = rte_pktmbuf_mtod(m, std::uint8_t*);
    std::memset(p, 0, 64);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(50);
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32((10U << 24) | client);
    ip->dst_addr = rte_cpu_to_be_32(0xc6120001);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = rte_cpu_to_be_16(flow);
    udp->dst_port = rte_cpu_to_be_16(9);
    udp->dgram_len = rte_cpu_to_be_16(30);
    m->data_len = 64;
    m->pkt_len = 64;
}

void BM_lookup(benchmark::State& state)
{
    const auto clients = static_cast<std::uint32_t>(state.range(0));
    auto& table = table_of(clients);
    std::mt19937 rng(1);
    std::vector<sd::client_key> keys(8192);
    for (auto& k : keys)
        k = key_of(rng() % clients);
    std::array<const sd::client_key*, burst> ptrs{};
    std::array<std::uint64_t, burst> routes{};
    std::size_t at = 0;
    for (auto _ : state) {
        for (unsigned i = 0; i < burst; ++i)
            ptrs[i] = &keys[(at + i) % keys.size()];
        at += burst;
        benchmark::DoNotOptimize(table.lookup_bulk(ptrs.data(), burst, routes.data()));
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * burst);
}

void BM_classify(benchmark::State& state)
{
    const auto clients = static_cast<std::uint32_t>(state.range(0));
    auto& table = table_of(clients);
    if (!shared->classify_pool)
        shared->classify_pool.emplace(dp::mempool::pktmbuf("bench_classify", 8191, 0, 0));
    auto& pool = *shared->classify_pool;
    std::mt19937 rng(2);
    std::vector<rte_mbuf*> mbufs(4096);
    if (rte_pktmbuf_alloc_bulk(pool.get(), mbufs.data(), static_cast<unsigned>(mbufs.size())) != 0) {
        state.SkipWithError("no mbufs");
        return;
    }
    for (auto* m : mbufs)
        write_udp(m, rng() % clients, static_cast<std::uint16_t>(rng()));
    std::array<sd::packet_meta, burst> meta{};
    std::array<sd::client_key, burst> keys{};
    std::array<const sd::client_key*, burst> ptrs{};
    std::array<std::uint64_t, burst> routes{};
    std::size_t at = 0;
    for (auto _ : state) {
        for (unsigned i = 0; i < burst; ++i) {
            rte_mbuf* m = mbufs[(at + i) % mbufs.size()];
            sd::parse_mbuf(m, meta[i]);
            sd::make_client_key({}, 4, meta[i].src_addr, meta[i].vlan_outer, meta[i].src_mac, keys[i]);
            ptrs[i] = &keys[i];
        }
        at += burst;
        benchmark::DoNotOptimize(table.lookup_bulk(ptrs.data(), burst, routes.data()));
    }
    rte_pktmbuf_free_bulk(mbufs.data(), static_cast<unsigned>(mbufs.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * burst);
}

void BM_handoff(benchmark::State& state)
{
    if (!shared->handoff_ring)
        shared->handoff_ring.emplace("bench_handoff", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    auto& ring = *shared->handoff_ring;
    std::array<void*, burst> in{};
    std::array<void*, burst> out{};
    for (unsigned i = 0; i < burst; ++i)
        in[i] = &in[i];
    for (auto _ : state) {
        benchmark::DoNotOptimize(ring.enqueue_burst(in));
        benchmark::DoNotOptimize(ring.dequeue_burst(out));
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * burst);
}

void BM_telemetry(benchmark::State& state)
{
    const auto clients = static_cast<std::size_t>(state.range(0));
    auto stats = std::make_unique<sd::client_lcore_stats[]>(clients);
    std::mt19937 rng(3);
    std::vector<std::uint32_t> ids(8192);
    for (auto& id : ids)
        id = static_cast<std::uint32_t>(rng() % clients);
    std::size_t at = 0;
    for (auto _ : state) {
        for (unsigned i = 0; i < burst; ++i) {
            auto& c = stats[ids[(at + i) % ids.size()]];
            c.rx_packets.add(1);
            c.rx_bytes.add(64);
            c.tx_packets[0].add(1);
            c.tx_bytes[0].add(64);
        }
        at += burst;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * burst);
}

// The whole pass: B0 -> A0 -> lcore_poll -> A1 -> B1, the far end putting
// the same mbufs back on B0. Counts the far end's ring work too. BM_rtc is
// the appliance as built; BM_rtc_cache_always the same with the client
// cache's bypass rule disabled (policy window 0), for before/after in one run.
// With churn the far end rewrites each returning packet's source to the next
// of a random sequence over all the clients, so the lcore sees the whole
// client population (without it the 2 048 packets in flight carry at most
// 2 048 distinct sources, which the client cache always holds).
void run_rtc(benchmark::State& state, bool cache_bypass, bool churn = false)
{
    const auto clients = static_cast<std::uint32_t>(state.range(0));
    const auto flows = static_cast<std::uint32_t>(state.range(1));
    auto& table = table_of(clients);
    static unsigned runs = 0; // names must be short (ethdev/ring name limits) and unique per run
    const std::string tag = "br" + std::to_string(runs++);
    auto pool = dp::mempool::pktmbuf(tag + "p", 8191, 256, 0);
    dp::vcable c0(tag + "0", 1, 2, 4096, 0);
    dp::vcable c1(tag + "1", 1, 2, 4096, 0);
    c0.open_side_b();
    c1.open_side_b();
    std::vector<dp::port> ports;
    dp::port_setup a;
    a.shadow_txq = 1;
    dp::port_setup b;
    b.rxq = 2;
    for (const auto id : {c0.side_a(), c1.side_a()})
        ports.emplace_back(id, a, pool.get());
    for (const auto id : {c0.side_b(), c1.side_b()})
        ports.emplace_back(id, b, pool.get());
    for (auto& p : ports)
        p.start();
    auto probes = std::make_unique<sd::egress_probe_table>();
    for (std::uint16_t q = 0; q < 2; ++q) {
        (*probes)[c0.side_a()][q] = {sd::egress_probe::kind::ring, c0.a_tx_ring(q), 0};
        (*probes)[c1.side_a()][q] = {sd::egress_probe::kind::ring, c1.a_tx_ring(q), 0};
    }
    dp::ring connect(tag + "c", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ, sizeof(sd::client_key));
    auto stats = std::make_unique<sd::client_lcore_stats[]>(clients + 1);
    auto egress = std::make_unique<sd::client_egress[]>(clients + 1);
    auto st = std::make_unique<sd::lcore_state>();
    if (!cache_bypass)
        st->cache.set_policy({0, 0});
    auto counters = std::make_unique<sd::lcore_counters>();
    std::atomic<bool> quit{false};
    sd::lcore_conf conf;
    conf.lcore_id = rte_lcore_id();
    conf.rx = {{c0.side_a(), 0}};
    conf.peer.fill(sd::no_port);
    conf.peer[c0.side_a()] = c1.side_a();
    sd::egress_table roles;
    roles.set_role(c1.side_a(), {static_cast<std::uint8_t>(c1.side_a()), static_cast<std::uint8_t>(c1.side_a()), 0});
    conf.egress = &roles;
    conf.shadow_txq_base = 1;
    conf.shadow_txq_count = 1;
    conf.has_shadow_txq[c1.side_a()] = true;
    conf.clients = &table;
    conf.connect_ring = connect.get();
    conf.probes = probes.get();
    conf.counters = counters.get();
    conf.clients_stats = stats.get();
    conf.clients_egress = egress.get();
    conf.quit = &quit;
    rte_rcu_qsbr_thread_register(table.rcu(), conf.lcore_id);

    // 2048 packets in flight over `flows` flows spread across the clients.
    std::vector<rte_mbuf*> mbufs(2048);
    if (rte_pktmbuf_alloc_bulk(pool.get(), mbufs.data(), static_cast<unsigned>(mbufs.size())) != 0) {
        state.SkipWithError("no mbufs");
        return;
    }
    std::mt19937 rng(4);
    for (std::size_t i = 0; i < mbufs.size(); ++i) {
        const std::uint32_t f = static_cast<std::uint32_t>(rng() % flows);
        write_udp(mbufs[i], f % clients, static_cast<std::uint16_t>(f / clients));
    }
    rte_eth_tx_burst(c0.side_b(), 0, mbufs.data(), static_cast<std::uint16_t>(mbufs.size()));
    std::vector<rte_be32_t> sources(churn ? 1U << 20 : 0);
    for (auto& a : sources)
        a = rte_cpu_to_be_32((10U << 24) | static_cast<std::uint32_t>(rng() % clients));
    std::size_t next_source = 0;
    std::array<rte_mbuf*, burst> back{};
    std::uint64_t moved = 0;
    for (auto _ : state) {
        moved += sd::lcore_poll(conf, *st);
        const auto n = rte_eth_rx_burst(c1.side_b(), 0, back.data(), burst);
        if (churn)
            for (unsigned i = 0; i < n; ++i) {
                auto* ip = rte_pktmbuf_mtod_offset(back[i], rte_ipv4_hdr*, sizeof(rte_ether_hdr));
                ip->src_addr = sources[next_source++ & (sources.size() - 1)];
            }
        rte_eth_tx_burst(c0.side_b(), 0, back.data(), n);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(moved));
    state.counters["drops"] = static_cast<double>(counters->port[c0.side_a()].drops[0].read());
    state.counters["cache_off"] = st->cache.on() ? 0.0 : 1.0;
    rte_rcu_qsbr_thread_unregister(table.rcu(), conf.lcore_id);
    // What is still on the wire is freed with the pool.
}

void BM_rtc(benchmark::State& state)
{
    run_rtc(state, true);
}

void BM_rtc_cache_always(benchmark::State& state)
{
    run_rtc(state, false);
}

void BM_rtc_churn(benchmark::State& state)
{
    run_rtc(state, true, true);
}

void BM_rtc_churn_cache_always(benchmark::State& state)
{
    run_rtc(state, false, true);
}

} // namespace

BENCHMARK(BM_lookup)->Arg(16)->Arg(4096)->Arg(1 << 20);
BENCHMARK(BM_classify)->Arg(16)->Arg(4096)->Arg(100'000);
BENCHMARK(BM_handoff);
BENCHMARK(BM_telemetry)->Arg(16)->Arg(4096)->Arg(100'000);
BENCHMARK(BM_rtc)->Args({16, 16})->Args({4096, 4096})->Args({100'000, 1'000'000});
BENCHMARK(BM_rtc_cache_always)->Args({16, 16})->Args({4096, 4096})->Args({100'000, 1'000'000});
BENCHMARK(BM_rtc_churn)->Args({100'000, 1'000'000});
BENCHMARK(BM_rtc_churn_cache_always)->Args({100'000, 1'000'000});

int main(int argc, char** argv)
{
    benchmark::Initialize(&argc, argv);
    const auto cpus = shadownet::dpdk::allowed_cpus();
    auto args = shadownet::embedded_eal_args("bench_fastpath", cpus, shadownet::dpdk::unique_file_prefix("bench"), 1);
    for (auto& a : args)
        if (a == "256")
            a = "2048"; // 1 Mi client table + pools
    shadownet::dpdk::eal_guard eal(args, true);
    shared = std::make_unique<shared_objects>();
    benchmark::RunSpecifiedBenchmarks();
    shared.reset();
    benchmark::Shutdown();
    return 0;
}
