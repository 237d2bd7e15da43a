// A client's route and the protocol that switches it without loss or reordering.
//
// The route is one 64-bit word stored *as the data value* of the client's entry
// in the client table (rte_hash with lock-free readers). The control lcore is
// the only writer: switching a client is a single release store of a new word
// (rte_hash_add_key_data on an existing key); forwarding lcores read it with
// their lookup and see the new route at their next burst. Nothing is
// allocated, so nothing needs reclaiming when a route changes.
//
// Switch protocol (epoch + drain), per forwarding lcore and client:
// 1. Every new route carries epoch + 1.
// 2. A forwarding lcore remembers, per client, the egress (port, TX queue) it
//    last used for that client and the epoch it came from.
// 3. When it sees a packet whose route has a different epoch *and* resolves to
//    a different egress, it does not transmit on the new egress until the old
//    one has drained: until every packet it already put on the old TX queue
//    has left the appliance (ring-backed port: the ring is empty; NIC: the last
//    descriptor is done; synchronous PMDs: at once; otherwise a configured
//    grace time). Meanwhile the client's packets wait, in arrival order, in the
//    lcore's hold queue.
// 4. Once drained, the held packets go out on the new egress, oldest first,
//    and the lcore adopts the new epoch.
// Per-flow order holds because a flow is always handled by one lcore and that
// lcore never has a client's packets on two egresses at once. Nothing is
// dropped by the protocol: if the hold queue is full, the packet goes out on
// the old egress instead (still in order) and the switch simply completes later.
#pragma once

#include <cstdint>

namespace shadownet::dataplane {

enum class path : std::uint8_t { primary = 0, shadow = 1 };

// Port 0xff: the path's default egress for the packet's ingress port (the
// pair's peer on the primary path, the shadow peer on the shadow path).
inline constexpr std::uint8_t route_default_port = 0xff;

// Client 0 is the default client: unknown sources while the control lcore
// registers them, and sources beyond --max-clients when they are not dropped.
inline constexpr std::uint32_t default_client = 0;

struct route {
    std::uint32_t client = default_client;
    std::uint16_t epoch = 0;
    std::uint8_t port = route_default_port;
    std::uint8_t queue = 0; // index among the lcore's queues of that path (0..127)
    path via = path::primary;

    [[nodiscard]] constexpr std::uint64_t pack() const noexcept
    {
        return std::uint64_t{client} | (std::uint64_t{epoch} << 32) | (std::uint64_t{port} << 48) |
               (std::uint64_t{static_cast<std::uint8_t>(queue & 0x7f)} << 56) |
               (std::uint64_t{static_cast<std::uint8_t>(via)} << 63);
    }
    static constexpr route unpack(std::uint64_t w) noexcept
    {
        route r;
        r.client = static_cast<std::uint32_t>(w);
        r.epoch = static_cast<std::uint16_t>(w >> 32);
        r.port = static_cast<std::uint8_t>(w >> 48);
        r.queue = static_cast<std::uint8_t>((w >> 56) & 0x7f);
        r.via = static_cast<path>(w >> 63);
        return r;
    }
    friend constexpr bool operator==(const route&, const route&) = default;
};

} // namespace shadownet::dataplane
