#include "shadownet/gen/engine.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

namespace shadownet::gen {

namespace {

constexpr unsigned max_burst = 512;
constexpr std::size_t eth_ip = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr);
constexpr std::uint16_t imix_sizes[12] = {64, 64, 64, 64, 64, 64, 64, 594, 594, 594, 594, 1518}; // 7:4:1

std::size_t l4_len(l4_kind k)
{
    return k == l4_kind::udp ? sizeof(rte_udp_hdr) : sizeof(rte_tcp_hdr);
}

} // namespace

void write_stamp(std::uint8_t* at, const payload_stamp& s) noexcept
{
    std::memcpy(at, &s.magic, 2);
    std::memcpy(at + 2, &s.client, 4);
    std::memcpy(at + 6, &s.seq, 8);
    std::memcpy(at + 14, &s.tsc, 8);
}

payload_stamp read_stamp(const std::uint8_t* at) noexcept
{
    payload_stamp s;
    std::memcpy(&s.magic, at, 2);
    std::memcpy(&s.client, at + 2, 4);
    std::memcpy(&s.seq, at + 6, 8);
    std::memcpy(&s.tsc, at + 14, 8);
    return s;
}

void latency_histogram::add(std::uint64_t ns) noexcept
{
    std::size_t idx = ns;
    if (ns >= 16) {
        const int msb = 63 - std::countl_zero(ns);
        const int shift = msb - 4;
        idx = static_cast<std::size_t>(shift + 1) * 16 + ((ns >> shift) & 15);
    }
    ++counts_[std::min(idx, buckets - 1)];
    ++count_;
    max_ = std::max(max_, ns);
}

void latency_histogram::merge(const latency_histogram& o) noexcept
{
    for (std::size_t i = 0; i < buckets; ++i)
        counts_[i] += o.counts_[i];
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
}

std::uint64_t latency_histogram::quantile(double q) const noexcept
{
    if (count_ == 0)
        return 0;
    const auto want = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets; ++i) {
        seen += counts_[i];
        if (seen >= std::max<std::uint64_t>(want, 1)) {
            if (i < 16)
                return i;
            const std::size_t shift = i / 16 - 1;
            // The bucket's upper edge, capped by the largest sample seen.
            return std::min<std::uint64_t>(((16 + i % 16 + 1) << shift) - 1, max_);
        }
    }
    return max_;
}

engine::engine(scenario sc, std::vector<engine_port> tx, std::vector<engine_port> rx, rte_mempool* pool,
               std::uint16_t burst)
    : sc_(std::move(sc)), tx_(std::move(tx)), rx_(std::move(rx)), pool_(pool),
      burst_(std::clamp<std::uint16_t>(burst, 1, max_burst))
{
    std::uint32_t index = 0;
    for (std::uint32_t g = 0; g < sc_.groups.size(); ++g) {
        const auto& grp = sc_.groups[g];
        for (std::uint32_t i = 0; i < grp.clients; ++i, ++index) {
            client c{};
            c.group = g;
            c.src = grp.src + i;
            const std::size_t n_ports = std::max<std::size_t>(tx_.size(), 1);
            c.port = static_cast<std::uint16_t>(index % n_ports);
            const std::uint16_t txq = tx_.empty() ? 1 : std::max<std::uint16_t>(tx_[c.port].txq, 1);
            c.queue = static_cast<std::uint16_t>((index / n_ports) % txq);
            clients_.push_back(c);
        }
    }
    stats_.resize(clients_.size());
    active_.reserve(clients_.size());
    for (const auto& g : sc_.groups)
        profiles_.emplace_back(g.demand);
    build_templates();
    group_sent_mark_.assign(sc_.groups.size(), 0);
    group_recv_mark_.assign(sc_.groups.size(), 0);
    group_offered_mark_.assign(sc_.groups.size(), 0);
    ns_per_tsc_ = 1e9 / static_cast<double>(rte_get_tsc_hz());
}

void engine::build_templates()
{
    templates_.assign(sc_.groups.size(), {});
    // fill_general writes the reference headers into a scratch mbuf-sized buffer.
    alignas(64) std::array<std::uint8_t, 2048 + RTE_PKTMBUF_HEADROOM> buf{};
    rte_mbuf scratch{};
    scratch.buf_addr = buf.data();
    scratch.buf_len = static_cast<std::uint16_t>(buf.size());
    scratch.data_off = RTE_PKTMBUF_HEADROOM;
    for (std::uint32_t g = 0; g < sc_.groups.size(); ++g) {
        const auto& grp = sc_.groups[g];
        header_template& t = templates_[g];
        if (grp.size == 0 || grp.spoof != 0)
            continue;
        // The group's first client as the model; its source address and
        // checksum are patched per packet.
        std::uint32_t first = 0;
        while (first < clients_.size() && clients_[first].group != g)
            ++first;
        if (first == clients_.size())
            continue;
        fill_general(&scratch, first, 0, 0);
        t.header_len = static_cast<std::uint16_t>(eth_ip + l4_len(grp.proto));
        t.size = scratch.data_len;
        std::memcpy(t.bytes.data(), buf.data() + RTE_PKTMBUF_HEADROOM, t.header_len);
        t.usable = true;
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(t.bytes.data() + sizeof(rte_ether_hdr));
        for (auto& c : clients_) {
            if (c.group != g)
                continue;
            rte_ipv4_hdr h = *ip;
            h.src_addr = rte_cpu_to_be_32(c.src);
            h.hdr_checksum = 0;
            c.ip_cksum = rte_ipv4_cksum(&h);
        }
    }
}

