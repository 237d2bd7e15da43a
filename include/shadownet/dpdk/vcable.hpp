// A virtual cable: two net_ring ethdevs whose queues are joined back to back by
// rte_rings, so that what side B transmits on its queue q arrives on side A's
// RX queue q, and what A transmits on its TX queue q arrives on B's RX queue q.
//
// Side A is an appliance port; side B belongs to whoever plays the far end (the
// built-in traffic generator, a test). Every ring is single-producer/single-
// consumer: each queue is used by one lcore at a time, as with any ethdev.
//
// The cable owns its rings and both ports' lifetimes end with it: the destructor
// closes whichever side is still open, then frees the rings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shadownet/dpdk/ring.hpp"

namespace shadownet::dpdk {

class vcable {
public:
    // Creates the rings and side A. a_rxq: queues from B to A (A's RX, B's TX);
    // a_txq: queues from A to B.
    vcable(const std::string& name, std::uint16_t a_rxq, std::uint16_t a_txq, unsigned ring_size, int socket);
    // Creates side B. Separate so that a caller making several cables can give
    // all the A sides the low port ids (the appliance's ports come first).
    std::uint16_t open_side_b();
    ~vcable();
    vcable(const vcable&) = delete;
    vcable& operator=(const vcable&) = delete;

    [[nodiscard]] std::uint16_t side_a() const noexcept { return side_a_; }
    [[nodiscard]] std::uint16_t side_b() const noexcept { return side_b_; }
    // The ring behind side A's TX queue q (what B receives on its RX queue q).
    [[nodiscard]] const rte_ring* a_tx_ring(std::uint16_t q) const noexcept { return to_b_.at(q).get(); }
    // Packets waiting to be received by A (all of A's RX rings).
    [[nodiscard]] unsigned pending_to_a() const noexcept;
    [[nodiscard]] unsigned pending_to_b() const noexcept;
    // A cut cable: frees what A sent and B has not received yet (lost on the
    // wire). Only on the thread that receives on side B (it is the rings' one
    // consumer). Returns the packets freed.
    unsigned discard_to_b() noexcept;

private:
    std::string name_;
    int socket_ = 0;
    bool has_b_ = false;
    std::vector<ring> to_a_;
    std::vector<ring> to_b_;
    std::uint16_t side_a_ = 0;
    std::uint16_t side_b_ = 0;
};

} // namespace shadownet::dpdk
