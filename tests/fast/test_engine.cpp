// The generator engine's accounting on real mbufs: the test sits on the wire
// between the engine's TX and RX rings and drops, swaps and duplicates
// packets on purpose; the engine must count exactly that.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/dpdk/ring.hpp"
#include "shadownet/gen/engine.hpp"
#include "shadownet/gen/profile.hpp"
#include "shadownet/gen/scenario.hpp"

using namespace shadownet;

namespace {

// A net_ring port whose TX ring is its own RX ring, with its mbuf pool: what
// the engine sends comes back to it, unless the test takes it off the wire
// first. The port is stopped and its vdev removed before the ring and the
// pool go.
class looped_port {
public:
    looped_port(const std::string& tag, unsigned pool_size, unsigned ring_size)
        : pool(dpdk::mempool::pktmbuf(tag + "_pool", pool_size, 0, 0)),
          wire(tag + "_wire", ring_size, 0, RING_F_SP_ENQ | RING_F_SC_DEQ),
          tag_(tag)
    {
        rte_ring* rings[] = {wire.get()};
        const int port_id = rte_eth_from_rings(tag.c_str(), rings, 1, rings, 1, 0);
        if (port_id < 0)
            throw std::runtime_error("rte_eth_from_rings failed for " + tag);
        id = static_cast<std::uint16_t>(port_id);
        port_.emplace(id, dpdk::port_setup{}, pool.get());
        port_->start();
    }
    looped_port(const looped_port&) = delete;
    looped_port& operator=(const looped_port&) = delete;
    ~looped_port()
    {
        port_.reset();
        rte_vdev_uninit(("net_ring_" + tag_).c_str());
    }

    // Frees whatever is on the wire.
    void drain()
    {
        std::array<void*, 64> got{};
        unsigned n = 0;
        while ((n = wire.dequeue_burst(got)) > 0)
            for (unsigned i = 0; i < n; ++i)
                rte_pktmbuf_free(static_cast<rte_mbuf*>(got[i]));
    }

    dpdk::mempool pool;
    dpdk::ring wire;
    std::uint16_t id = 0;

private:
    std::string tag_;
    std::optional<dpdk::port> port_;
};

} // namespace