bool engine::tick(double t)
{
    // The time series row for the tick that just ended.
    if (last_t_ >= 0) {
        const double dt = std::max(t - last_t_, 1e-9);
        std::vector<std::uint64_t> sent(sc_.groups.size(), 0), recv(sc_.groups.size(), 0);
        std::vector<double> offered(sc_.groups.size(), 0);
        for (std::size_t i = 0; i < clients_.size(); ++i) {
            const auto g = clients_[i].group;
            sent[g] += stats_[i].sent;
            recv[g] += stats_[i].received;
            offered[g] += stats_[i].offered;
        }
        for (std::uint32_t g = 0; g < sc_.groups.size(); ++g) {
            series_.push_back({last_t_, g, (offered[g] - group_offered_mark_[g]) / dt,
                               static_cast<double>(sent[g] - group_sent_mark_[g]) / dt,
                               static_cast<double>(recv[g] - group_recv_mark_[g]) / dt});
            group_sent_mark_[g] = sent[g];
            group_recv_mark_[g] = recv[g];
            group_offered_mark_[g] = offered[g];
        }
    }
    const bool running = sending_ && (sc_.duration <= 0 || t < sc_.duration);
    const double dt = sc_.tick;
    active_.clear();
    cursor_ = 0;
    tick_rate_ = 0;
    tick_quota_ = 0;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
        client& c = clients_[i];
        // Quotas count what the last tick did not send as owed (carry), but a
        // client that could not keep up does not pile up more than a tick.
        c.rate = running ? profiles_[c.group].rate_at(t) : 0;
        const double backlog = std::min(static_cast<double>(c.quota), c.rate * dt);
        const double want = c.rate * dt + c.carry + backlog;
        stats_[i].offered += c.rate * dt;
        const double whole = std::floor(want);
        c.carry = want - whole;
        c.quota = static_cast<std::uint32_t>(std::min(whole, 4e9));
        tick_rate_ += c.rate;
        tick_quota_ += c.quota;
        if (c.quota > 0)
            active_.push_back(static_cast<std::uint32_t>(i));
    }
    tick_start_tsc_ = rte_rdtsc();
    tick_released_ = 0;
    last_t_ = t;
    return running;
}

static std::uint16_t flow_of(std::uint64_t seq, std::uint32_t flows) noexcept
{
    return static_cast<std::uint16_t>((flows & (flows - 1)) == 0 ? seq & (flows - 1) : seq % flows);
}

void engine::fill(rte_mbuf* m, std::uint32_t index, std::uint64_t seq, std::uint64_t tsc) noexcept
{
    const client& c = clients_[index];
    const header_template& t = templates_[c.group];
    if (!t.usable) {
        fill_general(m, index, seq, tsc);
        return;
    }
    const client_group& g = sc_.groups[c.group];
    auto* data = rte_pktmbuf_mtod(m, std::uint8_t*);
    std::memcpy(data, t.bytes.data(), t.header_len);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + sizeof(rte_ether_hdr));
    ip->src_addr = rte_cpu_to_be_32(c.src);
    ip->hdr_checksum = c.ip_cksum;
    const auto sport = static_cast<std::uint16_t>(g.sport + flow_of(seq, g.flows));
    // Source port and (TCP) sequence are the first fields of both L4 headers.
    auto* l4 = data + eth_ip;
    const std::uint16_t sport_be = rte_cpu_to_be_16(sport);
    std::memcpy(l4, &sport_be, 2);
    if (g.proto != l4_kind::udp) {
        const std::uint32_t seq_be = rte_cpu_to_be_32(static_cast<std::uint32_t>(seq));
        std::memcpy(l4 + 4, &seq_be, 4);
    }
    write_stamp(data + t.header_len, payload_stamp{stamp_magic, index, seq, tsc});
    m->data_len = t.size;
    m->pkt_len = t.size;
}

