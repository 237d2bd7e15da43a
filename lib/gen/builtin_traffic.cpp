#include "shadownet/gen/builtin_traffic.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

namespace shadownet::gen {

namespace {
constexpr unsigned max_burst = 512;
constexpr std::size_t headers_len = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
} // namespace

builtin_traffic::builtin_traffic(const builtin_traffic_config& cfg, std::vector<traffic_port> ports,
                                 rte_mempool* pool, std::uint16_t burst)
    : cfg_(cfg), ports_(std::move(ports)), pool_(pool), burst_(std::min<std::uint16_t>(burst, max_burst)),
      picked_(ports_.size() * max_queues_per_port, 0), next_seq_(ports_.size() * cfg.clients, 0),
      max_seen_(ports_.size() * cfg.clients, 0), next_queue_(ports_.size(), 0)
{
    for (auto& p : ports_)
        p.txq = std::min<std::uint16_t>(p.txq, max_queues_per_port);
    cfg_.packet_size = std::max<std::uint16_t>(cfg_.packet_size, headers_len + sizeof(payload_stamp));
    if (cfg_.rate_pps > 0)
        pkts_per_tsc_ = cfg_.rate_pps / static_cast<double>(rte_get_tsc_hz());
}

std::uint32_t builtin_traffic::fill(rte_mbuf* m, std::size_t port_index, std::uint16_t queue, std::uint64_t k) noexcept
{
    // Queue q of a port carries clients q, q + txq, q + 2 txq, ...: a client
    // always enters the appliance on the same RX queue, as RSS would place it.
    const traffic_port& p = ports_[port_index];
    const std::uint32_t clients_here = std::max<std::uint32_t>(1, (cfg_.clients - queue + p.txq - 1) / p.txq);
    const std::uint32_t client =
        std::min<std::uint32_t>(cfg_.clients - 1, queue + p.txq * static_cast<std::uint32_t>(k % clients_here));
    const std::uint32_t flow = static_cast<std::uint32_t>((k / clients_here) % cfg_.flows_per_client);
    const auto stream = static_cast<std::uint32_t>(port_index * cfg_.clients + client);
    const std::uint64_t seq = next_seq_[stream]++;
    auto* data = rte_pktmbuf_mtod(m, std::uint8_t*);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(data);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);

    // Locally administered MACs: 02:5e:00:00:<port>:<side>.
    const rte_ether_addr src{{0x02, 0x5e, 0, 0, static_cast<std::uint8_t>(port_index), 1}};
    const rte_ether_addr dst{{0x02, 0x5e, 0, 0, static_cast<std::uint8_t>(port_index), 0}};
    eth->src_addr = src;
    eth->dst_addr = dst;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

    const std::uint16_t ip_len = static_cast<std::uint16_t>(cfg_.packet_size - sizeof(rte_ether_hdr));
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->type_of_service = 0;
    ip->total_length = rte_cpu_to_be_16(ip_len);
    ip->packet_id = 0;
    ip->fragment_offset = 0;
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->hdr_checksum = 0;
    // Client c sends from 10.0.0.0/8 + c + 1, to a benchmarking address (RFC 2544).
    ip->src_addr = rte_cpu_to_be_32((10U << 24) + client + 1);
    ip->dst_addr = rte_cpu_to_be_32((198U << 24) | (18U << 16) | 1U);
    ip->hdr_checksum = rte_ipv4_cksum(ip);

    udp->src_port = rte_cpu_to_be_16(static_cast<std::uint16_t>(1024 + flow));
    udp->dst_port = rte_cpu_to_be_16(5001);
    udp->dgram_len = rte_cpu_to_be_16(static_cast<std::uint16_t>(ip_len - sizeof(rte_ipv4_hdr)));
    udp->dgram_cksum = 0;

    payload_stamp stamp{stamp_magic, stream, seq, rte_rdtsc()};
    std::memcpy(udp + 1, &stamp, sizeof(stamp));

    m->data_len = cfg_.packet_size;
    m->pkt_len = cfg_.packet_size;
    return stream;
}

void builtin_traffic::send_on(std::size_t port_index, unsigned n) noexcept
{
    rte_mbuf* pkts[max_burst];
    n = std::min(n, static_cast<unsigned>(max_burst));
    if (rte_pktmbuf_alloc_bulk(pool_, pkts, n) != 0)
        return; // pool exhausted for now: the pacer catches up on a later poll
    const traffic_port& p = ports_[port_index];
    const std::uint16_t q = next_queue_[port_index];
    next_queue_[port_index] = static_cast<std::uint16_t>((q + 1) % p.txq);
    std::uint64_t& k = picked_[port_index * max_queues_per_port + q];
    std::array<std::uint32_t, max_burst> streams;
    for (unsigned i = 0; i < n; ++i)
        streams[i] = fill(pkts[i], port_index, q, k + i);
    const std::uint16_t sent = rte_eth_tx_burst(p.port_id, q, pkts, static_cast<std::uint16_t>(n));
    if (sent < n) {
        // The appliance's RX ring is full: these never reached it. Give their
        // sequence numbers back (newest first) so no stream has a false gap.
        for (unsigned i = n; i-- > sent;)
            --next_seq_[streams[i]];
        rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
        totals_.backpressure += n - sent;
    }
    k += sent;
    totals_.sent += sent;
}

void builtin_traffic::receive() noexcept
{
    rte_mbuf* pkts[max_burst];
    for (std::size_t pi = 0; pi < ports_.size(); ++pi) {
        const traffic_port& p = ports_[pi];
        for (std::uint16_t q = 0; q < p.rxq; ++q) {
            const std::uint16_t n = rte_eth_rx_burst(p.port_id, q, pkts, burst_);
            for (std::uint16_t i = 0; i < n; ++i) {
                rte_mbuf* m = pkts[i];
                payload_stamp stamp{};
                if (rte_pktmbuf_data_len(m) >= headers_len + sizeof(stamp)) {
                    std::memcpy(&stamp, rte_pktmbuf_mtod_offset(m, const std::uint8_t*, headers_len), sizeof(stamp));
                }
                if (stamp.magic != stamp_magic || stamp.stream >= max_seen_.size()) {
                    ++totals_.foreign;
                    continue;
                }
                ++totals_.received;
                std::uint64_t& seen = max_seen_[stamp.stream];
                if (stamp.seq + 1 <= seen)
                    ++totals_.reordered;
                else
                    seen = stamp.seq + 1;
            }
            if (n)
                rte_pktmbuf_free_bulk(pkts, n);
        }
    }
}

void builtin_traffic::poll() noexcept
{
    if (sending_ && !ports_.empty()) {
        unsigned budget = static_cast<unsigned>(burst_) * static_cast<unsigned>(ports_.size());
        if (pkts_per_tsc_ > 0) {
            if (start_tsc_ == 0)
                start_tsc_ = rte_rdtsc();
            const auto due = static_cast<std::uint64_t>(static_cast<double>(rte_rdtsc() - start_tsc_) * pkts_per_tsc_);
            const std::uint64_t owed = due > attempted_ ? due - attempted_ : 0;
            budget = static_cast<unsigned>(std::min<std::uint64_t>(owed, budget));
        }
        attempted_ += budget;
        // Spread the budget over the ports in bursts, starting where the last poll stopped.
        while (budget > 0) {
            const unsigned n = std::min<unsigned>(budget, burst_);
            send_on(next_port_, n);
            next_port_ = (next_port_ + 1) % ports_.size();
            budget -= n;
        }
    }
    receive();
}

} // namespace shadownet::gen
