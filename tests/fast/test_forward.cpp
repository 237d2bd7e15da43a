// The run-to-completion forwarding kernel on real ring-backed ports.
#include <array>
#include <atomic>

#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "shadownet/dataplane/forward.hpp"
#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/dpdk/vcable.hpp"

using namespace shadownet;
using namespace shadownet::dataplane;

namespace {

constexpr std::size_t idx(drop_reason r)
{
    return static_cast<std::size_t>(r);
}

// Two cables (appliance ports A0, A1 and far ends B0, B1) with started ports.
struct two_cables {
    explicit two_cables(const char* tag, unsigned ring_size)
        : pool(dpdk::mempool::pktmbuf(std::string(tag) + "_pool", 4095, 0, 0)),
          c0(std::string(tag) + "0", 1, 1, ring_size, 0), c1(std::string(tag) + "1", 1, 1, ring_size, 0)
    {
        c0.open_side_b();
        c1.open_side_b();
        dpdk::port_setup s;
        for (const auto id : {c0.side_a(), c1.side_a(), c0.side_b(), c1.side_b()})
            ports.emplace_back(id, s, pool.get());
        for (auto& p : ports)
            p.start();
        conf.lcore_id = rte_lcore_id();
        conf.rx = {{c0.side_a(), 0}, {c1.side_a(), 0}};
        conf.peer.fill(no_port);
        conf.peer[c0.side_a()] = c1.side_a();
        conf.peer[c1.side_a()] = c0.side_a();
        conf.txq = 0;
        conf.burst = 32;
        conf.counters = counters.get();
        conf.quit = &quit;
    }

    // Puts n fresh packets of `len` bytes on the wire towards A0.
    void inject(unsigned n, std::uint16_t len = 64)
    {
        std::array<rte_mbuf*, 64> m{};
        ASSERT_LE(n, m.size());
        ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool.get(), m.data(), n), 0);
        for (unsigned i = 0; i < n; ++i)
            ASSERT_NE(rte_pktmbuf_append(m[i], len), nullptr);
        ASSERT_EQ(rte_eth_tx_burst(c0.side_b(), 0, m.data(), static_cast<std::uint16_t>(n)), n);
    }

    unsigned drain_b1()
    {
        std::array<rte_mbuf*, 64> m{};
        unsigned total = 0;
        while (const auto n = rte_eth_rx_burst(c1.side_b(), 0, m.data(), m.size())) {
            rte_pktmbuf_free_bulk(m.data(), n);
            total += n;
        }
        return total;
    }

    dpdk::mempool pool;
    dpdk::vcable c0;
    dpdk::vcable c1;
    std::vector<dpdk::port> ports;
    std::unique_ptr<lcore_counters> counters = std::make_unique<lcore_counters>();
    std::atomic<bool> quit{false};
    fwd_lcore_conf conf;
};

} // namespace

TEST(forward, moves_bursts_to_the_paired_port_and_counts_them)
{
    two_cables t("fw_a", 256);
    t.inject(40, 100);
    unsigned polled = 0;
    while (polled < 40)
        polled += fwd_poll(t.conf);
    EXPECT_EQ(t.drain_b1(), 40U);
    const auto& in = t.counters->port[t.c0.side_a()];
    const auto& out = t.counters->port[t.c1.side_a()];
    EXPECT_EQ(in.rx_packets.read(), 40U);
    EXPECT_EQ(in.rx_bytes.read(), 4000U);
    EXPECT_EQ(in.forwarded.read(), 40U);
    EXPECT_EQ(out.tx_packets.read(), 40U);
    EXPECT_EQ(out.tx_bytes.read(), 4000U);
    EXPECT_GE(t.counters->loops.read(), 2U); // 40 packets need two bursts of 32
    EXPECT_GT(t.counters->busy_cycles.read(), 0U);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

TEST(forward, full_tx_ring_drops_are_counted_and_freed)
{
    two_cables t("fw_b", 48); // A1 -> B1 holds 48; nobody drains B1 until the end
    for (int i = 0; i < 3; ++i) {
        t.inject(32);
        while (fwd_poll(t.conf) == 0) {
        }
    }
    const auto& in = t.counters->port[t.c0.side_a()];
    EXPECT_EQ(in.rx_packets.read(), 96U);
    EXPECT_EQ(in.forwarded.read(), 48U);
    EXPECT_EQ(in.drops[idx(drop_reason::tx_full)].read(), 48U);
    EXPECT_EQ(in.rx_packets.read(), in.forwarded.read() + in.drops[idx(drop_reason::tx_full)].read());
    EXPECT_EQ(t.drain_b1(), 48U);
    EXPECT_EQ(t.pool.in_use(), 0U); // dropped mbufs went back to the pool
}

TEST(forward, unpaired_port_drops_with_no_route)
{
    two_cables t("fw_c", 256);
    t.conf.peer[t.c0.side_a()] = no_port;
    t.inject(10);
    while (fwd_poll(t.conf) == 0) {
    }
    const auto& in = t.counters->port[t.c0.side_a()];
    EXPECT_EQ(in.drops[idx(drop_reason::no_route)].read(), 10U);
    EXPECT_EQ(in.forwarded.read(), 0U);
    EXPECT_EQ(t.drain_b1(), 0U);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

TEST(forward, lcore_loop_returns_when_told_to_quit)
{
    two_cables t("fw_d", 256);
    t.quit.store(true);
    EXPECT_EQ(fwd_lcore_main(&t.conf), 0);
    EXPECT_EQ(t.counters->loops.read(), 0U);
}
