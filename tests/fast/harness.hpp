// A small rig for fast-path tests: two virtual cables (appliance ports A0, A1;
// far ends B0, B1), a client table, and one lcore_conf that forwards A0 <-> A1
// with one primary and `shadow` shadow TX queues per port. The test thread
// plays the control lcore and, for single-threaded tests, runs lcore_poll()
// itself.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring_elem.h>
#include <rte_udp.h>

#include "shadownet/dataplane/client_table.hpp"
#include "shadownet/dataplane/worker.hpp"
#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/port.hpp"
#include "shadownet/dpdk/ring.hpp"
#include "shadownet/dpdk/vcable.hpp"

namespace shadownet::testing {

struct test_stamp {
    std::uint32_t flow;
    std::uint32_t pad;
    std::uint64_t seq;
};

inline constexpr std::size_t udp_headers = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);

// Writes an Ethernet/IPv4/UDP frame from 10.0.0.<src> with a stamp as payload.
inline void write_udp(rte_mbuf* m, std::uint32_t src_host, std::uint32_t flow, std::uint64_t seq,
                      std::uint16_t len = 64)
{
    rte_pktmbuf_reset(m);
    auto* p = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, len));
    ASSERT_NE(p, nullptr);
    std::memset(p, 0, len);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    eth->src_addr.addr_bytes[0] = 0x02;
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(len - sizeof(rte_ether_hdr)));
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32((10U << 24) | src_host);
    ip->dst_addr = rte_cpu_to_be_32((198U << 24) | (18U << 16) | 1);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = rte_cpu_to_be_16(static_cast<std::uint16_t>(1000 + flow));
    udp->dst_port = rte_cpu_to_be_16(9);
    udp->dgram_len = rte_cpu_to_be_16(static_cast<std::uint16_t>(len - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr)));
    const test_stamp st{flow, 0, seq};
    std::memcpy(p + udp_headers, &st, sizeof(st));
}

inline test_stamp read_stamp(const rte_mbuf* m)
{
    test_stamp st{};
    std::memcpy(&st, rte_pktmbuf_mtod_offset(m, const std::uint8_t*, udp_headers), sizeof(st));
    return st;
}

class rig {
public:
    rig(const std::string& tag, unsigned ring_size, std::uint16_t shadow, std::uint32_t max_clients = 1024)
        : pool(dpdk::mempool::pktmbuf(tag + "_pool", 8191, 0, 0)),
          c0(tag + "0", 1, static_cast<std::uint16_t>(1 + shadow), ring_size, 0),
          c1(tag + "1", 1, static_cast<std::uint16_t>(1 + shadow), ring_size, 0),
          table(tag + "_clients", max_clients, 0),
          connect(tag + "_connect", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ, sizeof(dataplane::client_key))
    {
        c0.open_side_b();
        c1.open_side_b();
        dpdk::port_setup a;
        a.txq = 1;
        a.shadow_txq = shadow;
        dpdk::port_setup b;
        b.rxq = static_cast<std::uint16_t>(1 + shadow);
        b.txq = 1;
        ports.emplace_back(c0.side_a(), a, pool.get());
        ports.emplace_back(c1.side_a(), a, pool.get());
        ports.emplace_back(c0.side_b(), b, pool.get());
        ports.emplace_back(c1.side_b(), b, pool.get());
        for (auto& p : ports)
            p.start();
        probes = std::make_unique<dataplane::egress_probe_table>();
        for (std::uint16_t q = 0; q < 1 + shadow; ++q) {
            (*probes)[c0.side_a()][q] = {dataplane::egress_probe::kind::ring, c0.a_tx_ring(q), 0};
            (*probes)[c1.side_a()][q] = {dataplane::egress_probe::kind::ring, c1.a_tx_ring(q), 0};
        }
        stats = std::make_unique<dataplane::client_lcore_stats[]>(max_clients + 1);
        egress = std::make_unique<dataplane::client_egress[]>(max_clients + 1);
        state = std::make_unique<dataplane::lcore_state>();
        counters = std::make_unique<dataplane::lcore_counters>();
        conf.lcore_id = rte_lcore_id();
        conf.role = dataplane::lcore_role::rtc;
        conf.rx = {{c0.side_a(), 0}, {c1.side_a(), 0}};
        conf.peer.fill(dataplane::no_port);
        conf.peer[c0.side_a()] = c1.side_a();
        conf.peer[c1.side_a()] = c0.side_a();
        for (const auto p : {c0.side_a(), c1.side_a()})
            roles.set_role(p, {static_cast<std::uint8_t>(p), static_cast<std::uint8_t>(p), 0});
        conf.egress = &roles;
        conf.primary_txq = 0;
        conf.shadow_txq_base = 1;
        conf.shadow_txq_count = shadow;
        conf.has_shadow_txq[c0.side_a()] = shadow > 0;
        conf.has_shadow_txq[c1.side_a()] = shadow > 0;
        conf.burst = 32;
        conf.clients = &table;
        conf.connect_ring = connect.get();
        conf.probes = probes.get();
        conf.grace_cycles = 0;
        conf.counters = counters.get();
        conf.clients_stats = stats.get();
        conf.clients_egress = egress.get();
        conf.quit = &quit;
        launch = {&conf, state.get()};
        rte_rcu_qsbr_thread_register(table.rcu(), conf.lcore_id);
    }
    ~rig() { rte_rcu_qsbr_thread_unregister(table.rcu(), conf.lcore_id); }

