// Fast-path packet parser: Ethernet (up to two VLAN tags), IPv4, IPv6 with a
// bounded walk of extension headers, TCP/UDP/ICMP/ICMPv6 and ARP, with every
// length checked against the frame. DPDK's packet-type helpers
// (rte_net_get_ptype, the PMDs' ptype flags) trust the length fields; this
// parser is what lets the fast path promise that malformed input is counted,
// never trusted.
//
// Owned by the fast path (layer 2): header-inline because it runs once per
// packet; noexcept, no allocation, no logging, no writes outside `out`.
//
// Contract
// - The parser reads only the first max_header_bytes (256) bytes of a frame.
//   Every header it reads (L2, the IPv4 header's first 20 bytes, each IPv6
//   extension header's first bytes, the fixed part of the L4 header) must lie
//   within them; only an IPv6 extension chain can reach that far, and it is
//   then dropped as ext_header_limit. parse_frame and parse_mbuf apply the same
//   bound, so a packet gets the same verdict whichever way it is parsed.
// - On success (status 0) every field of packet_meta is set; unused ones are 0.
//   On failure the fields parsed before the fault are set (e.g. src_mac and the
//   VLAN ids, so a drop can still be attributed), the others are 0.
//
// Which drop reason for which fault (status = 1 + drop_reason):
//   truncated_l2           frame < 14 bytes, or a VLAN tag cut short; also
//                          (parse_mbuf) a chain holding fewer bytes than its
//                          pkt_len, a driver fault rather than wire input;
//   unsupported_ethertype  an ethertype other than IPv4/IPv6/ARP (including
//                          802.3 length fields), or a third VLAN tag: triple
//                          tagging is not a format we forward, so it is "an
//                          ethertype we do not handle" at that position;
//   truncated_l3           fewer bytes after L2 than the fixed IPv4 (20),
//                          IPv6 (40) or ARP (8, then 8 + 2*(hlen+plen): 28 for
//                          Ethernet/IPv4 ARP) header;
//   bad_ip_version         IPv4 version != 4, IPv6 version != 6;
//   bad_ihl                IPv4 IHL < 5, or IHL*4 beyond the frame;
//   bad_length             IPv4 total length < IHL*4 or beyond the frame; IPv6
//                          40 + payload length beyond the frame; TCP data
//                          offset < 5; UDP length < 8, or (unfragmented) beyond
//                          the datagram. Ethernet padding after the datagram is
//                          fine, and so is a UDP length shorter than the
//                          datagram (trailing bytes, as Linux accepts);
//   ext_header_limit       more than 8 IPv6 extension headers, one running past
//                          the datagram, or a chain reaching past the 256-byte
//                          parse window;
//   truncated_l4           the datagram (or first fragment) is shorter than the
//                          TCP header (20, then data offset * 4), UDP header (8)
//                          or ICMP/ICMPv6 header (8: every ICMPv4 message has
//                          an 8-byte header, and every ICMPv6 message defined
//                          so far has 4 bytes after type/code/checksum).
//
// L4 fields: has_l4 is true only for TCP, UDP, ICMP (IPv4) and ICMPv6 (IPv6)
// headers that were found and checked. Non-first fragments, ESP, "no next
// header" and other protocols are ok with has_l4 = false, ports 0, l4_proto set
// (for non-first fragments: the protocol the fragment carries). For ICMP and
// ICMPv6 sport = type << 8 | code and dport = 0. An IPv6 atomic fragment
// (fragment header with offset 0 and M = 0) is not reported as a fragment.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "shadownet/dataplane/drop_reason.hpp"

