// Why a packet was dropped. Every packet the appliance receives is either
// transmitted or counted under exactly one of these reasons.
// Names are stable: they appear in the summary JSON, telemetry and the console.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shadownet::dataplane {

enum class drop_reason : std::uint8_t {
    tx_full,               // the TX queue did not take the packet (ring/descriptors full)
    no_route,              // no output port or queue for the packet
    truncated_l2,          // shorter than its Ethernet/VLAN headers
    truncated_l3,          // shorter than its IP (or ARP) header
    bad_ip_version,        // IP version field disagrees with the ethertype
    bad_ihl,               // IPv4 IHL below 5 or beyond the frame
    bad_length,            // IP total/payload length disagrees with the frame
    ext_header_limit,      // IPv6 extension header chain too long or truncated
    truncated_l4,          // first fragment or whole datagram shorter than its TCP/UDP/ICMP header
    unsupported_ethertype, // not IPv4, IPv6 or ARP
    ring_full,             // the hand-off ring to a worker was full (back-pressure)
    client_limit,          // a new client beyond the configured maximum
    port_down,             // the output port is stopped or failed
    primary_over_capacity, // beyond the primary egress port's configured capacity (a saturated link)
    shadow_over_capacity,  // beyond the client's reserved shadow budget
    count_
};

inline constexpr std::size_t drop_reason_count = static_cast<std::size_t>(drop_reason::count_);

inline constexpr std::array<std::string_view, drop_reason_count> drop_reason_names{
    "tx_full",      "no_route",         "truncated_l2", "truncated_l3",
    "bad_ip_version", "bad_ihl",        "bad_length",   "ext_header_limit",
    "truncated_l4", "unsupported_ethertype", "ring_full", "client_limit",
    "port_down",    "primary_over_capacity", "shadow_over_capacity",
};

constexpr std::string_view name_of(drop_reason r) noexcept
{
    return drop_reason_names[static_cast<std::size_t>(r)];
}

constexpr std::optional<drop_reason> drop_reason_from_name(std::string_view n) noexcept
{
    for (std::size_t i = 0; i < drop_reason_count; ++i)
        if (drop_reason_names[i] == n)
            return static_cast<drop_reason>(i);
    return std::nullopt;
}

} // namespace shadownet::dataplane
