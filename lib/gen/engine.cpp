#include "shadownet/gen/engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
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
constexpr std::size_t eth_len = sizeof(rte_ether_hdr);
constexpr std::uint16_t imix_sizes[12] = {64, 64, 64, 64, 64, 64, 64, 594, 594, 594, 594, 1518}; // 7:4:1
constexpr std::uint16_t ether_ipv4 = RTE_ETHER_TYPE_IPV4;
constexpr std::uint16_t ether_ipv6 = RTE_ETHER_TYPE_IPV6;

std::size_t l3_len(const client_group& g)
{
    return g.ipv6 ? sizeof(rte_ipv6_hdr) : sizeof(rte_ipv4_hdr);
}

std::size_t l4_len(l4_kind k)
{
    return k == l4_kind::udp ? sizeof(rte_udp_hdr) : sizeof(rte_tcp_hdr);
}

std::size_t header_len(const client_group& g)
{
    return eth_len + l3_len(g) + l4_len(g.proto);
}

std::uint16_t flow_of(std::uint64_t seq, std::uint32_t flows) noexcept
{
    return static_cast<std::uint16_t>((flows & (flows - 1)) == 0 ? seq & (flows - 1) : seq % flows);
}

std::uint64_t low64(const std::array<std::uint8_t, 16>& a) noexcept
{
    std::uint64_t be = 0;
    std::memcpy(&be, a.data() + 8, 8);
    return rte_be_to_cpu_64(be);
}

// Ethernet, IPv4 or IPv6, and UDP or TCP headers for a frame of `size` bytes
// from `src` (an IPv4 address or the low 64 bits of an IPv6 one). The IPv6
// L4 checksum is left 0: it covers the stamp, written afterwards.
void write_headers(std::uint8_t* data, const client_group& g, std::uint64_t src, std::uint16_t size,
                   std::uint64_t seq) noexcept
{
    auto* eth = reinterpret_cast<rte_ether_hdr*>(data);
    eth->src_addr = rte_ether_addr{{0x02, 0x5e, 0, 0, 0, 1}};
    eth->dst_addr = rte_ether_addr{{0x02, 0x5e, 0, 0, 0, 2}};
    const std::uint8_t proto = g.proto == l4_kind::udp ? IPPROTO_UDP : IPPROTO_TCP;
    const auto l4_bytes = static_cast<std::uint16_t>(size - eth_len - l3_len(g));
    if (g.ipv6) {
        eth->ether_type = rte_cpu_to_be_16(ether_ipv6);
        auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
        ip->vtc_flow = rte_cpu_to_be_32(6U << 28);
        ip->payload_len = rte_cpu_to_be_16(l4_bytes);
        ip->proto = proto;
        ip->hop_limits = 64;
        std::memcpy(ip->src_addr, g.src6.data(), 8);
        const std::uint64_t lo = rte_cpu_to_be_64(src);
        std::memcpy(ip->src_addr + 8, &lo, 8);
        std::memcpy(ip->dst_addr, g.dst6.data(), 16);
    } else {
        eth->ether_type = rte_cpu_to_be_16(ether_ipv4);
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        ip->version_ihl = RTE_IPV4_VHL_DEF;
        ip->type_of_service = 0;
        ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(size - eth_len));
        ip->packet_id = 0;
        ip->fragment_offset = 0;
        ip->time_to_live = 64;
        ip->next_proto_id = proto;
        ip->hdr_checksum = 0;
        ip->src_addr = rte_cpu_to_be_32(static_cast<std::uint32_t>(src));
        ip->dst_addr = rte_cpu_to_be_32(g.dst);
        ip->hdr_checksum = rte_ipv4_cksum(ip);
    }
    std::uint8_t* l4 = data + eth_len + l3_len(g);
    const auto sport = static_cast<std::uint16_t>(g.sport + flow_of(seq, g.flows));
    if (g.proto == l4_kind::udp) {
        auto* udp = reinterpret_cast<rte_udp_hdr*>(l4);
        udp->src_port = rte_cpu_to_be_16(sport);
        udp->dst_port = rte_cpu_to_be_16(g.dport);
        udp->dgram_len = rte_cpu_to_be_16(l4_bytes);
        udp->dgram_cksum = 0;
    } else {
        auto* tcp = reinterpret_cast<rte_tcp_hdr*>(l4);
        std::memset(tcp, 0, sizeof(*tcp));
        tcp->src_port = rte_cpu_to_be_16(sport);
        tcp->dst_port = rte_cpu_to_be_16(g.dport);
        tcp->sent_seq = rte_cpu_to_be_32(static_cast<std::uint32_t>(seq));
        tcp->data_off = 5 << 4;
        tcp->tcp_flags = g.proto == l4_kind::syn ? RTE_TCP_SYN_FLAG : (RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG);
        tcp->rx_win = rte_cpu_to_be_16(65535);
    }
}