void engine::fill_general(rte_mbuf* m, std::uint32_t index, std::uint64_t seq, std::uint64_t tsc) noexcept
{
    const client& c = clients_[index];
    const client_group& g = sc_.groups[c.group];
    // Never shorter than the headers and the stamp (TCP frames: 76 bytes).
    const auto size = static_cast<std::uint16_t>(
        std::max<std::size_t>(g.size ? g.size : imix_sizes[seq % 12], eth_ip + l4_len(g.proto) + stamp_bytes));
    auto* data = rte_pktmbuf_mtod(m, std::uint8_t*);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(data);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    const rte_ether_addr src{{0x02, 0x5e, 0, 0, 0, 1}};
    const rte_ether_addr dst{{0x02, 0x5e, 0, 0, 0, 2}};
    eth->src_addr = src;
    eth->dst_addr = dst;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

    const std::uint16_t ip_len = static_cast<std::uint16_t>(size - sizeof(rte_ether_hdr));
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->type_of_service = 0;
    ip->total_length = rte_cpu_to_be_16(ip_len);
    ip->packet_id = 0;
    ip->fragment_offset = 0;
    ip->time_to_live = 64;
    ip->next_proto_id = g.proto == l4_kind::udp ? IPPROTO_UDP : IPPROTO_TCP;
    ip->hdr_checksum = 0;
    // A DoS group's packets come from `spoof` addresses after its clients'.
    const std::uint32_t src_ip = g.spoof ? g.src + g.clients + static_cast<std::uint32_t>(seq % g.spoof) : c.src;
    ip->src_addr = rte_cpu_to_be_32(src_ip);
    ip->dst_addr = rte_cpu_to_be_32(g.dst);
    ip->hdr_checksum = rte_ipv4_cksum(ip);

    const auto sport = static_cast<std::uint16_t>(g.sport + flow_of(seq, g.flows));
    if (g.proto == l4_kind::udp) {
        auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
        udp->src_port = rte_cpu_to_be_16(sport);
        udp->dst_port = rte_cpu_to_be_16(g.dport);
        udp->dgram_len = rte_cpu_to_be_16(static_cast<std::uint16_t>(ip_len - sizeof(rte_ipv4_hdr)));
        udp->dgram_cksum = 0;
    } else {
        auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
        std::memset(tcp, 0, sizeof(*tcp));
        tcp->src_port = rte_cpu_to_be_16(sport);
        tcp->dst_port = rte_cpu_to_be_16(g.dport);
        tcp->sent_seq = rte_cpu_to_be_32(static_cast<std::uint32_t>(seq));
        tcp->data_off = 5 << 4;
        tcp->tcp_flags = g.proto == l4_kind::syn ? RTE_TCP_SYN_FLAG : (RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG);
        tcp->rx_win = rte_cpu_to_be_16(65535);
    }
    write_stamp(data + eth_ip + l4_len(g.proto), payload_stamp{stamp_magic, index, seq, tsc});
    m->data_len = size;
    m->pkt_len = size;
}

void engine::send_burst(unsigned n) noexcept
{
    if (tx_.empty() || active_.empty())
        return;
    std::array<rte_mbuf*, max_burst> pkts;
    std::array<std::uint32_t, max_burst> who;
    n = std::min<unsigned>(n, max_burst);
    // Take clients in turn; a client whose quota is spent leaves the list.
    unsigned made = 0;
    while (made < n && !active_.empty()) {
        if (cursor_ >= active_.size())
            cursor_ = 0;
        const std::uint32_t i = active_[cursor_];
        who[made++] = i;
        if (--clients_[i].quota == 0) {
            active_[cursor_] = active_.back();
            active_.pop_back();
        } else {
            ++cursor_;
        }
    }
    if (made == 0 || rte_pktmbuf_alloc_bulk(pool_, pkts.data(), made) != 0) {
        // No mbufs now: give the quota back, the pacer retries.
        for (unsigned k = 0; k < made; ++k) {
            if (clients_[who[k]].quota++ == 0)
                active_.push_back(who[k]);
        }
        return;
    }
    // One TSC read per burst: the burst leaves together, and rdtsc is not
    // free (it traps on some hypervisors).
    const std::uint64_t tsc = rte_rdtsc();
    for (unsigned k = 0; k < made; ++k)
        fill(pkts[k], who[k], clients_[who[k]].next_seq++, tsc);
    // Each client has its own TX queue (as RSS would place it): send per queue,
    // keeping every client's packets in order.
    std::array<rte_mbuf*, max_burst> qpkts;
    std::array<std::uint32_t, max_burst> qwho;
    for (std::uint16_t pi = 0; pi < tx_.size(); ++pi)
    for (std::uint16_t q = 0; q < tx_[pi].txq; ++q) {
        const engine_port& p = tx_[pi];
        unsigned k = 0;
        for (unsigned i = 0; i < made; ++i)
            if (clients_[who[i]].port == pi && clients_[who[i]].queue == q) {
                qpkts[k] = pkts[i];
                qwho[k++] = who[i];
            }
        if (k == 0)
            continue;
        const std::uint16_t sent = rte_eth_tx_burst(p.port_id, q, qpkts.data(), static_cast<std::uint16_t>(k));
        for (unsigned i = 0; i < sent; ++i)
            ++stats_[qwho[i]].sent;
        // Refused packets never left: their sequence numbers are reused (newest first).
        for (unsigned i = k; i-- > sent;) {
            --clients_[qwho[i]].next_seq;
            ++stats_[qwho[i]].backpressure;
        }
        if (sent < k)
            rte_pktmbuf_free_bulk(&qpkts[sent], k - sent);
    }
}

