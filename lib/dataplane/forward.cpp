#include "shadownet/dataplane/forward.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

namespace shadownet::dataplane {

namespace {
constexpr unsigned max_burst = 512;
} // namespace

unsigned fwd_poll(const fwd_lcore_conf& conf) noexcept
{
    rte_mbuf* pkts[max_burst];
    const std::uint64_t start = rte_rdtsc();
    unsigned received = 0;
    lcore_counters& c = *conf.counters;
    for (const auto& q : conf.rx) {
        const std::uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, conf.burst);
        if (n == 0)
            continue;
        received += n;
        port_counters& in = c.port[q.port];
        std::uint64_t bytes = 0;
        for (std::uint16_t i = 0; i < n; ++i)
            bytes += rte_pktmbuf_pkt_len(pkts[i]);
        in.rx_packets.add(n);
        in.rx_bytes.add(bytes);

        const std::uint16_t out_port = conf.peer[q.port];
        if (out_port == no_port) {
            rte_pktmbuf_free_bulk(pkts, n);
            in.drops[static_cast<std::size_t>(drop_reason::no_route)].add(n);
            continue;
        }
        const std::uint16_t sent = rte_eth_tx_burst(out_port, conf.txq, pkts, n);
        if (sent < n) {
            std::uint64_t unsent_bytes = 0;
            for (std::uint16_t i = sent; i < n; ++i)
                unsent_bytes += rte_pktmbuf_pkt_len(pkts[i]);
            bytes -= unsent_bytes;
            rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
            in.drops[static_cast<std::size_t>(drop_reason::tx_full)].add(n - sent);
        }
        in.forwarded.add(sent);
        port_counters& out = c.port[out_port];
        out.tx_packets.add(sent);
        out.tx_bytes.add(bytes);
    }
    const std::uint64_t spent = rte_rdtsc() - start;
    (received ? c.busy_cycles : c.idle_cycles).add(spent);
    c.loops.add(1);
    return received;
}

int fwd_lcore_main(void* arg) noexcept
{
    const auto& conf = *static_cast<const fwd_lcore_conf*>(arg);
    while (!conf.quit->load(std::memory_order_acquire))
        fwd_poll(conf);
    return 0;
}

} // namespace shadownet::dataplane
