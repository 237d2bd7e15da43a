// Built-in traffic: the embedded default's packet source and sink.
//
// It plays the far end of the virtual cables: it transmits UDP/IPv4 client
// traffic into the appliance's virtual ports and receives what the appliance
// forwards back out. Every payload carries a stamp (magic, stream, sequence
// number, TSC) so that the receiver can tell our packets from anything else and
// notice reordering. A stream is one client entering on one port: clients may
// legitimately take different paths (primary, shadow), so order is only
// promised, and checked, within a client's stream.
//
// Ownership: one thread (the control lcore in the embedded default) calls
// poll()/stop_sending(); the counters are plain fields read by that same
// thread. The ports are configured and started by the caller.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "shadownet/core/config.hpp"

namespace shadownet::gen {

struct traffic_port {
    std::uint16_t port_id = 0;
    std::uint16_t txq = 1; // queues the generator transmits on (the appliance's RX queues)
    std::uint16_t rxq = 1; // queues it receives on (all the appliance's TX queues, shadow included)
};

struct traffic_totals {
    std::uint64_t sent = 0;        // accepted by the appliance's RX rings
    std::uint64_t backpressure = 0; // not accepted (appliance RX ring full): never reached the appliance
    std::uint64_t received = 0;     // came back with our stamp
    std::uint64_t foreign = 0;      // came back without our stamp
    std::uint64_t reordered = 0;    // arrived with a lower sequence than one already seen on its (port, client) stream
};

// The payload stamp, right after the UDP header.
struct payload_stamp {
    std::uint32_t magic;
    std::uint32_t stream;
    std::uint64_t seq;
    std::uint64_t tsc;
};
inline constexpr std::uint32_t stamp_magic = 0x53484457; // "SHDW"

class builtin_traffic {
public:
    builtin_traffic(const builtin_traffic_config& cfg, std::vector<traffic_port> ports, rte_mempool* pool,
                    std::uint16_t burst);

    // Sends what the pacing allows now and receives what has come back.
    void poll() noexcept;
    // Receive only: used while draining at shutdown.
    void receive() noexcept;
    void stop_sending() noexcept { sending_ = false; }

    [[nodiscard]] const traffic_totals& totals() const noexcept { return totals_; }

private:
    void send_on(std::size_t port_index, unsigned n) noexcept;
    // Writes packet number k of (port, queue); returns its stream.
    std::uint32_t fill(rte_mbuf* m, std::size_t port_index, std::uint16_t queue, std::uint64_t k) noexcept;

    static constexpr std::uint16_t max_queues_per_port = 16;

    builtin_traffic_config cfg_;
    std::vector<traffic_port> ports_;
    rte_mempool* pool_;
    std::uint16_t burst_;
    bool sending_ = true;
    std::uint64_t start_tsc_ = 0; // set at the first poll: set-up time is not owed traffic
    double pkts_per_tsc_ = 0;     // 0: unpaced
    std::uint64_t attempted_ = 0; // packets the pacer has released so far
    std::vector<std::uint64_t> picked_;        // per (port, queue): packets made, to spread clients and flows
    std::vector<std::uint64_t> next_seq_;      // per stream (port * clients + client)
    std::vector<std::uint64_t> max_seen_;      // per stream, highest sequence received + 1
    std::vector<std::uint16_t> next_queue_;    // per port, round-robin over its TX queues
    std::size_t next_port_ = 0;
    traffic_totals totals_;
};

} // namespace shadownet::gen
