// The generator engine: sends each client's demand (its profile, sampled every
// tick) as stamped packets, paced from the TSC, and measures what comes back:
// per client received, lost, duplicated and reordered packets, and latency.
//
// Threads. One thread drives an engine: it calls tick() on the tick and
// poll() in between (the shadowgen main lcore, or the appliance's control
// lcore for the embedded default). Nothing is shared with other threads; the
// ports are configured and started by the caller.
//
// Pacing. At each tick every client's rate gives it a quota of packets for the
// tick (fractions carried over); during the tick the engine releases packets
// at the total rate, taking clients in turn so that their packets interleave.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "shadownet/core/json.hpp"
#include "shadownet/gen/scenario.hpp"

namespace shadownet::gen {

struct engine_port {
    std::uint16_t port_id = 0;
    std::uint16_t txq = 1; // queues it sends on; client c always uses the same port and queue (as RSS would)
    std::uint16_t rxq = 1; // queues it receives on
};

// The payload stamp, right after the L4 header. 22 bytes on the wire, so that
// a 64-byte UDP/IPv4 frame carries it (14 + 20 + 8 + 22 = 64): magic (2),
// client (4), sequence (8), TSC (8), unaligned, host byte order.
struct payload_stamp {
    std::uint16_t magic = 0;
    std::uint32_t client = 0; // index in the engine's client list
    std::uint64_t seq = 0;    // per client
    std::uint64_t tsc = 0;    // when it was sent
};
inline constexpr std::uint16_t stamp_magic = 0x5348; // "SH"
inline constexpr std::size_t stamp_bytes = 22;

void write_stamp(std::uint8_t* at, const payload_stamp& s) noexcept;
payload_stamp read_stamp(const std::uint8_t* at) noexcept;

// Log-linear latency histogram: exact below 16 ns, then 16 buckets per power of two.
class latency_histogram {
public:
    void add(std::uint64_t ns) noexcept;
    void merge(const latency_histogram& o) noexcept;
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
    [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
    // The value below which a fraction q (0..1) of the samples fall; 0 when empty.
    [[nodiscard]] std::uint64_t quantile(double q) const noexcept;

private:
    static constexpr std::size_t buckets = 64 * 16;
    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
};

struct client_stats {
    double offered = 0;          // packets the profile asked for so far
    std::uint64_t sent = 0;      // accepted by a TX queue
    std::uint64_t backpressure = 0; // refused by a full TX queue (never sent)
    std::uint64_t received = 0;  // came back stamped, first copy
    std::uint64_t duplicates = 0;
    std::uint64_t reordered = 0; // arrived after a later packet of the same client
    [[nodiscard]] std::uint64_t lost() const noexcept { return sent > received ? sent - received : 0; }
};

struct engine_totals {
    double offered = 0;
    std::uint64_t sent = 0, backpressure = 0, received = 0, duplicates = 0, reordered = 0, foreign = 0;
    [[nodiscard]] std::uint64_t lost() const noexcept { return sent > received ? sent - received : 0; }
};

// One row of the per-tick time series, per group.
struct tick_row {
    double t = 0;
    std::uint32_t group = 0;
    double offered_pps = 0;
    double sent_pps = 0;
    double received_pps = 0;
};

// Writes the totals and a "latency_ns" object (p50, p90, p99, p99.9, max)
// as members of the JSON object being written: shadowgen's summary and the
// appliance's "traffic" section share the one format.
void write_traffic_json(json_writer& w, const engine_totals& t, const latency_histogram& latency);

class engine {
public:
    engine(scenario sc, std::vector<engine_port> tx, std::vector<engine_port> rx, rte_mempool* pool,
           std::uint16_t burst);

    // Control: starts the next tick at time t (seconds since start): samples
    // every client's profile and sets its quota. Returns false once the
    // scenario's duration has passed (the engine stops sending).
    bool tick(double t);
    // Sends what the pacing allows now and receives what has come back.
    void poll() noexcept;
    void receive() noexcept;
    void stop_sending() noexcept { sending_ = false; }

    [[nodiscard]] const scenario& plan() const noexcept { return sc_; }
    [[nodiscard]] std::size_t client_count() const noexcept { return clients_.size(); }
    [[nodiscard]] const client_stats& stats_of(std::size_t client) const noexcept { return stats_[client]; }
    [[nodiscard]] std::uint32_t group_of(std::size_t client) const noexcept { return clients_[client].group; }
    [[nodiscard]] engine_totals totals() const noexcept;
    [[nodiscard]] const latency_histogram& latency() const noexcept { return latency_; }
    [[nodiscard]] const std::vector<tick_row>& series() const noexcept { return series_; }
    [[nodiscard]] double current_rate() const noexcept { return tick_rate_; }

private:
    struct client {
        std::uint32_t group;
        std::uint32_t src;      // host order
        std::uint16_t port;     // index in tx_: a client always leaves on the same port
        std::uint16_t queue;    // and the same queue (as RSS would place it)
        std::uint16_t ip_cksum = 0; // its IPv4 header checksum when the group has a template (network order)
        double rate = 0;        // pps during the current tick
        double carry = 0;       // fractional packets owed from earlier ticks
        std::uint32_t quota = 0;
        std::uint64_t next_seq = 0;
        std::uint64_t max_seen = 0;  // highest sequence received + 1
        std::uint64_t window = 0;    // bit i: sequence max_seen - 1 - i was received
    };

    void send_burst(unsigned n) noexcept;
    void build_templates();
    void fill(rte_mbuf* m, std::uint32_t index, std::uint64_t seq, std::uint64_t tsc) noexcept;
    void fill_general(rte_mbuf* m, std::uint32_t index, std::uint64_t seq, std::uint64_t tsc) noexcept;

    // Groups with a fixed frame size and no spoofing get their headers from a
    // template (one copy, then source address, checksum, port and stamp):
    // the generator's hot loop then writes ~30 bytes a packet instead of
    // building every header.
    struct header_template {
        bool usable = false;
        std::uint16_t size = 0;
        std::uint16_t header_len = 0;
        std::array<std::uint8_t, 64> bytes{};
    };
    std::vector<header_template> templates_; // by group
    void account(const payload_stamp& stamp, std::uint64_t now) noexcept;

    scenario sc_;
    std::vector<engine_port> tx_;
    std::vector<engine_port> rx_;
    rte_mempool* pool_;
    std::uint16_t burst_;
    std::vector<profile> profiles_; // by group, built once (a trace profile scans its trace)
    std::vector<client> clients_;
    std::vector<client_stats> stats_;
    std::vector<std::uint32_t> active_;  // clients with quota left this tick
    std::size_t cursor_ = 0;
    bool sending_ = true;
    double tick_rate_ = 0;               // total pps this tick
    std::uint64_t tick_start_tsc_ = 0;
    std::uint64_t tick_released_ = 0;    // packets released in this tick
    std::uint64_t tick_quota_ = 0;
    double last_t_ = -1;
    std::vector<std::uint64_t> group_sent_mark_, group_recv_mark_;
    std::vector<double> group_offered_mark_;
    latency_histogram latency_;
    std::uint64_t foreign_ = 0;
    double ns_per_tsc_ = 0;
    std::vector<tick_row> series_;
};

} // namespace shadownet::gen