// IPv6 makes the UDP checksum mandatory (RFC 8200): computed over the whole
// frame once the stamp is in. IPv4 frames carry none (UDP 0, TCP 0, as before).
void ipv6_l4_checksum(std::uint8_t* data, l4_kind proto) noexcept
{
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(data + eth_len);
    std::uint8_t* l4 = data + eth_len + sizeof(rte_ipv6_hdr);
    const std::size_t at = proto == l4_kind::udp ? offsetof(rte_udp_hdr, dgram_cksum) : offsetof(rte_tcp_hdr, cksum);
    std::memset(l4 + at, 0, 2);
    const std::uint16_t c = rte_ipv6_udptcp_cksum(ip, l4);
    std::memcpy(l4 + at, &c, 2);
}

} // namespace

// A client's send side. The shard's lcore writes everything; the counters
// below the line are read by the control thread (and next_seq by the receive
// side to reject stamps from the future), so they are relaxed atomics with
// one writer (load + store, no read-modify-write).
struct engine::tx_client {
    std::uint32_t index = 0;
    std::uint32_t group = 0;
    const client_group* g = nullptr;
    const group_frames* frames = nullptr;
    std::uint64_t src = 0;       // IPv4 address or the low 64 bits of the IPv6 one, host order
    std::uint16_t qslot = 0;     // index in the shard's queue list
    // Templated groups: its own frame start and what the hot loop needs of
    // the group, copied here so that a packet reads one client line.
    const std::uint8_t* image = nullptr;
    std::uint16_t size = 0;
    std::uint16_t l4_at = 0;
    std::uint16_t stamp_at = 0;
    std::uint16_t sport = 0;
    std::uint32_t flows = 1;
    bool image128 = false;     // the image is 128 bytes (else 64)
    bool tcp = false;          // write the TCP sequence
    bool ipv6 = false;         // compute the L4 checksum
    std::uint32_t quota = 0;     // packets still to send this tick
    std::uint32_t quota_tick = 0; // ... at the tick's start
    double rate = 0;             // pps during the current tick
    double carry = 0;            // fractional packets owed from earlier ticks
    double scheduled = 0;        // pcap at original timing: frames due so far
    std::uint64_t replayed = 0;  // pcap: frames taken from the capture
    std::atomic<std::uint64_t> next_seq{0};  // stamped packets sent (refused ones give their number back)
    std::atomic<std::uint64_t> unstamped{0}; // pcap frames sent without a stamp
    std::atomic<std::uint64_t> backpressure{0};
    std::atomic<double> offered{0};
};

// Read-only once the constructor has built it, shared by the shards.
struct engine::group_frames {
    // Fixed-size groups without spoofing: each client has its own image of
    // the frame start (headers with its address and checksum, the stamp's
    // magic and client), so a packet is one fixed-size copy, then port,
    // sequence and TSC.
    bool templated = false;
    std::uint16_t size = 0;
    std::uint16_t stamp_at = 0;
    std::uint16_t l4_at = 0;
    std::uint16_t image_len = 64; // 64 (headers and stamp fit, e.g. UDP/IPv4) or 128
    alignas(64) std::array<std::uint8_t, 128> bytes{};
    // pcap groups: every frame, its stamp offset (0: no room) and which L4
    // checksum the stamp invalidates.
    struct frame {
        std::uint32_t off;
        std::uint16_t len;
        std::uint16_t stamp_at;
        std::uint16_t cksum_at;   // 0: none to fix
        std::uint8_t ip_version;
    };
    std::vector<frame> frames;
    std::vector<std::uint8_t> data;
    std::vector<double> times;
    double span = 1;
    bool loop = true;

    // Frames due by capture time x (seconds), counting passes when looping.
    [[nodiscard]] double due(double x) const noexcept
    {
        const auto in_pass = [this](double y) {
            return static_cast<double>(std::lower_bound(times.begin(), times.end(), y) - times.begin());
        };
        if (!loop)
            return in_pass(x);
        const double passes = std::floor(x / span);
        return passes * static_cast<double>(times.size()) + in_pass(x - passes * span);
    }
};

// One TX lcore's part: its clients, the queues they use, and its pacing.
// Written by that lcore only, but `rate` (read by current_rate()).
struct alignas(64) engine::tx_shard {
    struct queue_ref {
        std::uint16_t port_id;
        std::uint16_t queue;
    };
    std::unique_ptr<tx_client[]> clients;
    std::uint32_t n_clients = 0;
    std::vector<queue_ref> queues;
    std::vector<std::uint32_t> active; // slots with quota left this tick
    struct alignas(64) line {
        std::uint8_t bytes[64];
    };
    std::unique_ptr<line[]> images;    // templated clients' frame images
    std::size_t cursor = 0;
    std::uint64_t seen_seq = 0;        // the mailbox sequence of its current tick
    std::uint64_t tick_start_tsc = 0;
    std::uint64_t released = 0;        // packets released in this tick
    std::uint64_t quota_total = 0;
    double quota_per_tsc = 0;
    double catch_up_credit = 0;        // packets it may release now under scenario::catch_up
    std::uint64_t credit_tsc = 0;      // when the credit was last brought up to date
    std::uint64_t last_poll_tsc = 0;   // the previous poll_tx (0: none yet)
    // Written by the shard's lcore only (relaxed), read by totals().
    std::array<std::atomic<std::uint64_t>, dataplane::stall_buckets> stalls{};
    std::atomic<std::uint64_t> max_stall_tsc{0};
    std::atomic<double> rate{0};       // total pps this tick
};

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