    // Puts packets on the wire towards A0 (sources 10.0.0.<host>).
    unsigned inject(std::uint32_t host, unsigned n, std::uint32_t flow = 0, std::uint64_t first_seq = 0)
    {
        std::array<rte_mbuf*, 64> m{};
        n = std::min<unsigned>(n, m.size());
        if (rte_pktmbuf_alloc_bulk(pool.get(), m.data(), n) != 0)
            return 0;
        for (unsigned i = 0; i < n; ++i)
            write_udp(m[i], host, flow, first_seq + i);
        const auto sent = rte_eth_tx_burst(c0.side_b(), 0, m.data(), static_cast<std::uint16_t>(n));
        rte_pktmbuf_free_bulk(&m[sent], n - sent);
        return sent;
    }
    unsigned inject_raw(const std::vector<std::uint8_t>& frame)
    {
        rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
        if (m == nullptr)
            return 0;
        auto* p = rte_pktmbuf_append(m, static_cast<std::uint16_t>(frame.size()));
        if (p != nullptr)
            std::memcpy(p, frame.data(), frame.size());
        return rte_eth_tx_burst(c0.side_b(), 0, &m, 1);
    }

    // What arrived at B1 on queue q; each packet's stamp, then freed.
    std::vector<test_stamp> receive(std::uint16_t q)
    {
        std::vector<test_stamp> out;
        std::array<rte_mbuf*, 64> m{};
        while (const auto n = rte_eth_rx_burst(c1.side_b(), q, m.data(), m.size())) {
            for (unsigned i = 0; i < n; ++i)
                out.push_back(read_stamp(m[i]));
            rte_pktmbuf_free_bulk(m.data(), n);
        }
        return out;
    }

    // The control lcore's part: register the sources the lcore announced.
    std::vector<std::uint32_t> register_clients()
    {
        std::vector<std::uint32_t> ids;
        dataplane::client_key k;
        while (rte_ring_dequeue_elem(connect.get(), &k, sizeof(k)) == 0)
            if (const auto id = table.add(k))
                ids.push_back(*id);
        return ids;
    }

    unsigned poll_until_idle()
    {
        unsigned total = 0;
        for (int idle = 0; idle < 3;) {
            const auto n = dataplane::lcore_poll(conf, *state);
            total += n;
            idle = n == 0 ? idle + 1 : 0;
        }
        return total;
    }

    std::uint64_t port_drops(std::uint16_t port, dataplane::drop_reason r) const
    {
        return counters->port[port].drops[static_cast<std::size_t>(r)].read();
    }

    dpdk::mempool pool;
    dpdk::vcable c0;
    dpdk::vcable c1;
    dataplane::client_table table;
    dpdk::ring connect;
    std::vector<dpdk::port> ports;
    std::unique_ptr<dataplane::egress_probe_table> probes;
    dataplane::egress_table roles; // logical egress = physical port, each its own shadow (its shadow queues)
    std::unique_ptr<dataplane::client_lcore_stats[]> stats;
    std::unique_ptr<dataplane::client_egress[]> egress;
    std::unique_ptr<dataplane::lcore_state> state;
    std::unique_ptr<dataplane::lcore_counters> counters;
    std::atomic<bool> quit{false};
    dataplane::lcore_conf conf;
    dataplane::lcore_launch launch{};
};

} // namespace shadownet::testing
