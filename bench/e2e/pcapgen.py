"""Packet source for the end-to-end benchmark: 64 B UDP/IPv4 pcaps and the
matching l3fwd exact-match rule files.

Frames are written with struct (stdlib) rather than scapy: a million packets
take a few seconds this way instead of minutes. scapy, when installed, is used
to check the first packets of every file written (checksums, lengths).

Flow layout for F flows over C clients (client = source address):
  flow i belongs to client c = i % C and is that client's k = i // C -th flow,
  so consecutive packets come from different clients;
  src IP  = 10.0.0.0 + c          (100 000 clients fit in 10.0.0.0/8 easily)
  dst IP  = 198.18.0.0 + (i mod 131072), within 198.18.0.0/15 (RFC 2544 range)
  UDP     = src port 1024 + k, dst port 9 (discard)
  Every (src, dst, sport, dport, proto) 5-tuple is distinct; the pcap holds
  each flow exactly once, in flow order, and net_pcap replays it in a loop.
"""

import os
import struct

ETH_DST = bytes.fromhex("027063617000")  # net_pcap's MAC for its first port (02:70:63:61:70:<idx>)
ETH_SRC = bytes.fromhex("020000000001")
FRAME_LEN = 60                          # 64 B on the wire with the FCS
UDP_DPORT = 9
PROTO_UDP = 17
SRC_BASE = (10 << 24)
DST_BASE = (198 << 24) | (18 << 16)
LAYOUT_VERSION = 1                      # bump when the frames or the flow layout change (cache key)
PCAP_GLOBAL = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def flow_tuple(i, clients):
    """(src_ip, dst_ip, sport, dport) of flow i, IPs as host-order ints."""
    c = i % clients
    k = i // clients
    src = SRC_BASE + c
    dst = DST_BASE + (i % (1 << 17))   # i == k * clients + c
    sport = 1024 + k                   # (src, sport) alone is unique per flow
    return src, dst, sport, UDP_DPORT


def _csum_fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _frame(src, dst, sport, dport, seq):
    payload_len = FRAME_LEN - 14 - 20 - 8
    total_len = 20 + 8 + payload_len
    ip_wo_csum = struct.pack("!BBHHHBBHII", 0x45, 0, total_len, seq & 0xFFFF, 0, 64, PROTO_UDP, 0, src, dst)
    s = sum(struct.unpack("!10H", ip_wo_csum))
    ip_csum = (~_csum_fold(s)) & 0xFFFF
    ip = ip_wo_csum[:10] + struct.pack("!H", ip_csum) + ip_wo_csum[12:]
    payload = b"shadownet-e2e-" + struct.pack("!I", seq & 0xFFFFFFFF)
    payload = payload[:payload_len].ljust(payload_len, b"\0")
    udp_len = 8 + payload_len
    # UDP checksum over the pseudo header, header and payload.
    pseudo = struct.pack("!IIBBH", src, dst, 0, PROTO_UDP, udp_len)
    udp_hdr = struct.pack("!HHHH", sport, dport, udp_len, 0)
    data = pseudo + udp_hdr + payload
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    udp_csum = (~_csum_fold(s)) & 0xFFFF or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, udp_len, udp_csum) + payload
    return ETH_DST + ETH_SRC + b"\x08\x00" + ip + udp


def _ip(n):
    return "%d.%d.%d.%d" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


def names(outdir, flows, clients):
    base = os.path.join(outdir, "udp64-v%d-f%d-c%d" % (LAYOUT_VERSION, flows, clients))
    return base + ".pcap", base + ".em_v4.cfg", base + ".em_v6.cfg"


def generate(outdir, flows, clients, log=print):
    """Write (cached) the pcap and the l3fwd EM rule files; return their paths."""
    if clients < 1 or clients > flows:
        raise ValueError("clients must be in 1..flows (flows=%d, clients=%d)" % (flows, clients))
    if (flows + clients - 1) // clients > 64511:
        raise ValueError("too many flows per client (UDP source ports run out)")
    os.makedirs(outdir, exist_ok=True)
    pcap, v4, v6 = names(outdir, flows, clients)
    if all(os.path.exists(p) for p in (pcap, v4, v6)):
        return pcap, v4, v6
    log("generating %d flows / %d clients -> %s" % (flows, clients, pcap))
    rec_hdr = struct.Struct("<IIII")
    seen = set() if flows <= 2_000_000 else None
    with open(pcap + ".tmp", "wb") as fp, open(v4 + ".tmp", "w") as fr:
        fp.write(PCAP_GLOBAL)
        fr.write("# l3fwd EM IPv4 rules for %s: dst src dport sport proto if_out\n" % os.path.basename(pcap))
        for i in range(flows):
            src, dst, sport, dport = flow_tuple(i, clients)
            if seen is not None:
                key = (src, dst, sport)
                if key in seen:
                    raise AssertionError("duplicate 5-tuple for flow %d" % i)
                seen.add(key)
            fr_line = "R%s %s %d %d %d 1\n" % (_ip(dst), _ip(src), dport, sport, PROTO_UDP)
            fr.write(fr_line)
            f = _frame(src, dst, sport, dport, i)
            fp.write(rec_hdr.pack(i // 1_000_000, i % 1_000_000, len(f), len(f)))
            fp.write(f)
    # l3fwd reads rule files only when both v4 and v6 are given; one v6 rule suffices.
    with open(v6 + ".tmp", "w") as f6:
        f6.write("# unused by the IPv4 benchmark; l3fwd needs both rule files\n")
        f6.write("R2001:200:0:0::0 2001:200:0:0::1 9 9 17 1\n")
    for p in (pcap, v4, v6):
        os.replace(p + ".tmp", p)
    _check_with_scapy(pcap, log)
    return pcap, v4, v6


def _check_with_scapy(pcap, log):
    try:
        from scapy.utils import PcapReader
        from scapy.layers.inet import IP, UDP
    except Exception:  # scapy is optional for generation
        return
    with PcapReader(pcap) as r:
        for n, pkt in enumerate(r):
            if n >= 4:
                break
            raw = bytes(pkt)
            ip = pkt[IP]
            want_ip, want_udp = ip.chksum, pkt[UDP].chksum
            del ip.chksum
            del pkt[UDP].chksum
            again = pkt.__class__(bytes(pkt))
            if len(raw) != FRAME_LEN or again[IP].chksum != want_ip or again[UDP].chksum != want_udp:
                raise AssertionError("scapy disagrees with packet %d of %s" % (n, pcap))
