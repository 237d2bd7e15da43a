// The forwarding plan: which ports forward to which, which lcores poll which
// RX queues, and how many queues each port needs. Pure: computed from the
// config and what EAL reports, unit-tested without EAL.
//
// Lcore roles. The main lcore is the control lcore (ticks, progress, built-in
// traffic). Forwarding lcores receive, classify and transmit. With one lcore
// in total, the main lcore also forwards; with two or more, every worker
// forwards unless --fwd-lcores says otherwise.
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
    std::vector<std::uint16_t> ports;  // appliance ports, ascending
    std::vector<port_pair> pairs;
    std::vector<unsigned> fwd_lcores;  // lcores that forward (may be just the main lcore)
    bool main_forwards = false;
    std::uint16_t rxq = 1;             // RX queues per port
    std::uint16_t txq = 1;             // primary TX queues per port: one per forwarding lcore
    std::uint16_t shadow_txq = 0;      // reserved shadow TX queues per port
    std::vector<std::vector<queue_ref>> rx_by_lcore; // parallel to fwd_lcores
    std::vector<std::uint16_t> tx_queue_by_lcore;    // parallel to fwd_lcores

    // Output port for `in`; in must be one of `ports`.
    [[nodiscard]] std::uint16_t peer_of(std::uint16_t in) const;
};

struct queue_counts {
    std::uint16_t rxq = 1;
    std::uint16_t txq = 1;
};

// The queues each port needs for `n_ports` appliance ports, before the ports
// exist (virtual ports are created with exactly these). Throws config_error.
queue_counts planned_queue_counts(const app_config& cfg, std::size_t n_ports, unsigned main_lcore,
                                  std::span<const unsigned> worker_lcores);

// Throws config_error with a one-line reason (unknown port, odd port count
// without --port-pairs, a forwarding lcore EAL did not enable, ...).
forwarding_plan make_forwarding_plan(const app_config& cfg, std::span<const std::uint16_t> available_ports,
                                     unsigned main_lcore, std::span<const unsigned> worker_lcores);

} // namespace shadownet