TEST(engine, counts_injected_loss_reordering_and_duplicates)
{
    auto pool = dpdk::mempool::pktmbuf("eng_pool", 8191, 0, 0);
    dpdk::ring wire_out("eng_out", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    dpdk::ring wire_in("eng_in", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* rx[] = {wire_in.get()};
    rte_ring* tx[] = {wire_out.get()};
    const int id = rte_eth_from_rings("eng", rx, 1, tx, 1, 0);
    ASSERT_GE(id, 0);
    {
        dpdk::port port(static_cast<std::uint16_t>(id), dpdk::port_setup{}, pool.get());
        port.start();
        auto sc = gen::simple_scenario(4, 4000, 1); // 4 clients, 1000 pps each, 1 s
        sc.tick = 0.1;
        const std::vector<gen::engine_port> ports{{static_cast<std::uint16_t>(id), 1, 1}};
        gen::engine e(sc, ports, ports, pool.get(), 32);

        // Run the whole scenario, collecting what the engine put on the wire.
        std::vector<rte_mbuf*> wire;
        int k = 0;
        while (e.tick(k * 0.1)) {
            const auto until = rte_rdtsc() + rte_get_tsc_hz() / 10;
            while (rte_rdtsc() < until) {
                e.poll();
                std::array<void*, 64> got{};
                const unsigned n = wire_out.dequeue_burst(got);
                for (unsigned i = 0; i < n; ++i)
                    wire.push_back(static_cast<rte_mbuf*>(got[i]));
            }
            ++k;
        }
        const auto sent = e.totals().sent;
        ASSERT_EQ(wire.size(), sent);
        // The headers (built from a per-group template) are valid IPv4/UDP from the client's address.
        for (const auto* m : wire) {
            rte_ipv4_hdr h = *rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
            const std::uint16_t carried = h.hdr_checksum;
            h.hdr_checksum = 0;
            ASSERT_EQ(rte_ipv4_cksum(&h), carried);
            const auto st = gen::read_stamp(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, 42));
            ASSERT_EQ(rte_be_to_cpu_32(h.src_addr), ((10U << 24) | 1U) + st.client);
            ASSERT_EQ(rte_pktmbuf_pkt_len(m), 64U);
        }
        EXPECT_NEAR(static_cast<double>(sent), 4000, 40); // the rate asked for, within 1 %

        // Every 100th packet is lost, two neighbours are swapped every 250,
        // and every 333rd is delivered twice.
        std::uint64_t dropped = 0;
        std::uint64_t swaps = 0;
        std::uint64_t dups = 0;
        std::vector<rte_mbuf*> delivered;
        for (std::size_t i = 0; i < wire.size(); ++i) {
            if (i % 100 == 50) {
                rte_pktmbuf_free(wire[i]);
                ++dropped;
                continue;
            }
            delivered.push_back(wire[i]);
            if (i % 333 == 7) {
                delivered.push_back(rte_pktmbuf_copy(wire[i], pool.get(), 0, UINT32_MAX));
                ++dups;
            }
        }
        // Swap a packet with the next one of the same client: exactly one
        // packet of that client then arrives after a later one.
        const auto stamp = [](const rte_mbuf* m) {
            return gen::read_stamp(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, 42));
        };
        for (std::size_t i = 10; i + 20 < delivered.size(); i += 250) {
            const auto a = stamp(delivered[i]);
            for (std::size_t j = i + 1; j < i + 20; ++j) {
                const auto b = stamp(delivered[j]);
                if (b.client == a.client && b.seq > a.seq) {
                    std::swap(delivered[i], delivered[j]);
                    ++swaps;
                    break;
                }
            }
        }
        ASSERT_GT(swaps, 5U);
        for (auto* m : delivered) {
            void* obj = m;
            ASSERT_EQ(wire_in.enqueue_burst({&obj, 1}), 1U);
            e.receive();
        }
        const auto tot = e.totals();
        EXPECT_EQ(tot.lost(), dropped);
        EXPECT_EQ(tot.duplicates, dups);
        EXPECT_EQ(tot.reordered, swaps);
        EXPECT_EQ(tot.received + tot.lost(), sent);
        EXPECT_EQ(tot.foreign, 0U);
        EXPECT_GT(e.latency().count(), 0U);
        EXPECT_EQ(pool.in_use(), 0U);
    }
    rte_vdev_uninit("net_ring_eng");
}

