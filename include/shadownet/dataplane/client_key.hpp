// What makes a client: by default its source address (optionally a prefix of
// it), or its outer VLAN id, or its source MAC. The key is what the client
// table hashes; it is built in the fast path from the parsed headers.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace shadownet::dataplane {

enum class client_key_mode : std::uint8_t { src_ip, vlan, src_mac };

struct client_key_config {
    client_key_mode mode = client_key_mode::src_ip;
    std::uint8_t prefix_v4 = 32;
    std::uint8_t prefix_v6 = 128;
};

// 20 bytes, no padding holes: rte_hash compares keys bytewise.
struct client_key {
    std::uint8_t kind = 0; // 4: IPv4 source, 6: IPv6 source, 1: VLAN, 2: MAC
    std::uint8_t prefix = 0;
    std::uint16_t vlan = 0;
    std::uint8_t addr[16] = {};
    friend bool operator==(const client_key& a, const client_key& b) noexcept
    {
        return std::memcmp(&a, &b, sizeof(client_key)) == 0;
    }
};
static_assert(sizeof(client_key) == 20);

inline void mask_prefix(std::uint8_t* addr, unsigned bytes, unsigned prefix) noexcept
{
    for (unsigned i = 0; i < bytes; ++i) {
        const unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
        addr[i] &= bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    }
}

// ip_version: 4 or 6 for IP and ARP (ARP uses its sender address), 0 otherwise.
inline void make_client_key(const client_key_config& cfg, unsigned ip_version, const std::uint8_t* src_addr,
                            std::uint16_t outer_vlan, const std::uint8_t* src_mac, client_key& out) noexcept
{
    out = client_key{};
    switch (cfg.mode) {
    case client_key_mode::src_ip:
        if (ip_version == 4) {
            out.kind = 4;
            out.prefix = cfg.prefix_v4;
            std::memcpy(out.addr, src_addr, 4);
            if (cfg.prefix_v4 < 32)
                mask_prefix(out.addr, 4, cfg.prefix_v4);
        } else if (ip_version == 6) {
            out.kind = 6;
            out.prefix = cfg.prefix_v6;
            std::memcpy(out.addr, src_addr, 16);
            if (cfg.prefix_v6 < 128)
                mask_prefix(out.addr, 16, cfg.prefix_v6);
        }
        break;
    case client_key_mode::vlan:
        out.kind = 1;
        out.vlan = outer_vlan;
        break;
    case client_key_mode::src_mac:
        out.kind = 2;
        std::memcpy(out.addr, src_mac, 6);
        break;
    }
}

// "10.0.0.1", "2001:db8::/64", "vlan 100", "02:00:00:00:00:01": for operators.
std::string to_string(const client_key& k);

} // namespace shadownet::dataplane
