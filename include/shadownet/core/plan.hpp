// The forwarding plan: which ports forward to which, which lcores poll which
// RX queues, which lcores transmit, and how many queues each port needs.
// Pure: computed from the config and what EAL reports, unit-tested without EAL.
//
// Lcore roles. The main lcore is the control lcore (ticks, progress, built-in
// traffic). In run-to-completion mode every forwarding lcore receives,
// classifies and transmits; with one lcore in total the main lcore forwards
// too. In pipeline mode the forwarding lcores split into RX lcores (receive,
// classify, hand off) and worker lcores (transmit).
//
// TX queues, on every port: lcore i of the transmitting lcores owns primary
// queue i and shadow queues txq + i*shadow_per_lcore ... + shadow_per_lcore-1,
// so no queue is ever shared between lcores.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "shadownet/core/config.hpp"

namespace shadownet {

inline constexpr std::uint16_t plan_max_ports = 32;

struct queue_ref {
    std::uint16_t port = 0;
    std::uint16_t queue = 0;
    friend bool operator==(const queue_ref&, const queue_ref&) = default;
};

struct forwarding_plan {
    forwarding_mode mode = forwarding_mode::rtc;
    std::vector<std::uint16_t> ports;        // every appliance port, ascending (paired and shadow-only)
    std::vector<std::uint16_t> rx_ports;     // the paired ports: the ones that are polled
    std::vector<port_pair> pairs;
    std::vector<port_pair> shadow_ports;     // a:s, traffic leaving on a takes s on the shadow path
    std::vector<std::uint16_t> spare_ports;  // transmit-only, held in reserve for failover
    std::vector<unsigned> fwd_lcores;        // every forwarding lcore (may be just the main lcore)
    bool main_forwards = false;
    std::vector<unsigned> rx_lcores;         // lcores that poll RX queues (rtc: all of fwd_lcores)
    std::vector<unsigned> tx_lcores;         // lcores that transmit (rtc: all of fwd_lcores; pipeline: workers)
    std::uint16_t rxq = 1;                   // RX queues per port
    std::uint16_t txq = 1;                   // primary TX queues per port: one per transmitting lcore
    std::uint16_t shadow_per_lcore = 0;      // shadow TX queues per port and transmitting lcore
    std::vector<std::vector<queue_ref>> rx_by_lcore; // parallel to rx_lcores

    [[nodiscard]] std::uint16_t shadow_txq() const noexcept
    {
        return static_cast<std::uint16_t>(shadow_per_lcore * tx_lcores.size());
    }
    [[nodiscard]] std::uint16_t primary_txq_of(std::size_t tx_index) const noexcept
    {
        return static_cast<std::uint16_t>(tx_index);
    }
    [[nodiscard]] std::uint16_t shadow_txq_base_of(std::size_t tx_index) const noexcept
    {
        return static_cast<std::uint16_t>(txq + tx_index * shadow_per_lcore);
    }
    // Primary egress for traffic received on `in` (a paired port).
    [[nodiscard]] std::uint16_t peer_of(std::uint16_t in) const;
    // Shadow egress: the primary egress, or its separate shadow port.
    [[nodiscard]] std::uint16_t shadow_peer_of(std::uint16_t in) const;
};

struct queue_counts {
    std::uint16_t rxq = 1;
    std::uint16_t txq = 1;
    std::uint16_t shadow_txq = 0; // total per port
};

// The queues each port needs for `n_ports` polled ports, before the ports
// exist (virtual ports are created with exactly these). Throws config_error.
queue_counts planned_queue_counts(const app_config& cfg, std::size_t n_ports, unsigned main_lcore,
                                  std::span<const unsigned> worker_lcores);

// Throws config_error with a one-line reason (unknown port, odd port count
// without --port-pairs, a forwarding lcore EAL did not enable, ...).
forwarding_plan make_forwarding_plan(const app_config& cfg, std::span<const std::uint16_t> available_ports,
                                     unsigned main_lcore, std::span<const unsigned> worker_lcores);

} // namespace shadownet
