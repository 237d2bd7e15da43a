#!/usr/bin/python3
"""Reference frames for tests/unit/test_parse.cpp, built with scapy.

The expected fields come from scapy's own dissection (header lengths, ports,
fragment flags), not from the parser's rules, so the unit test cross-checks the
parser against an independent implementation. Regenerate with
    /usr/bin/python3 tests/unit/data/gen_parse_frames.py > tests/unit/data/parse_frames.txt
(the output is deterministic: fixed addresses, ports and payloads).

One frame per line, fields separated by spaces:
    name l2_len l3_len ethertype vlan_count vlan_outer vlan_inner l3 l4_proto
    has_l4 is_fragment l4_len sport dport src_addr dst_addr frame
l3 is none/ipv4/ipv6/arp; addresses are hex (4 bytes for IPv4/ARP, 16 for IPv6);
frame is the whole frame in hex.
"""
import ipaddress
import sys

from scapy.all import (ARP, GRE, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6EchoRequest,
                       IPOption_RR, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, Raw, fragment, fragment6)
from scapy.layers.ipsec import AH

ETH = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
V4 = dict(src="10.1.2.3", dst="192.0.2.77")
V6 = dict(src="2001:db8::1", dst="2001:db8:0:1::beef")
V6_EXT = (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, IPv6ExtHdrFragment, AH)


def hdr_len(layer):
    return len(bytes(layer)) - len(bytes(layer.payload))


def describe(name, pkt, pad_to=0):
    raw = bytes(pkt)
    if len(raw) < pad_to:
        raw += b"\0" * (pad_to - len(raw))
    pkt = Ether(raw)  # dissect what is on the wire, padding included
    l2 = 14
    vlans = []
    layer = pkt.payload
    ethertype = pkt.type
    while isinstance(layer, (Dot1Q, Dot1AD)):
        vlans.append(layer.vlan)
        ethertype = layer.type
        l2 += 4
        layer = layer.payload
    f = dict(l3="none", l3_len=0, l4_proto=0, has_l4=0, frag=0, l4_len=0, sport=0, dport=0,
             src="", dst="")
    l4 = None
    if isinstance(layer, IP):
        f.update(l3="ipv4", l3_len=layer.ihl * 4, l4_proto=layer.proto,
                 src=ipaddress.ip_address(layer.src).packed.hex(),
                 dst=ipaddress.ip_address(layer.dst).packed.hex())
        f["frag"] = int(layer.frag != 0 or bool(layer.flags.MF))
        if layer.frag == 0:
            l4 = layer.payload
    elif isinstance(layer, IPv6):
        f.update(l3="ipv6", src=ipaddress.ip_address(layer.src).packed.hex(),
                 dst=ipaddress.ip_address(layer.dst).packed.hex())
        l3_len = 40
        nh = layer.nh
        cur = layer.payload
        l4 = cur
        while isinstance(cur, V6_EXT):
            l3_len += hdr_len(cur)
            nh = cur.nh
            if isinstance(cur, IPv6ExtHdrFragment):
                f["frag"] = int(cur.offset != 0 or cur.m != 0)
                if cur.offset != 0:
                    cur = None
                    break
            was_ah = isinstance(cur, AH)
            cur = cur.payload
            if was_ah and isinstance(cur, Raw):  # scapy does not dissect past AH
                cur = {6: TCP, 17: UDP}.get(nh, Raw)(bytes(cur))
        l4 = cur
        f.update(l3_len=l3_len, l4_proto=nh)
    elif isinstance(layer, ARP):
        f.update(l3="arp", l3_len=hdr_len(layer),
                 src=ipaddress.ip_address(layer.psrc).packed.hex(),
                 dst=ipaddress.ip_address(layer.pdst).packed.hex())
    if isinstance(l4, TCP):
        f.update(has_l4=1, l4_len=l4.dataofs * 4, sport=l4.sport, dport=l4.dport)
    elif isinstance(l4, UDP):
        f.update(has_l4=1, l4_len=8, sport=l4.sport, dport=l4.dport)
    elif isinstance(l4, ICMP) or (l4 is not None and l4.name.startswith("ICMPv6")):
        f.update(has_l4=1, l4_len=8, sport=(l4.type << 8) | l4.code, dport=0)
    vlans += [0, 0]
    print(name, l2, f["l3_len"], ethertype, len(vlans) - 2, vlans[0], vlans[1], f["l3"], f["l4_proto"],
          f["has_l4"], f["frag"], f["l4_len"], f["sport"], f["dport"], f["src"] or "-", f["dst"] or "-",
          raw.hex())