namespace shadownet::dataplane {

enum class l3_kind : std::uint8_t { none, ipv4, ipv6, arp };

// Filled by the parser; plain data, no pointers into the mbuf, so it may
// outlive the packet (e.g. travel with a burst to a worker lcore). 64 bytes:
// one cache line per packet in a burst's meta array.
struct packet_meta {
    std::uint16_t l2_len;                    // Ethernet + VLAN tags
    std::uint16_t l3_len;                    // IPv4 header incl. options / IPv6 header + extension headers / ARP header
    std::uint16_t ethertype;                 // innermost, host order
    std::uint16_t vlan_outer, vlan_inner;    // 12-bit VLAN ids, 0 when absent (one tag: outer)
    std::uint8_t vlan_count;                 // 0, 1 or 2 (0x8100 or 0x88a8 in any order)
    l3_kind l3;
    std::uint8_t l4_proto;                   // IP protocol / IPv6 next header after the extension chain; 0 for ARP
    bool has_l4;                             // see the contract above
    bool is_fragment;                        // IPv4 MF or offset; IPv6 fragment header with M or offset
    std::uint8_t l4_len;                     // TCP header incl. options, 8 for UDP/ICMP/ICMPv6; 0 when !has_l4
    std::uint16_t sport, dport;              // host order; 0 when !has_l4; ICMP: type << 8 | code, 0
    std::uint8_t src_mac[6];
    std::uint8_t src_addr[16], dst_addr[16]; // IPv4 in the first 4 bytes (network order); ARP: sender/target protocol address
    std::uint32_t frame_len;                 // the whole frame (pkt_len for an mbuf), padding included