std::size_t stamp_offset(const std::uint8_t* p, std::size_t len) noexcept
{
    if (len < eth_len + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + stamp_bytes)
        return 0;
    const std::uint16_t type = static_cast<std::uint16_t>(p[12] << 8 | p[13]);
    std::size_t l4 = 0;
    std::size_t end = 0;
    std::uint8_t proto = 0;
    if (type == ether_ipv4) {
        if ((p[eth_len] >> 4) != 4)
            return 0;
        l4 = eth_len + (p[eth_len] & 15U) * 4U;
        end = eth_len + (std::size_t{p[eth_len + 2]} << 8 | p[eth_len + 3]);
        proto = p[eth_len + 9];
    } else if (type == ether_ipv6) {
        l4 = eth_len + sizeof(rte_ipv6_hdr);
        end = l4 + (std::size_t{p[eth_len + 4]} << 8 | p[eth_len + 5]);
        proto = p[eth_len + 6];
    } else {
        return 0;
    }
    end = std::min(end, len); // Ethernet padding after the IP packet is not payload
    std::size_t at = 0;
    if (proto == IPPROTO_UDP)
        at = l4 + sizeof(rte_udp_hdr);
    else if (proto == IPPROTO_TCP && l4 + sizeof(rte_tcp_hdr) <= end)
        at = l4 + (p[l4 + 12] >> 4) * 4U;
    else
        return 0;
    return at + stamp_bytes <= end ? at : 0;
}

engine::engine(scenario sc, std::vector<engine_port> tx, std::vector<engine_port> rx, rte_mempool* pool,
               std::uint16_t burst, unsigned tx_lcores, std::size_t latency_clients)
    : sc_(std::move(sc)), tx_(std::move(tx)), rx_(std::move(rx)), pool_(pool),
      burst_(std::clamp<std::uint16_t>(burst, 1, max_burst)), n_shards_(std::max(tx_lcores, 1U))
{
    for (const auto& p : tx_)
        if (p.txq < n_shards_)
            throw std::invalid_argument(fmt::format(
                "generator: TX port {} has {} TX queues, fewer than the {} TX lcores", p.port_id, p.txq, n_shards_));
    for (const auto& g : sc_.groups)
        profiles_.emplace_back(g.demand);
    shards_ = std::make_unique<tx_shard[]>(n_shards_);
    // Each shard owns the queues q with q % n_shards == s on every TX port.
    std::vector<std::vector<std::uint32_t>> qslot(tx_.size());
    for (std::size_t pi = 0; pi < tx_.size(); ++pi)
        for (std::uint16_t q = 0; q < tx_[pi].txq; ++q) {
            tx_shard& s = shards_[q % n_shards_];
            qslot[pi].push_back(static_cast<std::uint32_t>(s.queues.size()));
            s.queues.push_back({tx_[pi].port_id, q});
        }
    // Client c leaves on port c % ports and queue (c / ports) % txq, as RSS would place it.
    struct placed {
        std::uint32_t group, shard, qslot;
        std::uint64_t src;
    };
    std::vector<placed> where_is;
    std::vector<std::uint32_t> per_shard(n_shards_, 0);
    std::uint32_t index = 0;
    for (std::uint32_t gi = 0; gi < sc_.groups.size(); ++gi) {
        const auto& grp = sc_.groups[gi];
        for (std::uint32_t i = 0; i < grp.clients; ++i, ++index) {
            placed p{gi, 0, 0, grp.ipv6 ? low64(grp.src6) + i : std::uint64_t{grp.src} + i};
            if (!tx_.empty()) {
                const std::size_t pi = index % tx_.size();
                const std::uint16_t q = static_cast<std::uint16_t>((index / tx_.size()) % tx_[pi].txq);
                p.shard = q % n_shards_;
                p.qslot = qslot[pi][q];
            }
            ++per_shard[p.shard];
            where_is.push_back(p);
        }
    }
    for (unsigned s = 0; s < n_shards_; ++s) {
        shards_[s].clients = std::make_unique<tx_client[]>(per_shard[s]);
        shards_[s].active.reserve(per_shard[s]);
    }
    build_frames();
    std::vector<std::size_t> image_bytes(n_shards_, 0);
    for (const auto& p : where_is)
        if (frames_[p.group]->templated)
            image_bytes[p.shard] += frames_[p.group]->image_len;
    for (unsigned s = 0; s < n_shards_; ++s)
        if (image_bytes[s] != 0) {
            shards_[s].images = std::make_unique<tx_shard::line[]>(image_bytes[s] / 64);
            image_bytes[s] = 0;
        }
    for (std::uint32_t c = 0; c < where_is.size(); ++c) {
        const placed& p = where_is[c];
        tx_shard& s = shards_[p.shard];
        const std::uint32_t slot = s.n_clients++;
        tx_client& tc = s.clients[slot];
        tc.index = c;
        tc.group = p.group;
        tc.g = &sc_.groups[p.group];
        tc.frames = frames_[p.group].get();
        tc.src = p.src;
        tc.qslot = static_cast<std::uint16_t>(p.qslot);
        if (tc.frames->templated) {
            const group_frames& f = *tc.frames;
            std::uint8_t* image = s.images[image_bytes[p.shard] / 64].bytes;
            image_bytes[p.shard] += f.image_len;
            std::memcpy(image, f.bytes.data(), f.image_len);
            if (tc.g->ipv6) {
                const std::uint64_t lo = rte_cpu_to_be_64(tc.src);
                std::memcpy(image + eth_len + offsetof(rte_ipv6_hdr, src_addr) + 8, &lo, 8);
            } else {
                auto* ip = reinterpret_cast<rte_ipv4_hdr*>(image + eth_len);
                ip->src_addr = rte_cpu_to_be_32(static_cast<std::uint32_t>(tc.src));
                ip->hdr_checksum = 0;
                ip->hdr_checksum = rte_ipv4_cksum(ip);
            }
            write_stamp(image + f.stamp_at, payload_stamp{stamp_magic, c, 0, 0});
            tc.image = image;
            tc.size = f.size;
            tc.l4_at = f.l4_at;
            tc.stamp_at = f.stamp_at;
            tc.sport = tc.g->sport;
            tc.flows = tc.g->flows;
            tc.image128 = f.image_len == 128;
            tc.tcp = tc.g->proto != l4_kind::udp;
            tc.ipv6 = tc.g->ipv6;
        }
        locate_.push_back({p.shard, slot});
        group_of_.push_back(p.group);
    }
    rx_clients_.resize(locate_.size());
    client_latency_.resize(std::min(latency_clients, locate_.size()));
    group_sent_mark_.assign(sc_.groups.size(), 0);
    group_recv_mark_.assign(sc_.groups.size(), 0);
    group_offered_mark_.assign(sc_.groups.size(), 0);
    ns_per_tsc_ = 1e9 / static_cast<double>(rte_get_tsc_hz());
    tick_tsc_ = sc_.tick * static_cast<double>(rte_get_tsc_hz());
    stall_tsc_ = rte_get_tsc_hz() / 1000;
}

