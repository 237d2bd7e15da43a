// The generator engine: sends each client's demand (its profile, sampled every
// tick) as stamped packets, paced from the TSC, and measures what comes back:
// per client received, lost, duplicated and reordered packets, and latency.
//
// Threads. One control thread calls tick() on the tick, receive() (or poll(),
// which is poll_tx(0) then receive()) and every accessor; it alone writes the
// receive side (per-client sequence windows, the histograms, foreign). The
// clients are partitioned into `tx_lcores` TX shards by TX queue: shard s
// owns the queues q with q % tx_lcores == s on every TX port, and only the
// lcore calling poll_tx(s) writes shard s and its clients' send counters. The
// control thread hands a tick to the shards through a seqlock (tick_mailbox);
// each shard then sets its own clients' quotas and paces them from the TSC.
// Send counters cross threads as single-writer relaxed atomics (load + store,
// never read-modify-write). With one shard, one thread calling tick() and
// poll() is the whole contract (the appliance's embedded default). The
// ports are configured and started by the caller.
//
// Pacing. At each tick every client's rate gives it a quota of packets for the
// tick (fractions carried over); during the tick each shard releases its
// clients' packets at their total rate, taking clients in turn so that their
// packets interleave.
//
// Latency. Every stamped packet that comes back adds its latency to the
// totals' histogram and to its client's (latency.hpp: 1.1 KiB each, allocated
// with the engine, so receiving allocates nothing). Clients past
// `latency_clients` (default 16 384, 18 MiB) count in the totals only.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "shadownet/core/json.hpp"
#include "shadownet/dataplane/counters.hpp"
#include "shadownet/gen/latency.hpp"
#include "shadownet/gen/scenario.hpp"

namespace shadownet::gen {

struct engine_port {
    std::uint16_t port_id = 0;
    std::uint16_t txq = 1; // queues it sends on (at least one per TX lcore); a client always uses the same one (as RSS would)
    std::uint16_t rxq = 1; // queues it receives on
};

// The payload stamp, right after the L4 header. 22 bytes on the wire, so that
// a 64-byte UDP/IPv4 frame carries it (14 + 20 + 8 + 22 = 64; IPv6: 84 bytes):
// magic (2), client (4), sequence (8), TSC (8), unaligned, host byte order.
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
// Where the stamp sits in an Ethernet frame: right after the UDP or TCP
// header (with its options) of untagged IPv4 (with options) or IPv6 (no
// extension headers); 0 when the frame has no such header or no room for a
// stamp after it. Both the receive side and pcap replay use it.
std::size_t stamp_offset(const std::uint8_t* frame, std::size_t len) noexcept;

struct client_stats {
    double offered = 0;          // packets the profile asked for so far
    std::uint64_t sent = 0;      // accepted by a TX queue
    std::uint64_t unstamped = 0; // of those, pcap frames with no room for a stamp (not expected back)
    std::uint64_t backpressure = 0; // refused by a full TX queue (never sent)
    std::uint64_t received = 0;  // came back stamped, first copy
    std::uint64_t duplicates = 0;
    std::uint64_t reordered = 0; // arrived after a later packet of the same client
    [[nodiscard]] std::uint64_t lost() const noexcept
    {
        return sent > unstamped + received ? sent - unstamped - received : 0;
    }
};

struct engine_totals {
    double offered = 0;
    std::uint64_t sent = 0, unstamped = 0, backpressure = 0, received = 0, duplicates = 0, reordered = 0,
                  foreign = 0;
    // The TX lcores' stalls (gaps of 1 ms or more between paced polls, by
    // length as dataplane::stall_buckets): after each the lcore is behind its
    // schedule (scenario::catch_up says how it catches up).
    std::array<std::uint64_t, dataplane::stall_buckets> tx_stalls{};
    double max_tx_stall_ms = 0;
    [[nodiscard]] std::uint64_t lost() const noexcept
    {
        return sent > unstamped + received ? sent - unstamped - received : 0;
    }
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

// A stall histogram (dataplane::stall_buckets) as an object under `key`:
// shadowgen's TX lcores here, the appliance's forwarding lcores in its summary.
void write_stalls_json(json_writer& w, std::string_view key,
                       const std::array<std::uint64_t, dataplane::stall_buckets>& counts);

class engine {
public:
    static constexpr std::size_t default_latency_clients = 16384;