    friend bool operator==(const packet_meta&, const packet_meta&) = default;
};
static_assert(sizeof(packet_meta) == 64);

// 0 = ok, otherwise 1 + drop_reason.
using parse_status = std::uint8_t;
inline constexpr parse_status parse_ok = 0;

constexpr parse_status parse_fail(drop_reason r) noexcept
{
    return static_cast<parse_status>(1 + static_cast<std::uint8_t>(r));
}

// Only meaningful when s != parse_ok.
constexpr drop_reason parse_drop_reason(parse_status s) noexcept
{
    return static_cast<drop_reason>(s - 1);
}

inline constexpr std::uint32_t max_header_bytes = 256; // the parse window, and parse_mbuf's stack buffer
inline constexpr unsigned max_vlan_tags = 2;
inline constexpr unsigned max_ipv6_ext_headers = 8;

namespace parse_detail {

inline constexpr std::uint16_t ether_ipv4 = 0x0800;
inline constexpr std::uint16_t ether_ipv6 = 0x86dd;
inline constexpr std::uint16_t ether_arp = 0x0806;
inline constexpr std::uint16_t ether_vlan = 0x8100;
inline constexpr std::uint16_t ether_qinq = 0x88a8;

inline constexpr std::uint8_t proto_hopopts = 0;
inline constexpr std::uint8_t proto_icmp = 1;
inline constexpr std::uint8_t proto_tcp = 6;
inline constexpr std::uint8_t proto_udp = 17;
inline constexpr std::uint8_t proto_routing = 43;
inline constexpr std::uint8_t proto_fragment = 44;
inline constexpr std::uint8_t proto_esp = 50;
inline constexpr std::uint8_t proto_ah = 51;
inline constexpr std::uint8_t proto_icmpv6 = 58;
inline constexpr std::uint8_t proto_none = 59;
inline constexpr std::uint8_t proto_dstopts = 60;

// The extension headers the walk steps over (all numbered below 64): one test per header.
inline constexpr std::uint64_t ext_header_mask = (1ull << proto_hopopts) | (1ull << proto_routing) |
                                                 (1ull << proto_fragment) | (1ull << proto_dstopts) |
                                                 (1ull << proto_ah);

// Not rte_be_to_cpu_16: on x86 it is inline asm (xchgb on the high and low
// byte registers) that the compiler cannot fold into the load or schedule.
inline std::uint16_t load_be16(const std::uint8_t* p) noexcept
{
    std::uint16_t v;
    std::memcpy(&v, p, sizeof v);
    if constexpr (std::endian::native == std::endian::little)
        return __builtin_bswap16(v);
    else
        return v;
}

constexpr parse_status fail(drop_reason r) noexcept { return parse_fail(r); }

// `avail`: bytes of the datagram from the L4 header on (the first fragment's
// share when fragmented). `readable`: bytes of the parse window from the L4
// header on; only an IPv6 extension chain can make it smaller than `avail`,
// hence the template flag that lets IPv4 skip the check.
template <bool bounded>
inline parse_status parse_l4(const std::uint8_t* l4, std::uint32_t avail, std::uint32_t readable,
                             std::uint8_t proto, std::uint8_t icmp_proto, bool fragmented,
                             packet_meta& out) noexcept
{
    if (proto == proto_udp) {
        if (avail < 8) [[unlikely]]
            return fail(drop_reason::truncated_l4);
        if (bounded && readable < 8) [[unlikely]]
            return fail(drop_reason::ext_header_limit);
        const std::uint32_t ulen = load_be16(l4 + 4);
        // A first fragment's UDP length covers the reassembled datagram.
        if (ulen < 8 || (!fragmented && ulen > avail)) [[unlikely]]
            return fail(drop_reason::bad_length);
        out.sport = load_be16(l4);
        out.dport = load_be16(l4 + 2);
        out.l4_len = 8;
        out.has_l4 = true;
        return parse_ok;
    }
    if (proto == proto_tcp) {
        if (avail < 20) [[unlikely]]
            return fail(drop_reason::truncated_l4);
        if (bounded && readable < 20) [[unlikely]]
            return fail(drop_reason::ext_header_limit);
        const std::uint32_t doff = (l4[12] >> 4) * 4u;
        if (doff < 20) [[unlikely]]
            return fail(drop_reason::bad_length);
        if (doff > avail) [[unlikely]]
            return fail(drop_reason::truncated_l4);
        out.sport = load_be16(l4);
        out.dport = load_be16(l4 + 2);
        out.l4_len = static_cast<std::uint8_t>(doff);
        out.has_l4 = true;
        return parse_ok;
    }
    if (proto == icmp_proto) {
        if (avail < 8) [[unlikely]]
            return fail(drop_reason::truncated_l4);
        if (bounded && readable < 8) [[unlikely]]
            return fail(drop_reason::ext_header_limit);
        out.sport = load_be16(l4);
        out.l4_len = 8;
        out.has_l4 = true;
        return parse_ok;
    }
    return parse_ok; // other protocols: attributed by address, no ports
}

// `ip` points after L2; `avail` = frame bytes from there on.
inline parse_status parse_ipv4(const std::uint8_t* ip, std::uint32_t avail, packet_meta& out) noexcept
{
    if (avail < 20) [[unlikely]]
        return fail(drop_reason::truncated_l3);
    const std::uint8_t vihl = ip[0];
    if ((vihl >> 4) != 4) [[unlikely]]
        return fail(drop_reason::bad_ip_version);
    const std::uint32_t ihl = (vihl & 0x0fu) * 4u;
    if (ihl < 20 || ihl > avail) [[unlikely]]
        return fail(drop_reason::bad_ihl);
    const std::uint32_t total = load_be16(ip + 2);
    if (total < ihl || total > avail) [[unlikely]]
        return fail(drop_reason::bad_length);

    out.l3 = l3_kind::ipv4;
    out.l3_len = static_cast<std::uint16_t>(ihl);
    std::memcpy(out.src_addr, ip + 12, 4);
    std::memcpy(out.dst_addr, ip + 16, 4);
    const std::uint8_t proto = ip[9];
    out.l4_proto = proto;
    const std::uint16_t frag = load_be16(ip + 6);
    const bool more_fragments = (frag & 0x2000u) != 0;
    const bool non_first = (frag & 0x1fffu) != 0;
    out.is_fragment = more_fragments || non_first;
    if (non_first) [[unlikely]]
        return parse_ok;
    // IPv4 reads end at most 22 + 60 + 20 = 102 bytes in: always inside the window.
    return parse_l4<false>(ip + ihl, total - ihl, total - ihl, proto, proto_icmp, more_fragments, out);
}

// `ip` points after L2 at offset `l2_len`; `avail` = frame bytes from there
// on; `window` = readable bytes from the frame's start.
inline parse_status parse_ipv6(const std::uint8_t* ip, std::uint32_t avail, std::uint32_t l2_len,
                               std::uint32_t window, packet_meta& out) noexcept
{
    if (avail < 40) [[unlikely]]
        return fail(drop_reason::truncated_l3);
    if ((ip[0] >> 4) != 6) [[unlikely]]
        return fail(drop_reason::bad_ip_version);
    const std::uint32_t end = 40u + load_be16(ip + 4); // jumbograms (payload length 0) cannot cross Ethernet
    if (end > avail) [[unlikely]]
        return fail(drop_reason::bad_length);

    out.l3 = l3_kind::ipv6;
    std::memcpy(out.src_addr, ip + 8, 16);
    std::memcpy(out.dst_addr, ip + 24, 16);
    // The window is at least min(frame, 256) and L2 is at most 22 bytes: positive.
    const std::uint32_t ip_window = window - l2_len;

    std::uint8_t nh = ip[6];
    std::uint32_t off = 40;
    bool fragmented = false;
    for (unsigned n = 0;; ++n) {
        if (nh >= 64 || ((ext_header_mask >> nh) & 1u) == 0) [[likely]]
            break;
        // Every extension header is at least 8 bytes; the check against the
        // window covers the bytes read below (at most 4).
        if (n == max_ipv6_ext_headers || off + 8 > end || off + 8 > ip_window) [[unlikely]]
            return fail(drop_reason::ext_header_limit);
        const std::uint8_t* h = ip + off;
        std::uint32_t len;
        if (nh == proto_fragment) {
            const std::uint16_t fo = load_be16(h + 2);
            const bool non_first = (fo & 0xfff8u) != 0;
            fragmented = non_first || (fo & 1u) != 0;
            out.is_fragment = out.is_fragment || fragmented;
            if (non_first) {
                // The rest of the chain travelled in the first fragment.
                out.l3_len = static_cast<std::uint16_t>(off + 8);
                out.l4_proto = h[0];
                return parse_ok;
            }
            len = 8;
        } else if (nh == proto_ah) {
            len = (h[1] + 2u) * 4u;
        } else {
            len = (h[1] + 1u) * 8u;
        }
        if (off + len > end) [[unlikely]]
            return fail(drop_reason::ext_header_limit);
        nh = h[0];
        off += len;
    }

    out.l3_len = static_cast<std::uint16_t>(off);
    out.l4_proto = nh;
    if (nh == proto_esp || nh == proto_none) // nothing readable follows
        return parse_ok;
    const std::uint32_t readable = ip_window > off ? ip_window - off : 0;
    return parse_l4<true>(ip + off, end - off, readable, nh, proto_icmpv6, fragmented, out);
}

inline parse_status parse_arp(const std::uint8_t* a, std::uint32_t avail, packet_meta& out) noexcept
{
    if (avail < 8) [[unlikely]]
        return fail(drop_reason::truncated_l3);
    const std::uint32_t hlen = a[4];
    const std::uint32_t plen = a[5];
    const std::uint32_t len = 8 + 2 * (hlen + plen);
    if (len > avail) [[unlikely]]
        return fail(drop_reason::truncated_l3);
    out.l3 = l3_kind::arp;
    out.l3_len = static_cast<std::uint16_t>(len);
    if (hlen == 6 && plen == 4) { // Ethernet/IPv4: 22 + 28 bytes, inside the window
        std::memcpy(out.src_addr, a + 14, 4);
        std::memcpy(out.dst_addr, a + 24, 4);
    }
    return parse_ok;
}

// `p` holds at least `window` readable bytes of a frame of `len` bytes;
// window == min(len, max_header_bytes).
inline parse_status parse_window(const std::uint8_t* p, std::uint32_t window, std::uint32_t len,
                                 packet_meta& out) noexcept
{
    out = packet_meta{};
    out.frame_len = len;
    if (len < 14) [[unlikely]]
        return fail(drop_reason::truncated_l2);
    std::memcpy(out.src_mac, p + 6, 6);
    std::uint16_t et = load_be16(p + 12);
    std::uint32_t l2 = 14;
    if (et == ether_vlan || et == ether_qinq) [[unlikely]] {
        unsigned tags = 0;
        do {
            if (tags == max_vlan_tags)
                return fail(drop_reason::unsupported_ethertype);
            if (len < l2 + 4)
                return fail(drop_reason::truncated_l2);
            const std::uint16_t vid = load_be16(p + l2) & 0x0fffu;
            (tags == 0 ? out.vlan_outer : out.vlan_inner) = vid;
            ++tags;
            out.vlan_count = static_cast<std::uint8_t>(tags);
            et = load_be16(p + l2 + 2);
            l2 += 4;
        } while (et == ether_vlan || et == ether_qinq);
    }
    out.l2_len = static_cast<std::uint16_t>(l2);
    out.ethertype = et;
    if (et == ether_ipv4) [[likely]]
        return parse_ipv4(p + l2, len - l2, out);
    if (et == ether_ipv6)
        return parse_ipv6(p + l2, len - l2, l2, window, out);
    if (et == ether_arp)
        return parse_arp(p + l2, len - l2, out);
    return fail(drop_reason::unsupported_ethertype);
}

// The header bytes straddle segments: gather them on the stack. Out of line
// and cold so that the single-segment path stays small. The walk is our own
// rather than rte_pktmbuf_read, which follows `next` without a null check and
// would fault on a chain holding fewer bytes than its pkt_len; here such a
// chain (a driver bug, not wire input) is dropped as truncated_l2.
[[gnu::noinline, gnu::cold]] inline parse_status parse_gathered(const rte_mbuf* m, std::uint32_t window,
                                                                std::uint32_t len, packet_meta& out) noexcept
{
    alignas(16) std::uint8_t buf[max_header_bytes];
    std::uint32_t got = 0;
    unsigned segs = 0;
    for (const rte_mbuf* s = m; s != nullptr && got < window && segs < RTE_MBUF_MAX_NB_SEGS;
         s = s->next, ++segs) {
        const std::uint32_t take = std::min<std::uint32_t>(rte_pktmbuf_data_len(s), window - got);
        std::memcpy(buf + got, rte_pktmbuf_mtod(s, const std::uint8_t*), take);
        got += take;
    }
    if (got < window) [[unlikely]] {
        out = packet_meta{};
        out.frame_len = len;
        return fail(drop_reason::truncated_l2);
    }
    return parse_window(buf, window, len, out);
}

} // namespace parse_detail

// Contiguous bytes (tests, pcap, the generator's own frames).
inline parse_status parse_frame(const std::uint8_t* data, std::uint32_t len, packet_meta& out) noexcept
{
    const std::uint32_t window = len < max_header_bytes ? len : max_header_bytes;
    return parse_detail::parse_window(data, window, len, out);
}

// Multi-segment aware: the common case (headers in the first segment) parses
// in place; otherwise the first min(pkt_len, 256) bytes are gathered on the stack.
inline parse_status parse_mbuf(const rte_mbuf* m, packet_meta& out) noexcept
{
    const std::uint32_t len = rte_pktmbuf_pkt_len(m);
    const std::uint32_t window = len < max_header_bytes ? len : max_header_bytes;
    if (rte_pktmbuf_data_len(m) >= window) [[likely]]
        return parse_detail::parse_window(rte_pktmbuf_mtod(m, const std::uint8_t*), window, len, out);
    return parse_detail::parse_gathered(m, window, len, out);
}

// A burst: meta[i] and status[i] for pkts[i] (both arrays hold at least
// pkts.size() entries). Prefetches the packet data a few packets ahead, as
// DPDK's l3fwd does, so that the header loads overlap: about 0.4 ns/packet
// when the data is already in L1 (the benchmark), a gain when it is not.
inline void parse_burst(std::span<rte_mbuf* const> pkts, packet_meta* meta, parse_status* status) noexcept
{
    constexpr std::size_t ahead = 4;
    const std::size_t n = pkts.size();
    for (std::size_t i = 0; i < n && i < ahead; ++i)
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], const void*));
    std::size_t i = 0;
    for (; i + ahead < n; ++i) {
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i + ahead], const void*));
        status[i] = parse_mbuf(pkts[i], meta[i]);
    }
    for (; i < n; ++i)
        status[i] = parse_mbuf(pkts[i], meta[i]);
}

} // namespace shadownet::dataplane