engine::~engine() = default;

void engine::build_frames()
{
    const std::size_t room = pool_ ? rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM : 2048;
    for (const auto& g : sc_.groups) {
        auto f = std::make_unique<group_frames>();
        if (g.pcap) {
            // Frames are copied once; a UDP/IPv4 checksum the stamp would
            // invalidate is cleared here (0 is valid), TCP and IPv6 ones are
            // recomputed per packet.
            f->loop = g.demand.loop;
            f->span = g.pcap->span > 0 ? g.pcap->span : 1.0;
            for (const auto& pf : g.pcap->frames) {
                if (pf.bytes.size() > room)
                    throw std::invalid_argument(fmt::format("generator: pcap '{}': a {}-byte frame does not fit "
                                                            "the {}-byte mbufs", g.pcap->path, pf.bytes.size(), room));
                group_frames::frame fr{static_cast<std::uint32_t>(f->data.size()),
                                       static_cast<std::uint16_t>(pf.bytes.size()), 0, 0, 0};
                f->data.insert(f->data.end(), pf.bytes.begin(), pf.bytes.end());
                std::uint8_t* d = f->data.data() + fr.off;
                fr.stamp_at = static_cast<std::uint16_t>(stamp_offset(d, fr.len));
                if (fr.stamp_at != 0) {
                    fr.ip_version = d[12] == 0x86 ? 6 : 4;
                    const std::size_t l4 = fr.ip_version == 6 ? eth_len + sizeof(rte_ipv6_hdr) : eth_len + (d[eth_len] & 15U) * 4U;
                    const std::uint8_t proto = fr.ip_version == 6 ? d[eth_len + 6] : d[eth_len + 9];
                    const std::size_t at = l4 + (proto == IPPROTO_UDP ? offsetof(rte_udp_hdr, dgram_cksum)
                                                                      : offsetof(rte_tcp_hdr, cksum));
                    if (proto == IPPROTO_UDP && fr.ip_version == 4)
                        std::memset(d + at, 0, 2);
                    else
                        fr.cksum_at = static_cast<std::uint16_t>(at);
                }
                f->frames.push_back(fr);
                f->times.push_back(pf.t);
            }
        } else if (g.size != 0 && g.spoof == 0) {
            f->size = static_cast<std::uint16_t>(std::max<std::size_t>(g.size, header_len(g) + stamp_bytes));
            f->stamp_at = static_cast<std::uint16_t>(header_len(g));
            f->l4_at = static_cast<std::uint16_t>(eth_len + l3_len(g));
            // The group's first address as the model; each client patches its own.
            write_headers(f->bytes.data(), g, g.ipv6 ? low64(g.src6) : g.src, f->size, 0);
            f->image_len = f->stamp_at + stamp_bytes <= 64 ? 64 : 128;
            f->templated = true;
        }
        frames_.push_back(std::move(f));
    }
}

