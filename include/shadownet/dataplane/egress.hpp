// Egress roles and port health: what failover changes in the fast path.
//
// A *logical egress* is the port a pair forwards to (lcore_conf::peer of the
// ingress port). Its role says which physical port carries its primary path
// and which its shadow path right now. Normally the primary is the egress
// itself and the shadow its --shadow-ports port (or the egress again, on its
// reserved shadow queues); failover rewrites the role so that the shadow
// port takes the primary's place, and a planned switchover swaps them.
//
// Ownership and ordering. The control lcore is the only writer of both
// arrays; forwarding lcores read them. Each word is self-contained (nothing
// else is published with it), so stores and loads are relaxed:
// - the role word is loaded once per burst and ingress port (resolve, worker.cpp);
// - a port's flags are loaded once per RX queue per loop and once per TX burst.
//
// A new role carries epoch + 1, and the fast path adds the role's epoch to
// the client's route epoch: a role change is a route switch like any other
// (route.hpp) — packets already sent on the old egress drain before the
// first one takes the new egress, so a planned switchover loses nothing and
// reorders nothing. Except when the old egress is out of service: its
// packets are lost with the port, and waiting for them to drain would only
// extend the outage, so drained() says yes at once.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "shadownet/dataplane/counters.hpp"

namespace shadownet::dataplane {

inline constexpr std::uint8_t no_role_port = 0xff;

struct egress_role {
    std::uint8_t primary = no_role_port; // physical port of the primary path
    std::uint8_t shadow = no_role_port;  // physical port of the shadow path (== primary: its shadow queues)
    std::uint16_t epoch = 0;             // + 1 on every change

    [[nodiscard]] constexpr std::uint32_t pack() const noexcept
    {
        return std::uint32_t{primary} | (std::uint32_t{shadow} << 8) | (std::uint32_t{epoch} << 16);
    }
    static constexpr egress_role unpack(std::uint32_t w) noexcept
    {
        return {static_cast<std::uint8_t>(w), static_cast<std::uint8_t>(w >> 8), static_cast<std::uint16_t>(w >> 16)};
    }
    friend constexpr bool operator==(const egress_role&, const egress_role&) = default;
};

// Per physical port. Set together by the control lcore (see egress_table).
enum port_flag : std::uint8_t {
    port_tx_out = 1,   // out of service: packets routed to it are dropped as port_down; it counts as drained
    port_tx_stuck = 2, // injected fault (`port fail`): the TX queue takes nothing, as a hung queue would
    port_rx_off = 4,   // its RX queues are not polled (a failed or faulted port delivers nothing)
};

class egress_table {
public:
    egress_table()
    {
        for (auto& r : roles_)
            r.store(egress_role{}.pack(), std::memory_order_relaxed);
        for (auto& f : flags_)
            f.store(0, std::memory_order_relaxed);
    }
    egress_table(const egress_table&) = delete;
    egress_table& operator=(const egress_table&) = delete;

    // Control lcore only. The caller bumps the epoch when it changes a role.
    void set_role(std::uint16_t logical, egress_role r) noexcept
    {
        roles_[logical].store(r.pack(), std::memory_order_relaxed);
    }
    void set_flags(std::uint16_t port, std::uint8_t flags) noexcept
    {
        flags_[port].store(flags, std::memory_order_relaxed);
    }

    // Any thread.
    [[nodiscard]] egress_role role(std::uint16_t logical) const noexcept
    {
        return egress_role::unpack(roles_[logical].load(std::memory_order_relaxed));
    }
    [[nodiscard]] std::uint8_t flags(std::uint16_t port) const noexcept
    {
        return flags_[port].load(std::memory_order_relaxed);
    }

private:
    alignas(64) std::array<std::atomic<std::uint32_t>, max_ports> roles_;  // by logical egress
    alignas(64) std::array<std::atomic<std::uint8_t>, max_ports> flags_;   // by physical port
};

} // namespace shadownet::dataplane