def main():
    pay = Raw(b"shadownet" * 4)
    describe("ipv4_udp", Ether(**ETH) / IP(**V4) / UDP(sport=1234, dport=53) / pay)
    describe("ipv4_tcp_options", Ether(**ETH) / IP(**V4) /
             TCP(sport=40000, dport=443, flags="S",
                 options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("WScale", 7)]))
    describe("ipv4_ip_options_icmp", Ether(**ETH) / IP(**V4, options=[IPOption_RR(routers=["1.2.3.4"])]) /
             ICMP(type=8, code=0, id=7, seq=1) / pay)
    describe("ipv4_udp_padded", Ether(**ETH) / IP(**V4) / UDP(sport=7, dport=9) / Raw(b"x"), pad_to=60)
    describe("ipv4_gre", Ether(**ETH) / IP(**V4) / GRE() / IP(**V4) / UDP())
    describe("vlan_ipv4_udp", Ether(**ETH) / Dot1Q(vlan=100) / IP(**V4) / UDP(sport=5000, dport=6000) / pay)
    describe("qinq_ipv6_tcp", Ether(**ETH) / Dot1AD(vlan=300) / Dot1Q(vlan=42) / IPv6(**V6) /
             TCP(sport=22, dport=50000, flags="A") / pay)
    describe("qinq_8100_arp", Ether(**ETH) / Dot1Q(vlan=7) / Dot1Q(vlan=4094) /
             ARP(op=1, hwsrc=ETH["src"], psrc="10.0.0.1", pdst="10.0.0.2"))
    describe("arp_request", Ether(dst="ff:ff:ff:ff:ff:ff", src=ETH["src"]) /
             ARP(op=1, hwsrc=ETH["src"], psrc="10.0.0.1", pdst="10.0.0.2"))
    big = Ether(**ETH) / IP(**V4, id=99) / UDP(sport=4444, dport=5555) / Raw(bytes(range(256)) * 8)
    frags = fragment(big[IP], fragsize=1000)
    describe("ipv4_frag_first", Ether(**ETH) / frags[0])
    describe("ipv4_frag_middle", Ether(**ETH) / frags[1])
    describe("ipv4_frag_last", Ether(**ETH) / frags[-1])
    describe("ipv6_udp", Ether(**ETH) / IPv6(**V6) / UDP(sport=546, dport=547) / pay)
    describe("ipv6_hbh_dst_tcp", Ether(**ETH) / IPv6(**V6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
             TCP(sport=1, dport=2))
    describe("ipv6_routing_icmpv6", Ether(**ETH) / IPv6(**V6) /
             IPv6ExtHdrRouting(addresses=["2001:db8::2", "2001:db8::3"]) / ICMPv6EchoRequest(id=3, seq=4))
    describe("ipv6_ah_udp", Ether(**ETH) / IPv6(**V6) / AH(nh=17, payloadlen=4, spi=1, seq=1, icv=b"\0" * 12) /
             UDP(sport=10, dport=20) / pay)
    describe("ipv6_no_next_padded", Ether(**ETH) / IPv6(**V6, nh=59), pad_to=60)
    big6 = IPv6(**V6) / IPv6ExtHdrFragment(id=5) / UDP(sport=8000, dport=9000) / Raw(bytes(range(256)) * 8)
    frags6 = fragment6(big6, 1280)
    describe("ipv6_frag_first", Ether(**ETH) / frags6[0])
    describe("ipv6_frag_last", Ether(**ETH) / frags6[-1])


if __name__ == "__main__":
    sys.exit(main())
