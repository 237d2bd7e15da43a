// The RAII adapters against a real EAL with virtual devices.
#include <array>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "shadownet/core/error.hpp"
#include "shadownet/dpdk/eal.hpp"
#include "shadownet/dpdk/hash.hpp"
#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/dpdk/ring.hpp"
#include "shadownet/dpdk/vcable.hpp"

using namespace shadownet;
using namespace shadownet::dpdk;

TEST(eal, is_active_once_with_its_runtime_dir)
{
    EXPECT_TRUE(eal_guard::active());
    EXPECT_THROW(eal_guard({"again", "--no-huge"}, false), dpdk_error);
    EXPECT_TRUE(eal_guard::active());
    EXPECT_TRUE(std::filesystem::exists(rte_eal_get_runtime_dir()));
}

TEST(mempool, counts_mbufs_in_use)
{
    auto pool = mempool::pktmbuf("t_pool", 511, 0, static_cast<int>(rte_socket_id()));
    EXPECT_EQ(pool.size(), 511U);
    EXPECT_EQ(pool.in_use(), 0U);
    std::array<rte_mbuf*, 10> m{};
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool.get(), m.data(), m.size()), 0);
    EXPECT_EQ(pool.in_use(), 10U);
    rte_pktmbuf_free_bulk(m.data(), m.size());
    EXPECT_EQ(pool.in_use(), 0U);
    EXPECT_THROW(mempool::pktmbuf("t_pool", 511, 0, 0), dpdk_error); // name taken
}

TEST(ring, of_count_n_holds_n)
{
    ring r("t_ring", 100, static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    EXPECT_EQ(r.capacity(), 100U);
    std::array<void*, 128> objs{};
    for (std::size_t i = 0; i < objs.size(); ++i)
        objs[i] = reinterpret_cast<void*>(i + 1);
    EXPECT_EQ(r.enqueue_burst(objs), 100U);
    EXPECT_EQ(r.count(), 100U);
    std::array<void*, 128> out{};
    EXPECT_EQ(r.dequeue_burst(out), 100U);
    EXPECT_EQ(out[99], objs[99]);
}

TEST(hash_table, adds_finds_and_removes)
{
    hash_table h("t_hash", 1024, sizeof(std::uint32_t), static_cast<int>(rte_socket_id()), 0);
    std::uint32_t key = 42;
    int value = 7;
    EXPECT_GE(h.add(&key, &value), 0);
    void* found = nullptr;
    EXPECT_GE(h.lookup(&key, &found), 0);
    EXPECT_EQ(found, &value);
    EXPECT_EQ(h.count(), 1);
    EXPECT_GE(h.remove(&key), 0);
    EXPECT_EQ(h.lookup(&key, &found), -ENOENT);
}

TEST(port, reserves_shadow_tx_queues_after_the_primary_ones)
{
    ASSERT_EQ(rte_vdev_init("net_null_shadowq", nullptr), 0);
    std::uint16_t id = 0;
    ASSERT_EQ(rte_eth_dev_get_port_by_name("net_null_shadowq", &id), 0);
    auto pool = mempool::pktmbuf("t_port_pool", 2047, 32, static_cast<int>(rte_socket_id()));
    {
        port_setup s;
        s.rxq = 2;
        s.txq = 3;
        s.shadow_txq = 2;
        s.rxd = 256;
        s.txd = 256;
        port p(id, s, pool.get());
        EXPECT_EQ(p.name(), "net_null_shadowq");
        EXPECT_EQ(p.first_shadow_txq(), 3);
        rte_eth_dev_info info{};
        ASSERT_EQ(rte_eth_dev_info_get(id, &info), 0);
        EXPECT_EQ(info.nb_rx_queues, 2);
        EXPECT_EQ(info.nb_tx_queues, 5);
        p.start();
        EXPECT_TRUE(p.link().up);
        // The null PMD transmits whatever it is given, on shadow queues too.
        std::array<rte_mbuf*, 4> m{};
        ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool.get(), m.data(), m.size()), 0);
        EXPECT_EQ(rte_eth_tx_burst(id, p.first_shadow_txq(), m.data(), m.size()), 4);
        EXPECT_EQ(p.hw_stats().opackets, 4U);
        EXPECT_FALSE(p.xstats().empty());
    }
    EXPECT_FALSE(rte_eth_dev_is_valid_port(id)); // the port closed with its owner
    rte_vdev_uninit("net_null_shadowq");
}

TEST(port, too_many_queues_is_a_clear_error)
{
    ring r("t_one_ring", 64, 0, 0);
    rte_ring* rings[] = {r.get()};
    const int id = rte_eth_from_rings("t_small", rings, 1, rings, 1, 0);
    ASSERT_GE(id, 0);
    auto pool = mempool::pktmbuf("t_small_pool", 511, 0, 0);
    port_setup s;
    s.txq = 1;
    s.shadow_txq = 4;
    try {
        port p(static_cast<std::uint16_t>(id), s, pool.get());
        FAIL() << "configured 5 TX queues on a 1-queue device";
    } catch (const dpdk_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("needs 5 TX queues (1 primary + 4 shadow)"), std::string::npos) << what;
        EXPECT_NE(what.find("net_ring_t_small"), std::string::npos) << what;
    }
    rte_vdev_uninit("net_ring_t_small");
    EXPECT_THROW(port(999, s, pool.get()), dpdk_error);
}

TEST(vcable, joins_queues_back_to_back)
{
    auto pool = mempool::pktmbuf("t_cable_pool", 1023, 0, 0);
    vcable cable("t_cable", 2, 3, 64, 0);
    cable.open_side_b();
    EXPECT_EQ(ethdev_name(cable.side_a()), "net_ring_t_cable");
    EXPECT_EQ(ethdev_name(cable.side_b()), "net_ring_t_cable_peer");
    port_setup sa;
    sa.rxq = 2;
    sa.txq = 1;
    sa.shadow_txq = 2;
    port a(cable.side_a(), sa, pool.get());
    port_setup sb;
    sb.rxq = 3;
    sb.txq = 2;
    port b(cable.side_b(), sb, pool.get());
    a.start();
    b.start();

    std::array<rte_mbuf*, 8> m{};
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool.get(), m.data(), m.size()), 0);
    // B's TX queue 1 feeds A's RX queue 1 only.
    ASSERT_EQ(rte_eth_tx_burst(b.id(), 1, m.data(), 5), 5);
    EXPECT_EQ(cable.pending_to_a(), 5U);
    std::array<rte_mbuf*, 8> got{};
    EXPECT_EQ(rte_eth_rx_burst(a.id(), 0, got.data(), 8), 0);
    ASSERT_EQ(rte_eth_rx_burst(a.id(), 1, got.data(), 8), 5);
    EXPECT_EQ(got[0], m[0]);
    // A's shadow TX queue 2 arrives at B's RX queue 2.
    ASSERT_EQ(rte_eth_tx_burst(a.id(), 2, got.data(), 5), 5);
    EXPECT_EQ(cable.pending_to_b(), 5U);
    EXPECT_EQ(rte_eth_rx_burst(b.id(), 2, m.data(), 8), 5);
    rte_pktmbuf_free_bulk(m.data(), 5);
    rte_pktmbuf_free_bulk(&m[5], 3);
    EXPECT_EQ(pool.in_use(), 0U);
}