    // tx_lcores: TX shards (see the thread contract above); every TX port
    // needs at least that many TX queues. Throws std::invalid_argument when
    // not, or when a pcap frame does not fit the pool's mbufs.
    // latency_clients: the first clients that get a latency histogram of their own.
    engine(scenario sc, std::vector<engine_port> tx, std::vector<engine_port> rx, rte_mempool* pool,
           std::uint16_t burst, unsigned tx_lcores = 1, std::size_t latency_clients = default_latency_clients);
    ~engine();
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    // Control: starts the next tick at time t (seconds since start); the
    // shards set their clients' quotas from their profiles when they next
    // poll. Returns false once the scenario's duration has passed (the
    // engine stops sending).
    bool tick(double t);
    // Single-lcore use: poll_tx(0), then receive().
    void poll() noexcept;
    // TX lcore `shard` only: sends what its pacing allows now.
    void poll_tx(unsigned shard) noexcept;
    // Control thread: receives what has come back.
    void receive() noexcept;
    void stop_sending() noexcept { sending_.store(false, std::memory_order_relaxed); }

    [[nodiscard]] const scenario& plan() const noexcept { return sc_; }
    [[nodiscard]] unsigned tx_lcores() const noexcept { return n_shards_; }
    [[nodiscard]] std::size_t client_count() const noexcept { return locate_.size(); }
    [[nodiscard]] client_stats stats_of(std::size_t client) const noexcept;
    [[nodiscard]] std::uint32_t group_of(std::size_t client) const noexcept;
    [[nodiscard]] engine_totals totals() const noexcept;
    [[nodiscard]] const latency_histogram& latency() const noexcept { return latency_; }
    // The client's own latency histogram; nullptr past `latency_clients`.
    [[nodiscard]] const client_latency_histogram* latency_of(std::size_t client) const noexcept
    {
        return client < client_latency_.size() ? &client_latency_[client] : nullptr;
    }
    [[nodiscard]] const std::vector<tick_row>& series() const noexcept { return series_; }
    // Total pps asked for in the shards' current ticks.
    [[nodiscard]] double current_rate() const noexcept;

private:
    struct tx_client;    // a client's send side, owned by one shard (engine.cpp)
    struct tx_shard;     // one TX lcore's clients, queues and pacing (engine.cpp)
    struct group_frames; // a group's header template or pcap frames, read-only once built (engine.cpp)
    struct rx_client {
        std::uint64_t max_seen = 0; // highest sequence received + 1
        std::uint64_t window = 0;   // bit i: sequence max_seen - 1 - i was received
        std::uint64_t received = 0, duplicates = 0, reordered = 0;
    };
    struct where {
        std::uint32_t shard;
        std::uint32_t slot;
    };
    // The control thread's tick for the shards: a seqlock over atomic fields
    // (seq odd while written; a shard that sees it change retries next poll).
    struct alignas(64) tick_mailbox {
        std::atomic<std::uint64_t> seq{0};
        std::atomic<double> t{0};
        std::atomic<std::uint64_t> tsc{0};
        std::atomic<bool> running{true};
    };

    void shard_tick(tx_shard& s, double t, std::uint64_t tsc, bool running) noexcept;
    unsigned send_burst(tx_shard& s, unsigned n, std::uint64_t tsc) noexcept;
    void build_frames();
    void account(const payload_stamp& stamp, std::uint64_t now) noexcept;
    [[nodiscard]] const tx_client& tx_of(std::size_t client) const noexcept;

    scenario sc_;
    std::vector<engine_port> tx_;
    std::vector<engine_port> rx_;
    rte_mempool* pool_;
    std::uint16_t burst_;
    unsigned n_shards_;
    std::vector<profile> profiles_; // by group, built once (a trace profile scans its trace)
    std::vector<std::unique_ptr<group_frames>> frames_; // by group: header template or pcap frames
    std::unique_ptr<tx_shard[]> shards_;
    std::vector<where> locate_;     // by client index
    std::vector<std::uint32_t> group_of_;
    tick_mailbox mailbox_;
    std::atomic<bool> sending_{true};
    double tick_tsc_ = 0;           // a tick in TSC cycles
    std::uint64_t stall_tsc_ = 0;   // 1 ms in TSC cycles: the shortest gap between TX polls counted as a stall

    // Control thread only.
    std::vector<rx_client> rx_clients_;
    double last_t_ = -1;
    std::vector<std::uint64_t> group_sent_mark_, group_recv_mark_;
    std::vector<double> group_offered_mark_;
    latency_histogram latency_;
    std::vector<client_latency_histogram> client_latency_; // by client index, the first latency_clients
    std::uint64_t foreign_ = 0;
    double ns_per_tsc_ = 0;
    std::vector<tick_row> series_;
};

} // namespace shadownet::gen
