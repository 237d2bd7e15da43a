// Run-to-completion forwarding: an lcore polls its RX queues and transmits each
// burst on the paired port, on its own TX queue.
//
// Ownership: fwd_lcore_conf is built by the control thread before the lcore is
// launched and is read-only while it runs. The lcore writes only its own
// lcore_counters. `quit` is written by the control thread (release) and read by
// the lcore (acquire) once per loop; after it is seen the lcore returns at the
// end of the current pass, so every received burst is transmitted or counted.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "shadownet/dataplane/counters.hpp"

namespace shadownet::dataplane {

struct rx_queue_ref {
    std::uint16_t port = 0;
    std::uint16_t queue = 0;
    friend bool operator==(const rx_queue_ref&, const rx_queue_ref&) = default;
};

inline constexpr std::uint16_t no_port = 0xffff;

struct fwd_lcore_conf {
    unsigned lcore_id = 0;
    std::vector<rx_queue_ref> rx;
    std::array<std::uint16_t, max_ports> peer{}; // output port by input port; no_port: drop (no_route)
    std::uint16_t txq = 0;                       // this lcore's primary TX queue on every port
    std::uint16_t burst = 32;
    lcore_counters* counters = nullptr;
    const std::atomic<bool>* quit = nullptr;
};

// One pass over the lcore's RX queues. Returns the packets received.
unsigned fwd_poll(const fwd_lcore_conf& conf) noexcept;

// rte_eal_remote_launch entry: polls until *conf->quit. `arg` is a fwd_lcore_conf*.
int fwd_lcore_main(void* arg) noexcept;

} // namespace shadownet::dataplane