void engine::account(const payload_stamp& stamp, std::uint64_t now) noexcept
{
    client& c = clients_[stamp.client];
    client_stats& s = stats_[stamp.client];
    if (stamp.seq >= c.max_seen) {
        const std::uint64_t shift = stamp.seq + 1 - c.max_seen;
        c.window = shift >= 64 ? 0 : c.window << shift;
        c.window |= 1;
        c.max_seen = stamp.seq + 1;
        ++s.received;
    } else {
        const std::uint64_t back = c.max_seen - 1 - stamp.seq;
        if (back < 64 && (c.window >> back) & 1) {
            ++s.duplicates;
            return;
        }
        if (back < 64)
            c.window |= std::uint64_t{1} << back;
        ++s.received;
        ++s.reordered;
    }
    latency_.add(static_cast<std::uint64_t>(static_cast<double>(now - stamp.tsc) * ns_per_tsc_));
}

void engine::receive() noexcept
{
    std::array<rte_mbuf*, max_burst> pkts;
    for (const auto& p : rx_) {
        for (std::uint16_t q = 0; q < p.rxq; ++q) {
            const std::uint16_t n = rte_eth_rx_burst(p.port_id, q, pkts.data(), burst_);
            if (n == 0)
                continue;
            const std::uint64_t now = rte_rdtsc();
            for (std::uint16_t i = 0; i < n; ++i) {
                rte_mbuf* m = pkts[i];
                payload_stamp stamp{};
                bool ours = false;
                // Find the stamp after a UDP or TCP header.
                if (rte_pktmbuf_data_len(m) >= eth_ip + sizeof(rte_udp_hdr) + stamp_bytes) {
                    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
                    const std::size_t l4 = ip->next_proto_id == IPPROTO_UDP ? sizeof(rte_udp_hdr) : sizeof(rte_tcp_hdr);
                    if (rte_pktmbuf_data_len(m) >= eth_ip + l4 + stamp_bytes) {
                        stamp = read_stamp(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, eth_ip + l4));
                        ours = stamp.magic == stamp_magic && stamp.client < clients_.size() &&
                               stamp.seq < clients_[stamp.client].next_seq;
                    }
                }
                if (ours)
                    account(stamp, now);
                else
                    ++foreign_;
            }
            rte_pktmbuf_free_bulk(pkts.data(), n);
        }
    }
}

void engine::poll() noexcept
{
    if (sending_ && tick_quota_ > 0) {
        // Release the tick's quota evenly over the tick.
        const double elapsed = static_cast<double>(rte_rdtsc() - tick_start_tsc_) * ns_per_tsc_ * 1e-9;
        const double frac = std::min(elapsed / sc_.tick, 1.0);
        const auto due = static_cast<std::uint64_t>(static_cast<double>(tick_quota_) * frac);
        if (due > tick_released_) {
            const auto n = static_cast<unsigned>(std::min<std::uint64_t>(due - tick_released_, burst_));
            send_burst(n);
            tick_released_ += n;
        }
    }
    receive();
}

void write_traffic_json(json_writer& w, const engine_totals& t, const latency_histogram& latency)
{
    w.member("offered", t.offered);
    w.member("sent", t.sent);
    w.member("received", t.received);
    w.member("lost", t.lost());
    w.member("reordered", t.reordered);
    w.member("duplicates", t.duplicates);
    w.member("foreign", t.foreign);
    w.member("backpressure", t.backpressure);
    w.key("latency_ns").begin_object();
    w.member("p50", latency.quantile(0.5));
    w.member("p90", latency.quantile(0.9));
    w.member("p99", latency.quantile(0.99));
    w.member("p99.9", latency.quantile(0.999));
    w.member("max", latency.max());
    w.end_object();
}

engine_totals engine::totals() const noexcept
{
    engine_totals t;
    for (const auto& s : stats_) {
        t.offered += s.offered;
        t.sent += s.sent;
        t.backpressure += s.backpressure;
        t.received += s.received;
        t.duplicates += s.duplicates;
        t.reordered += s.reordered;
    }
    t.foreign = foreign_;
    return t;
}

} // namespace shadownet::gen
