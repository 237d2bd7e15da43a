// The generator engine's accounting on real mbufs: the test sits on the wire
// between the engine's TX and RX rings and drops, swaps and duplicates
// packets on purpose; the engine must count exactly that.
#include <algorithm>
#include <array>
#include <vector>

#include <gtest/gtest.h>
#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/dpdk/ring.hpp"
#include "shadownet/gen/engine.hpp"

using namespace shadownet;

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