bool engine::tick(double t)
{
    // The time series row for the tick that just ended.
    if (last_t_ >= 0) {
        const double dt = std::max(t - last_t_, 1e-9);
        std::vector<std::uint64_t> sent(sc_.groups.size(), 0), recv(sc_.groups.size(), 0);
        std::vector<double> offered(sc_.groups.size(), 0);
        for (std::size_t i = 0; i < locate_.size(); ++i) {
            const auto g = group_of_[i];
            const auto s = stats_of(i);
            sent[g] += s.sent;
            recv[g] += s.received;
            offered[g] += s.offered;
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
    const bool running = sending_.load(std::memory_order_relaxed) && (sc_.duration <= 0 || t < sc_.duration);
    // Seqlock writer (the only one): odd while the fields change.
    const std::uint64_t seq = mailbox_.seq.load(std::memory_order_relaxed);
    mailbox_.seq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    mailbox_.t.store(t, std::memory_order_relaxed);
    mailbox_.tsc.store(rte_rdtsc(), std::memory_order_relaxed);
    mailbox_.running.store(running, std::memory_order_relaxed);
    mailbox_.seq.store(seq + 2, std::memory_order_release);
    last_t_ = t;
    return running;
}

void engine::shard_tick(tx_shard& s, double t, std::uint64_t tsc, bool running) noexcept
{
    const double dt = sc_.tick;
    s.active.clear();
    s.cursor = 0;
    double rate = 0;
    std::uint64_t quota = 0;
    for (std::uint32_t j = 0; j < s.n_clients; ++j) {
        tx_client& c = s.clients[j];
        double now = 0;    // packets this tick asks for
        double owed_cap = 0; // at most this much of what earlier ticks did not send is still owed
        if (c.g->pcap && c.g->timing == replay_timing::original) {
            const double due = running ? c.frames->due((t + dt) * c.g->speed) : c.scheduled;
            now = std::max(due - c.scheduled, 0.0);
            c.scheduled = std::max(due, c.scheduled);
            c.rate = now / dt;
            // Ticks that come back to back after a stall ask for nothing new:
            // cap by the capture's mean rate over a tick, not by this tick.
            const double mean = static_cast<double>(c.frames->frames.size()) / c.frames->span * c.g->speed * dt;
            owed_cap = running ? std::max(now, mean) : 0;
        } else {
            c.rate = running ? profiles_[c.group].rate_at(t) : 0;
            now = c.rate * dt;
            owed_cap = now;
        }
        // Quotas count what the last tick did not send as owed (carry), but a
        // client that could not keep up does not pile up more than a tick.
        const double backlog = std::min(static_cast<double>(c.quota), owed_cap);
        const double want = now + c.carry + backlog;
        c.offered.store(c.offered.load(std::memory_order_relaxed) + now, std::memory_order_relaxed);
        const double whole = std::floor(want);
        c.carry = want - whole;
        c.quota = static_cast<std::uint32_t>(std::min(whole, 4e9));
        if (c.g->pcap && !c.frames->loop) {
            const auto left = c.frames->frames.size() - std::min<std::uint64_t>(c.replayed, c.frames->frames.size());
            c.quota = static_cast<std::uint32_t>(std::min<std::uint64_t>(c.quota, left));
        }
        c.quota_tick = c.quota;
        rate += c.rate;
        quota += c.quota;
        if (c.quota > 0)
            s.active.push_back(j);
    }
    s.tick_start_tsc = tsc;
    s.released = 0;
    s.quota_total = quota;
    s.quota_per_tsc = static_cast<double>(quota) / tick_tsc_;
    s.rate.store(rate, std::memory_order_relaxed);
}

unsigned engine::send_burst(tx_shard& s, unsigned n, std::uint64_t tsc) noexcept
{
    if (s.queues.empty() || s.active.empty())
        return 0;
    std::array<rte_mbuf*, max_burst> pkts;
    std::array<std::uint32_t, max_burst> who;
    std::array<bool, max_burst> stamped;
    n = std::min<unsigned>(n, max_burst);
    // Take clients in turn, each at most one packet ahead of its share of
    // what the shard has released so far: every client's packets spread
    // over the tick in proportion to its quota. (In turn alone, a tick's
    // small quotas went out first and the large ones after them, at up to
    // twice their rate, and a backlog after a stall went to the largest
    // clients at the whole shard's rate.) A client whose quota is spent
    // leaves the list. Someone is always within their share while quota
    // is left; the skip count is a guard.
    unsigned made = 0;
    std::size_t skipped = 0;
    const double per_released = s.quota_total ? 1.0 / static_cast<double>(s.quota_total) : 0.0;
    while (made < n && !s.active.empty()) {
        if (s.cursor >= s.active.size())
            s.cursor = 0;
        const std::uint32_t j = s.active[s.cursor];
        const tx_client& c = s.clients[j];
        const double progress = static_cast<double>(s.released + made) * per_released;
        if (static_cast<double>(c.quota_tick - c.quota) >= static_cast<double>(c.quota_tick) * progress + 1.0) {
            ++s.cursor;
            if (++skipped >= s.active.size())
                break;
            continue;
        }
        skipped = 0;
        who[made++] = j;
        if (--s.clients[j].quota == 0) {
            s.active[s.cursor] = s.active.back();
            s.active.pop_back();
        } else {
            ++s.cursor;
        }
    }
    // The mbufs straight from the pool: freeing left next = NULL, nb_segs = 1
    // and refcnt = 1 (the mempool contract for pktmbufs), so only the fields
    // a TX path reads are set, as testpmd's txonly does, in a few wide
    // stores instead of rte_pktmbuf_reset's field by field.
    if (made == 0 || rte_mempool_get_bulk(pool_, reinterpret_cast<void**>(pkts.data()), made) != 0) {
        // No mbufs now: give the quota back, the pacer retries.
        for (unsigned k = 0; k < made; ++k)
            if (s.clients[who[k]].quota++ == 0)
                s.active.push_back(who[k]);
        return 0;
    }
    for (unsigned k = 0; k < made; ++k) {
        tx_client& c = s.clients[who[k]];
        rte_mbuf* m = pkts[k];
        m->data_off = RTE_PKTMBUF_HEADROOM;
        m->port = RTE_MBUF_PORT_INVALID;
        m->ol_flags = 0;
        m->packet_type = 0;
        m->vlan_tci = 0;
        m->vlan_tci_outer = 0;
        auto* data = static_cast<std::uint8_t*>(m->buf_addr) + RTE_PKTMBUF_HEADROOM;
        std::uint16_t size = 0;
        stamped[k] = true;
        if (c.image != nullptr) [[likely]] {
            const std::uint64_t seq = c.next_seq.load(std::memory_order_relaxed);
            c.next_seq.store(seq + 1, std::memory_order_relaxed);
            // Constant sizes: a few vector moves, no call.
            if (!c.image128) [[likely]]
                std::memcpy(data, c.image, 64);
            else
                std::memcpy(data, c.image, 128);
            // Source port and (TCP) sequence are the first fields of both L4 headers.
            std::uint8_t* l4 = data + c.l4_at;
            const std::uint16_t sport_be = rte_cpu_to_be_16(static_cast<std::uint16_t>(c.sport + flow_of(seq, c.flows)));
            std::memcpy(l4, &sport_be, 2);
            if (c.tcp) {
                const std::uint32_t seq_be = rte_cpu_to_be_32(static_cast<std::uint32_t>(seq));
                std::memcpy(l4 + 4, &seq_be, 4);
            }
            // The image holds the stamp's magic and client; sequence and TSC change.
            std::memcpy(data + c.stamp_at + 6, &seq, 8);
            std::memcpy(data + c.stamp_at + 14, &tsc, 8);
            if (c.ipv6)
                ipv6_l4_checksum(data, c.tcp ? l4_kind::tcp : l4_kind::udp);
            m->data_len = c.size;
            m->pkt_len = c.size;
            continue;
        }
        const group_frames& f = *c.frames;
        if (!f.frames.empty()) {
            // pcap replay: the frame as captured, stamped when it has room.
            const auto& fr = f.frames[c.replayed++ % f.frames.size()];
            std::memcpy(data, f.data.data() + fr.off, fr.len);
            size = fr.len;
            stamped[k] = fr.stamp_at != 0;
            if (stamped[k]) {
                const std::uint64_t seq = c.next_seq.load(std::memory_order_relaxed);
                c.next_seq.store(seq + 1, std::memory_order_relaxed);
                write_stamp(data + fr.stamp_at, payload_stamp{stamp_magic, c.index, seq, tsc});
                if (fr.cksum_at != 0) {
                    std::memset(data + fr.cksum_at, 0, 2);
                    const std::size_t l4 = fr.ip_version == 6 ? eth_len + sizeof(rte_ipv6_hdr)
                                                              : eth_len + (data[eth_len] & 15U) * 4U;
                    const std::uint16_t ck =
                        fr.ip_version == 6
                            ? rte_ipv6_udptcp_cksum(reinterpret_cast<const rte_ipv6_hdr*>(data + eth_len), data + l4)
                            : rte_ipv4_udptcp_cksum(reinterpret_cast<const rte_ipv4_hdr*>(data + eth_len), data + l4);
                    std::memcpy(data + fr.cksum_at, &ck, 2);
                }
            } else {
                c.unstamped.store(c.unstamped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            }
        } else {
            // IMIX or spoofed sources: every header built.
            const std::uint64_t seq = c.next_seq.load(std::memory_order_relaxed);
            c.next_seq.store(seq + 1, std::memory_order_relaxed);
            const client_group& g = *c.g;
            size = static_cast<std::uint16_t>(
                std::max<std::size_t>(g.size ? g.size : imix_sizes[seq % 12], header_len(g) + stamp_bytes));
            // A DoS group's packets come from `spoof` addresses after its clients'.
            const std::uint64_t first = g.ipv6 ? low64(g.src6) : g.src;
            const std::uint64_t src = g.spoof ? first + g.clients + seq % g.spoof : c.src;
            write_headers(data, g, src, size, seq);
            write_stamp(data + header_len(g), payload_stamp{stamp_magic, c.index, seq, tsc});
            if (g.ipv6)
                ipv6_l4_checksum(data, g.proto);
        }
        pkts[k]->data_len = size;
        pkts[k]->pkt_len = size;
    }
    // Refused packets never left: their sequence numbers (and pcap frames) are
    // reused, newest first, so each client's refused packets are its last.
    const auto refuse = [&s](std::uint32_t j, bool was_stamped) {
        tx_client& c = s.clients[j];
        auto& counter = was_stamped ? c.next_seq : c.unstamped;
        counter.store(counter.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        if (!c.frames->frames.empty())
            --c.replayed;
        c.backpressure.store(c.backpressure.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    };
    if (s.queues.size() == 1) {
        const auto& q = s.queues.front();
        const std::uint16_t sent = rte_eth_tx_burst(q.port_id, q.queue, pkts.data(), static_cast<std::uint16_t>(made));
        if (sent < made) [[unlikely]] {
            for (unsigned i = made; i-- > sent;)
                refuse(who[i], stamped[i]);
            rte_pktmbuf_free_bulk(&pkts[sent], made - sent);
        }
        return made;
    }
    // Several queues: send per queue, keeping every client's packets in order.
    std::array<rte_mbuf*, max_burst> qpkts;
    std::array<unsigned, max_burst> qidx;
    for (std::uint16_t qs = 0; qs < s.queues.size(); ++qs) {
        unsigned k = 0;
        for (unsigned i = 0; i < made; ++i)
            if (s.clients[who[i]].qslot == qs) {
                qpkts[k] = pkts[i];
                qidx[k++] = i;
            }
        if (k == 0)
            continue;
        const auto& q = s.queues[qs];
        const std::uint16_t sent = rte_eth_tx_burst(q.port_id, q.queue, qpkts.data(), static_cast<std::uint16_t>(k));
        for (unsigned i = k; i-- > sent;)
            refuse(who[qidx[i]], stamped[qidx[i]]);
        if (sent < k)
            rte_pktmbuf_free_bulk(&qpkts[sent], k - sent);
    }
    return made;
}

void engine::poll_tx(unsigned shard) noexcept
{
    tx_shard& s = shards_[shard];
    // Seqlock reader: a tick half written is picked up on a later poll.
    const std::uint64_t seq = mailbox_.seq.load(std::memory_order_acquire);
    if (seq != s.seen_seq && (seq & 1) == 0) [[unlikely]] {
        const double t = mailbox_.t.load(std::memory_order_relaxed);
        const std::uint64_t tsc = mailbox_.tsc.load(std::memory_order_relaxed);
        const bool running = mailbox_.running.load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (mailbox_.seq.load(std::memory_order_relaxed) == seq) {
            s.seen_seq = seq;
            shard_tick(s, t, tsc, running);
        }
    }
    const std::uint64_t now = rte_rdtsc();
    if (const std::uint64_t gap = now - s.last_poll_tsc; s.last_poll_tsc != 0 && gap >= stall_tsc_) [[unlikely]] {
        const std::size_t bucket = dataplane::stall_bucket(gap, stall_tsc_);
        s.stalls[bucket].store(s.stalls[bucket].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        if (gap > s.max_stall_tsc.load(std::memory_order_relaxed))
            s.max_stall_tsc.store(gap, std::memory_order_relaxed);
    }
    s.last_poll_tsc = now;
    if (s.released >= s.quota_total || !sending_.load(std::memory_order_relaxed))
        return;
    // Release the tick's quota evenly over the tick, packet k at the start of
    // its slot (k / quota of the tick): all of it is out before the next tick,
    // even a quota of one (at the end of its slot it would race the next tick).
    const auto elapsed = static_cast<double>(now - s.tick_start_tsc);
    const std::uint64_t due =
        elapsed >= tick_tsc_ ? s.quota_total
                             : std::min(s.quota_total, static_cast<std::uint64_t>(elapsed * s.quota_per_tsc) + 1);
    auto n = static_cast<unsigned>(std::min<std::uint64_t>(due > s.released ? due - s.released : 0, burst_));
    if (sc_.catch_up > 0) {
        // Credit at catch_up x the tick's rate, at most a burst: on schedule
        // it never binds; behind, the backlog leaves at that rate.
        const double earned = static_cast<double>(now - s.credit_tsc) * s.quota_per_tsc * sc_.catch_up;
        s.credit_tsc = now;
        s.catch_up_credit = std::min(s.catch_up_credit + earned, static_cast<double>(burst_));
        n = std::min(n, static_cast<unsigned>(s.catch_up_credit));
    }
    if (n > 0) {
        const unsigned sent = send_burst(s, n, now);
        s.released += sent;
        if (sc_.catch_up > 0)
            s.catch_up_credit -= sent;
    }
}

void engine::poll() noexcept
{
    poll_tx(0);
    receive();
}

const engine::tx_client& engine::tx_of(std::size_t client) const noexcept
{
    const where w = locate_[client];
    return shards_[w.shard].clients[w.slot];
}

std::uint32_t engine::group_of(std::size_t client) const noexcept
{
    return group_of_[client];
}

void engine::account(const payload_stamp& stamp, std::uint64_t now) noexcept
{
    rx_client& c = rx_clients_[stamp.client];
    if (stamp.seq >= c.max_seen) {
        const std::uint64_t shift = stamp.seq + 1 - c.max_seen;
        c.window = shift >= 64 ? 0 : c.window << shift;
        c.window |= 1;
        c.max_seen = stamp.seq + 1;
        ++c.received;
    } else {
        const std::uint64_t back = c.max_seen - 1 - stamp.seq;
        if (back < 64 && (c.window >> back) & 1) {
            ++c.duplicates;
            return;
        }
        if (back < 64)
            c.window |= std::uint64_t{1} << back;
        ++c.received;
        ++c.reordered;
    }
    const auto ns = static_cast<std::uint64_t>(static_cast<double>(now - stamp.tsc) * ns_per_tsc_);
    latency_.add(ns);
    if (stamp.client < client_latency_.size())
        client_latency_[stamp.client].add(ns);
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
                const rte_mbuf* m = pkts[i];
                const auto* data = rte_pktmbuf_mtod(m, const std::uint8_t*);
                const std::size_t at = stamp_offset(data, rte_pktmbuf_data_len(m));
                bool ours = false;
                payload_stamp stamp{};
                if (at != 0) {
                    stamp = read_stamp(data + at);
                    ours = stamp.magic == stamp_magic && stamp.client < locate_.size() &&
                           stamp.seq < tx_of(stamp.client).next_seq.load(std::memory_order_relaxed);
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

void write_stalls_json(json_writer& w, std::string_view key,
                       const std::array<std::uint64_t, dataplane::stall_buckets>& counts)
{
    w.key(key).begin_object();
    for (std::size_t b = 0; b < dataplane::stall_buckets; ++b)
        w.member(dataplane::stall_bucket_names[b], counts[b]);
    w.end_object();
}

void write_traffic_json(json_writer& w, const engine_totals& t, const latency_histogram& latency)
{
    w.member("offered", t.offered);
    w.member("sent", t.sent);
    w.member("unstamped", t.unstamped);
    w.member("received", t.received);
    w.member("lost", t.lost());
    w.member("reordered", t.reordered);
    w.member("duplicates", t.duplicates);
    w.member("foreign", t.foreign);
    w.member("backpressure", t.backpressure);
    write_stalls_json(w, "tx_stalls", t.tx_stalls);
    w.member("max_tx_stall_ms", t.max_tx_stall_ms);
    write_latency_json(w, latency);
}

client_stats engine::stats_of(std::size_t client) const noexcept
{
    const tx_client& t = tx_of(client);
    const rx_client& r = rx_clients_[client];
    client_stats s;
    s.offered = t.offered.load(std::memory_order_relaxed);
    s.unstamped = t.unstamped.load(std::memory_order_relaxed);
    s.sent = t.next_seq.load(std::memory_order_relaxed) + s.unstamped;
    s.backpressure = t.backpressure.load(std::memory_order_relaxed);
    s.received = r.received;
    s.duplicates = r.duplicates;
    s.reordered = r.reordered;
    return s;
}

engine_totals engine::totals() const noexcept
{
    engine_totals t;
    for (std::size_t i = 0; i < locate_.size(); ++i) {
        const auto s = stats_of(i);
        t.offered += s.offered;
        t.sent += s.sent;
        t.unstamped += s.unstamped;
        t.backpressure += s.backpressure;
        t.received += s.received;
        t.duplicates += s.duplicates;
        t.reordered += s.reordered;
    }
    t.foreign = foreign_;
    std::uint64_t longest = 0;
    for (unsigned s = 0; s < n_shards_; ++s) {
        for (std::size_t b = 0; b < dataplane::stall_buckets; ++b)
            t.tx_stalls[b] += shards_[s].stalls[b].load(std::memory_order_relaxed);
        longest = std::max(longest, shards_[s].max_stall_tsc.load(std::memory_order_relaxed));
    }
    t.max_tx_stall_ms = 1e3 * static_cast<double>(longest) / static_cast<double>(rte_get_tsc_hz());
    return t;
}

double engine::current_rate() const noexcept
{
    double r = 0;
    for (unsigned s = 0; s < n_shards_; ++s)
        r += shards_[s].rate.load(std::memory_order_relaxed);
    return r;
}

} // namespace shadownet::gen