// IPv6 groups (a templated UDP one and an IMIX TCP one) sent by two TX shards,
// one TX queue each, polled in turn by the test thread (each shard still has
// one writer). Every frame is checked on the wire, then looped back.
TEST(engine, ipv6_frames_from_two_tx_shards)
{
    auto pool = dpdk::mempool::pktmbuf("eng6_pool", 8191, 0, 0);
    dpdk::ring out0("eng6_out0", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    dpdk::ring out1("eng6_out1", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    dpdk::ring in("eng6_in", 8192, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* rx[] = {in.get()};
    rte_ring* tx[] = {out0.get(), out1.get()};
    const int id = rte_eth_from_rings("eng6", rx, 1, tx, 2, 0);
    ASSERT_GE(id, 0);
    {
        dpdk::port_setup setup;
        setup.txq = 2;
        dpdk::port port(static_cast<std::uint16_t>(id), setup, pool.get());
        port.start();
        const auto sc = gen::parse_scenario(R"(
tick = 0.1
duration = 0.5
[group udp6]
clients = 4
src = 2001:db8::1
rate = 1000
[group tcp6]
clients = 2
src = 2001:db8:0:1::1
dst = 2001:db8:ff::1
proto = tcp
size = imix
rate = 1000
)",
                                            "ipv6.scn");
        const auto pid = static_cast<std::uint16_t>(id);
        gen::engine e(sc, {{pid, 2, 1}}, {{pid, 1, 1}}, pool.get(), 32, 2);
        ASSERT_EQ(e.tx_lcores(), 2U);

        std::vector<std::pair<unsigned, rte_mbuf*>> wire; // (queue, frame)
        int k = 0;
        while (e.tick(k * 0.1)) {
            const auto until = rte_rdtsc() + rte_get_tsc_hz() / 10;
            while (rte_rdtsc() < until) {
                e.poll_tx(0);
                e.poll_tx(1);
                unsigned q = 0;
                for (auto* r : {&out0, &out1}) {
                    std::array<void*, 64> got{};
                    const unsigned n = r->dequeue_burst(got);
                    for (unsigned i = 0; i < n; ++i)
                        wire.emplace_back(q, static_cast<rte_mbuf*>(got[i]));
                    ++q;
                }
            }
            ++k;
        }
        const auto sent = e.totals().sent;
        ASSERT_EQ(wire.size(), sent);
        EXPECT_NEAR(static_cast<double>(sent), 3000, 30); // 6 clients x 1000 pps x 0.5 s, within 1 %
        std::uint64_t tcp = 0;
        for (const auto& [q, m] : wire) {
            const auto* data = rte_pktmbuf_mtod(m, const std::uint8_t*);
            ASSERT_EQ(data[12], 0x86);
            ASSERT_EQ(data[13], 0xdd);
            const auto* ip = reinterpret_cast<const rte_ipv6_hdr*>(data + sizeof(rte_ether_hdr));
            ASSERT_EQ(rte_be_to_cpu_16(ip->payload_len) + 54U, rte_pktmbuf_pkt_len(m));
            ASSERT_EQ(__rte_ipv6_udptcp_cksum(ip, ip + 1), 0xffff); // valid (mandatory in IPv6)
            const std::size_t at = gen::stamp_offset(data, rte_pktmbuf_data_len(m));
            const bool is_tcp = ip->proto == IPPROTO_TCP;
            tcp += is_tcp;
            ASSERT_EQ(at, is_tcp ? 74U : 62U);
            const auto st = gen::read_stamp(data + at);
            ASSERT_EQ(st.magic, gen::stamp_magic);
            ASSERT_EQ(st.client % 2, q); // client c uses queue c % 2, and so shard c % 2
            ASSERT_EQ(ip->src_addr[0], 0x20);
            ASSERT_EQ(ip->src_addr[1], 0x01);
            ASSERT_EQ(ip->src_addr[15], is_tcp ? 1 + (st.client - 4) : 1 + st.client);
            ASSERT_EQ(ip->dst_addr[5], is_tcp ? 0xff : 0x00);
            ASSERT_GE(rte_pktmbuf_pkt_len(m), is_tcp ? 96U : 84U); // headers + stamp
        }
        EXPECT_NEAR(static_cast<double>(tcp), 1000, 10);
        for (const auto& [q, m] : wire) {
            void* obj = m;
            ASSERT_EQ(in.enqueue_burst({&obj, 1}), 1U);
        }
        for (int i = 0; i < 200; ++i)
            e.receive();
        const auto tot = e.totals();
        EXPECT_EQ(tot.received, sent);
        EXPECT_EQ(tot.lost(), 0U);
        EXPECT_EQ(tot.reordered, 0U);
        EXPECT_EQ(tot.foreign, 0U);
        EXPECT_EQ(pool.in_use(), 0U);
    }
    rte_vdev_uninit("net_ring_eng6");
}

// A pcap group (frames built here; tests/smoke replays one written by scapy):
// frames with room carry a stamp and a valid L4 checksum, the rest go out as
// captured and are counted unstamped; with loop = no the capture plays once.
TEST(engine, pcap_group_stamps_frames_with_room)
{
    looped_port w("engp", 4095, 4096);
    const auto pid = w.id;
    auto trace = std::make_shared<gen::pcap_trace>();
    // A 100-byte UDP/IPv4 frame with a (soon wrong) checksum, a TCP/IPv4
    // one, and a 60-byte ARP-sized frame with no room.
    std::vector<std::uint8_t> udp(100, 0xab);
    {
        std::memset(udp.data(), 0, 42);
        udp[12] = 0x08;
        udp[14] = 0x45;
        udp[16] = 0;
        udp[17] = 86;
        udp[23] = IPPROTO_UDP;
        udp[38] = 0;
        udp[39] = 66;
        udp[40] = 0x12; // a checksum the stamp would break
    }
    std::vector<std::uint8_t> tcp(120, 0xcd);
    {
        std::memset(tcp.data(), 0, 54);
        tcp[12] = 0x08;
        tcp[14] = 0x45;
        tcp[17] = 106;
        tcp[23] = IPPROTO_TCP;
        tcp[46] = 5 << 4;
    }
    std::vector<std::uint8_t> arp(60, 0);
    arp[12] = 0x08;
    arp[13] = 0x06;
    trace->frames = {{udp, 0}, {tcp, 0.001}, {arp, 0.002}};
    trace->span = 0.003;
    gen::scenario sc;
    sc.tick = 0.01;
    sc.duration = 0.2;
    gen::client_group g;
    g.name = "replay";
    g.pcap = trace;
    g.timing = gen::replay_timing::profile;
    g.demand.rate = 3000; // 3 frames every ms
    g.demand.loop = false;
    sc.groups.push_back(g);
    gen::engine e(sc, {{pid, 1, 1}}, {{pid, 1, 1}}, w.pool.get(), 32);
    std::vector<rte_mbuf*> seen;
    int k = 0;
    while (e.tick(k * 0.01)) {
        const auto until = rte_rdtsc() + rte_get_tsc_hz() / 100;
        while (rte_rdtsc() < until) {
            e.poll_tx(0);
            std::array<void*, 64> got{};
            const unsigned n = w.wire.dequeue_burst(got); // take them off the loop to look at them
            for (unsigned i = 0; i < n; ++i)
                seen.push_back(static_cast<rte_mbuf*>(got[i]));
        }
        ++k;
    }
    ASSERT_EQ(seen.size(), 3U); // loop = no: once
    const auto s = e.stats_of(0);
    EXPECT_EQ(s.sent, 3U);
    EXPECT_EQ(s.unstamped, 1U);
    for (auto* m : seen) {
        const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
        const std::size_t at = gen::stamp_offset(d, rte_pktmbuf_data_len(m));
        const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(d + 14);
        if (d[13] == 0x06) {
            EXPECT_EQ(at, 0U);
            EXPECT_EQ(rte_pktmbuf_pkt_len(m), 60U);
            continue;
        }
        EXPECT_EQ(at, ip->next_proto_id == IPPROTO_UDP ? 42U : 54U);
        EXPECT_EQ(gen::read_stamp(d + at).magic, gen::stamp_magic);
        if (ip->next_proto_id == IPPROTO_UDP)
            EXPECT_EQ(d[40] | d[41], 0); // cleared: 0 is a valid UDP/IPv4 checksum
        else
            EXPECT_EQ(__rte_ipv4_udptcp_cksum(ip, d + 34), 0xffff); // valid
        EXPECT_EQ(d[at + gen::stamp_bytes], ip->next_proto_id == IPPROTO_UDP ? 0xab : 0xcd); // payload after the stamp as captured
    }
    for (auto* m : seen) {
        void* obj = m;
        ASSERT_EQ(w.wire.enqueue_burst({&obj, 1}), 1U);
    }
    e.receive();
    const auto after = e.stats_of(0);
    EXPECT_EQ(after.received, 2U);
    EXPECT_EQ(after.lost(), 0U);
    EXPECT_EQ(e.totals().foreign, 1U); // the unstamped frame came back as someone else's
    EXPECT_EQ(w.pool.in_use(), 0U);
}

// pcap replay at original timing: the capture's timestamps decide the rate,
// and ticks that come back to back after a stall (the main loop catching up,
// each asking for almost nothing new) still owe a tick of the capture's rate.
TEST(engine, pcap_original_timing_after_a_stall)
{
    looped_port w("engs", 4095, 4096);
    const auto pid = w.id;
    auto trace = std::make_shared<gen::pcap_trace>();
    std::vector<std::uint8_t> arp(60, 0); // content does not matter here
    arp[12] = 0x08;
    arp[13] = 0x06;
    for (int i = 0; i < 10; ++i)
        trace->frames.push_back({arp, i * 0.01}); // 100 frames/s
    trace->span = 0.1;
    gen::scenario sc;
    sc.tick = 0.1;
    sc.duration = 0;
    gen::client_group g;
    g.name = "replay";
    g.pcap = trace;
    sc.groups.push_back(g); // timing = original, loop = yes
    gen::engine e(sc, {{pid, 1, 1}}, {{pid, 1, 1}}, w.pool.get(), 32);
    const auto run_for = [&](std::uint64_t cycles) {
        const auto until = rte_rdtsc() + cycles;
        while (rte_rdtsc() < until) {
            e.poll_tx(0);
            w.drain();
        }
    };
    const auto hz = rte_get_tsc_hz();
    e.tick(0);
    run_for(hz / 10);
    EXPECT_EQ(e.stats_of(0).sent, 10U); // frames 0-9 are due in [0, 0.1)
    // A stall: the next tick comes at 0.25, then two more right behind it.
    e.tick(0.25);
    e.poll_tx(0);
    e.tick(0.2501);
    e.poll_tx(0);
    e.tick(0.2502);
    run_for(hz / 10);
    // Due by 0.3502: 36 frames. Sent: the 10, one in each of the first two
    // catch-up polls, and then what the last tick owes: its own new frame
    // and up to a tick (10 frames) of what the others did not send.
    const auto sent = e.stats_of(0).sent;
    EXPECT_GE(sent, 10U + 2 + 10);
    EXPECT_LE(sent, 36U);
    EXPECT_EQ(e.stats_of(0).unstamped, sent);
    w.drain();
    EXPECT_EQ(w.pool.in_use(), 0U);
}

// A stalled generator (its thread descheduled for 40 ms, 800 packets behind
// at 20 kpps) with scenario::catch_up: the backlog leaves at most at
// catch_up x the rate (plus one burst), and is still all sent; without it,
// the same stall puts the whole backlog on the wire back to back.
TEST(engine, catch_up_paces_the_backlog_after_a_stall)
{
    looped_port w("engk", 8191, 8192);
    const auto pid = w.id;
    const auto hz = static_cast<double>(rte_get_tsc_hz());
    constexpr double rate = 20000;
    constexpr unsigned burst = 32;
    for (const double catch_up : {0.0, 1.25}) {
        SCOPED_TRACE(catch_up);
        auto sc = gen::simple_scenario(4, rate, 0.4);
        sc.tick = 0.1;
        sc.catch_up = catch_up;
        gen::engine e(sc, {{pid, 1, 1}}, {{pid, 1, 1}}, w.pool.get(), burst);
        const auto run_until = [&](std::uint64_t tsc) {
            while (rte_rdtsc() < tsc) {
                e.poll_tx(0);
                w.drain();
            }
        };
        const std::uint64_t start = rte_rdtsc();
        ASSERT_TRUE(e.tick(0));
        run_until(start + static_cast<std::uint64_t>(0.02 * hz));
        // The stall: no polls for 40 ms.
        const std::uint64_t resume = start + static_cast<std::uint64_t>(0.06 * hz);
        while (rte_rdtsc() < resume) {
        }
        const std::uint64_t before = e.totals().sent;
        const std::uint64_t t0 = rte_rdtsc();
        for (int i = 0; i < 30; ++i) {
            e.poll_tx(0);
            w.drain();
        }
        const double elapsed = static_cast<double>(rte_rdtsc() - t0) / hz;
        const std::uint64_t right_after = e.totals().sent - before;
        if (catch_up > 0)
            EXPECT_LE(static_cast<double>(right_after), catch_up * rate * elapsed + burst + 1);
        else
            EXPECT_GE(right_after, 700U); // ~800 behind, 30 polls of up to 32
        // The rest of the run: every tick's quota goes out, the backlog included.
        for (int k = 1; k <= 4; ++k) {
            run_until(start + static_cast<std::uint64_t>(k * 0.1 * hz));
            e.tick(k * 0.1);
        }
        run_until(rte_rdtsc() + static_cast<std::uint64_t>(0.1 * hz));
        EXPECT_NEAR(static_cast<double>(e.totals().sent), e.totals().offered, 0.01 * e.totals().offered);
        w.drain();
    }
    EXPECT_EQ(w.pool.in_use(), 0U);
}

// One large client among many small ones: its packets spread over the tick
// in proportion to its quota, not after everybody else's. In turn alone,
// the first ten rounds of a tick were the 100 small clients' whole quotas
// and one packet of the large one in each, and the large one then sent the
// rest of its quota at the whole tick's rate.
TEST(engine, a_large_client_is_interleaved_in_proportion_with_many_small_ones)
{
    looped_port w("engw", 8191, 4096);
    const auto pid = w.id;
    const auto sc = gen::parse_scenario(R"(
duration = 1
tick = 0.1
[group big]
clients = 1
src = 10.1.0.1
rate = 20000
[group small]
clients = 100
src = 10.2.0.1
rate = 100
)",
                                        "interleave");
    gen::engine e(sc, {{pid, 1, 1}}, {{pid, 1, 1}}, w.pool.get(), 32);
    ASSERT_TRUE(e.tick(0)); // quotas: 2 000 for the big client, 10 for each small one
    std::vector<bool> from_big;
    const auto end = rte_rdtsc() + rte_get_tsc_hz() / 20; // half the tick: ~1 500 packets
    while (rte_rdtsc() < end) {
        e.poll_tx(0);
        std::array<void*, 64> got{};
        const unsigned n = w.wire.dequeue_burst(got);
        for (unsigned i = 0; i < n; ++i) {
            auto* m = static_cast<rte_mbuf*>(got[i]);
            const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
            from_big.push_back(rte_be_to_cpu_32(ip->src_addr) == ((10U << 24) | (1U << 16) | 1U));
            rte_pktmbuf_free(m);
        }
    }
    ASSERT_GE(from_big.size(), 600U);
    const auto big_in = [&](std::size_t at) {
        return std::count(from_big.begin() + static_cast<std::ptrdiff_t>(at),
                          from_big.begin() + static_cast<std::ptrdiff_t>(at + 300), true);
    };
    // A client may run one packet ahead of its share: at the tick's start
    // each small client sends that one, so the first 300 hold at least
    // 300 - 2 x 100 of the big client's (in turn alone: 3).
    EXPECT_GE(big_in(0), 95);
    // Later, any stretch carries the big client at its share, 2/3.
    EXPECT_NEAR(static_cast<double>(big_in(from_big.size() / 2)), 200.0, 20.0);
    EXPECT_EQ(w.pool.in_use(), 0U);
}

// Per-client latency through a far end that holds every packet for a known
// time before handing it back: clients 0-1 are held 2.5 ms, clients 2-3 are
// held 20 ms, client 4 (past the engine's latency_clients = 4) 2.5 ms. Each
// client's p50 must be at least its hold (a lower bound: a loaded machine
// only adds to it); one histogram for everybody could not give both groups
// theirs. The totals' histogram still counts every client.
TEST(engine, per_client_latency_through_a_delaying_far_end)
{
    auto pool = dpdk::mempool::pktmbuf("engl_pool", 8191, 0, 0);
    dpdk::ring wire_out("engl_out", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    dpdk::ring wire_in("engl_in", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* rx[] = {wire_in.get()};
    rte_ring* tx[] = {wire_out.get()};
    const int id = rte_eth_from_rings("engl", rx, 1, tx, 1, 0);
    ASSERT_GE(id, 0);
    {
        dpdk::port port(static_cast<std::uint16_t>(id), dpdk::port_setup{}, pool.get());
        port.start();
        auto sc = gen::simple_scenario(5, 2500, 0.5); // 5 clients, 500 pps each, 0.5 s
        sc.tick = 0.1;
        const std::vector<gen::engine_port> ports{{static_cast<std::uint16_t>(id), 1, 1}};
        gen::engine e(sc, ports, ports, pool.get(), 32, 1, 4);

        const std::uint64_t hz = rte_get_tsc_hz();
        const std::uint64_t short_hold = hz * 25 / 10'000; // 2.5 ms
        const std::uint64_t long_hold = hz * 20 / 1'000;   // 20 ms
        const auto hold_of = [&](std::uint32_t client) { return client == 2 || client == 3 ? long_hold : short_hold; };
        // One FIFO per hold: a constant delay keeps each client's order.
        struct held {
            rte_mbuf* m;
            std::uint64_t until;
        };
        std::deque<held> fast, slow;
        const auto far_end = [&] {
            std::array<void*, 64> got{};
            const unsigned n = wire_out.dequeue_burst(got);
            const std::uint64_t now = rte_rdtsc(); // after the engine stamped them
            for (unsigned i = 0; i < n; ++i) {
                auto* m = static_cast<rte_mbuf*>(got[i]);
                const auto client = gen::read_stamp(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, 42)).client;
                (hold_of(client) == long_hold ? slow : fast).push_back({m, now + hold_of(client)});
            }
            for (auto* q : {&fast, &slow})
                while (!q->empty() && rte_rdtsc() >= q->front().until) {
                    void* obj = q->front().m;
                    ASSERT_EQ(wire_in.enqueue_burst({&obj, 1}), 1U);
                    q->pop_front();
                }
        };
        int k = 0;
        while (e.tick(k * 0.1)) {
            const auto until = rte_rdtsc() + hz / 10;
            while (rte_rdtsc() < until) {
                e.poll();
                far_end();
            }
            ++k;
        }
        while (!fast.empty() || !slow.empty() || wire_out.count() > 0) {
            far_end();
            e.receive();
        }
        for (int i = 0; i < 100; ++i)
            e.receive();

        const auto tot = e.totals();
        ASSERT_GT(tot.sent, 1000U);
        EXPECT_EQ(tot.received, tot.sent);
        const auto ns = [hz](std::uint64_t cycles) { return cycles * 1'000'000'000 / hz; };
        for (std::uint32_t c = 0; c < 4; ++c) {
            const auto* h = e.latency_of(c);
            ASSERT_NE(h, nullptr) << "client " << c;
            EXPECT_EQ(h->count(), e.stats_of(c).received) << "client " << c;
            EXPECT_GE(h->quantile(0.5), ns(hold_of(c)) - 1) << "client " << c;
            EXPECT_GE(h->quantile(0.9), h->quantile(0.5));
            EXPECT_GE(h->quantile(0.99), h->quantile(0.9));
            EXPECT_GE(h->quantile(0.999), h->quantile(0.99));
            EXPECT_GE(h->max(), h->quantile(0.999));
        }
        EXPECT_EQ(e.latency_of(4), nullptr); // past latency_clients
        EXPECT_EQ(e.latency().count(), tot.received);
        EXPECT_GE(e.latency().quantile(0.5), ns(short_hold) - 1);
        EXPECT_GE(e.latency().max(), ns(long_hold) - 1);
        EXPECT_EQ(pool.in_use(), 0U);
    }
    rte_vdev_uninit("net_ring_engl");
}

// Every shaped profile makes the rate curve it promises on the wire: the
// test sits on the engine's TX ring, counts each tick's frames per group by
// their stamps, and compares with the profile's rate at the tick (each client
// carries less than a packet from tick to tick) and with hand-worked points;
// the engine's own time series must report the same counts. The DoS group's
// frames are SYNs from many spoofed sources.
TEST(engine, profiles_make_their_rate_curves_on_the_wire)
{
    auto pool = dpdk::mempool::pktmbuf("engc_pool", 8191, 0, 0);
    dpdk::ring wire("engc_out", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    dpdk::ring none("engc_in", 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* rx[] = {none.get()};
    rte_ring* tx[] = {wire.get()};
    const int id = rte_eth_from_rings("engc", rx, 1, tx, 1, 0);
    ASSERT_GE(id, 0);
    {
        const auto pid = static_cast<std::uint16_t>(id);
        dpdk::port port(pid, dpdk::port_setup{}, pool.get());
        port.start();
        const auto sc = gen::parse_scenario(R"(
tick = 0.02
duration = 1.2
[group step]
clients = 2
profile = step
base = 2000
rate = 10000
at = 0.4
[group ramp]
clients = 2
src = 10.1.0.1
profile = ramp
base = 1000
rate = 10000
at = 0.2
until = 1.0
[group flash]
src = 10.2.0.1
profile = flash
base = 1000
factor = 10
at = 0.3
rise = 0.1
decay = 0.2
[group dos]
src = 10.9.0.1
proto = syn
profile = dos
spoof = 1000
base = 0
rate = 30000
at = 0.2
until = 0.8
)",
                                            "curves.scn");
        ASSERT_EQ(sc.groups.size(), 4U);
        const double dt = sc.tick;
        gen::engine e(sc, {{pid, 1, 1}}, {{pid, 1, 1}}, pool.get(), 32);

        std::vector<std::array<std::uint64_t, 4>> on_wire; // [tick][group]
        std::set<std::uint32_t> spoofed;
        std::uint64_t dos_frames = 0;
        bool dos_frames_ok = true;
        const std::uint32_t dos_src = (10U << 24) | (9U << 16) | 1U;
        const auto drain = [&] {
            std::array<void*, 64> got{};
            const unsigned n = wire.dequeue_burst(got);
            for (unsigned i = 0; i < n; ++i) {
                auto* m = static_cast<rte_mbuf*>(got[i]);
                const auto* d = rte_pktmbuf_mtod(m, const std::uint8_t*);
                const auto st = gen::read_stamp(d + gen::stamp_offset(d, rte_pktmbuf_data_len(m)));
                const auto g = e.group_of(st.client);
                ++on_wire.back()[g];
                if (g == 3) {
                    ++dos_frames;
                    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(d + sizeof(rte_ether_hdr));
                    const auto* tcp = reinterpret_cast<const rte_tcp_hdr*>(ip + 1);
                    const std::uint32_t src = rte_be_to_cpu_32(ip->src_addr);
                    // The group's one client is 10.9.0.1; spoofed sources follow it.
                    dos_frames_ok = dos_frames_ok && ip->next_proto_id == IPPROTO_TCP &&
                                    tcp->tcp_flags == RTE_TCP_SYN_FLAG && src > dos_src && src <= dos_src + 1000;
                    spoofed.insert(src);
                }
                rte_pktmbuf_free(m);
            }
            return n;
        };
        const std::uint64_t hz = rte_get_tsc_hz();
        int k = 0;
        while (e.tick(k * dt)) {
            on_wire.push_back({});
            const auto until = rte_rdtsc() + static_cast<std::uint64_t>(dt * static_cast<double>(hz));
            while (rte_rdtsc() < until) {
                e.poll_tx(0);
                drain();
            }
            // The tick's time is over, so all its quota is due: send the rest
            // now, whatever a descheduled test thread held back.
            do
                e.poll_tx(0);
            while (drain() > 0);
            ++k;
        }
        ASSERT_GE(on_wire.size(), 59U); // 1.2 s of 20 ms ticks (60, or 59 if the last t rounds up)
        EXPECT_EQ(e.totals().backpressure, 0U);

        // Against the profiles, tick by tick.
        std::vector<gen::profile> profiles;
        for (const auto& g : sc.groups)
            profiles.emplace_back(g.demand);
        for (std::size_t t = 0; t < on_wire.size(); ++t)
            for (std::size_t g = 0; g < 4; ++g) {
                const double want = profiles[g].rate_at(static_cast<double>(t) * dt) * dt * sc.groups[g].clients;
                EXPECT_LE(std::abs(static_cast<double>(on_wire[t][g]) - want), sc.groups[g].clients)
                    << sc.groups[g].name << " tick " << t << ": " << on_wire[t][g] << " on the wire, profile " << want;
            }
        // Hand-worked points (packets per 20 ms tick, all clients of the group).
        const auto near = [&](std::size_t t, std::size_t g, double want) {
            EXPECT_NEAR(static_cast<double>(on_wire[t][g]), want, sc.groups[g].clients)
                << sc.groups[g].name << " tick " << t;
        };
        near(5, 0, 80);    // step: 2 x 2000 pps before 0.4 s
        near(19, 0, 80);
        near(21, 0, 400);  // then 2 x 10000
        near(58, 0, 400);
        near(5, 1, 40);    // ramp: 2 x 1000 until 0.2 s,
        near(30, 1, 220);  // half way (0.6 s) 2 x 5500,
        near(55, 1, 400);  // 2 x 10000 from 1.0 s
        near(10, 2, 20);   // flash: 1000 before 0.3 s,
        near(20, 2, 200);  // the peak base x factor at 0.4 s,
        near(30, 2, 86.2); // one decay constant later 1000 + 9000/e
        near(9, 3, 0);     // dos: nothing before 0.2 s,
        near(25, 3, 300);  // 15000 pps half way (0.5 s),
        near(45, 3, 600);  // 30000 from 0.8 s
        for (std::size_t t = 21; t < 30; ++t) // the ramp only climbs
            EXPECT_GE(on_wire[t][1] + 2, on_wire[t - 1][1]);

        // The engine's time series reports what went on the wire.
        const auto& rows = e.series();
        ASSERT_EQ(rows.size(), on_wire.size() * 4);
        for (const auto& r : rows) {
            const auto t = static_cast<std::size_t>(std::lround(r.t / dt));
            ASSERT_LT(t, on_wire.size());
            EXPECT_NEAR(r.sent_pps * dt, static_cast<double>(on_wire[t][r.group]), 1e-6)
                << sc.groups[r.group].name << " tick " << t;
        }

        // DoS: SYNs from the spoofed addresses (10.9.0.2 ...), every one of them used.
        EXPECT_TRUE(dos_frames_ok);
        EXPECT_GT(dos_frames, 5000U);
        EXPECT_EQ(spoofed.size(), 1000U);
        EXPECT_EQ(pool.in_use(), 0U);
    }
    rte_vdev_uninit("net_ring_engc");
}
