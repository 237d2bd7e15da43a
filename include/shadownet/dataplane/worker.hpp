// Forwarding lcores: classify packets per client and transmit them on the
// client's route, in one of two modes.
//
// - run-to-completion: one lcore receives, classifies and transmits.
// - pipeline: RX lcores receive and classify, then hand each packet to the
//   worker lcore chosen by its flow hash over a single-producer/single-
//   consumer rte_ring (a flow always goes to the same worker, so per-flow
//   order holds); worker lcores transmit. A full ring is a counted drop
//   (ring_full), never a stall.
//
// Ownership. lcore_conf is built by the control lcore before launch and is
// read-only while the lcore runs. lcore_state (hold queue, RCU status) is
// private to the lcore. The lcore writes only its own lcore_counters and its
// own client_lcore_stats array. `quit` is stored by the control lcore
// (release) and loaded once per loop (acquire); the lcore then finishes its
// pass, empties its hold queue and hand-off rings, and returns, so at exit
// every packet it received is transmitted or counted.
//
// RCU. Forwarding lcores that read the client table are registered with its
// QSBR variable: they report a quiescent state every `quiescent_every` loops
// and go offline after `offline_after_idle` empty loops (so an idle lcore
// never holds back reclamation), coming back online before their next lookup.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "shadownet/dataplane/capacity.hpp"
#include "shadownet/dataplane/client_cache.hpp"
#include "shadownet/dataplane/client_key.hpp"
#include "shadownet/dataplane/client_table.hpp"
#include "shadownet/dataplane/counters.hpp"
#include "shadownet/dataplane/egress.hpp"
#include "shadownet/dataplane/route.hpp"

namespace shadownet::dataplane {

inline constexpr std::uint16_t no_port = 0xffff;
inline constexpr unsigned max_queues = 64;
inline constexpr unsigned max_burst = 64; // rte_hash bulk lookups take at most 64 keys
inline constexpr std::uint32_t no_client = 0xffffffff; // a drop not attributed to any client (parse errors)

struct rx_queue_ref {
    std::uint16_t port = 0;
    std::uint16_t queue = 0;
};

// How to tell that a TX queue has drained (see route.hpp, step 3).
struct egress_probe {
    enum class kind : std::uint8_t {
        immediate,  // the PMD is done with a packet when tx_burst returns (null, pcap)
        ring,       // a ring-backed port: drained when the ring is empty
        descriptor, // a NIC: drained when the descriptor of the last packet is done
        grace,      // unknown: drained a grace time after the last packet
    };
    kind how = kind::grace;
    const rte_ring* ring = nullptr; // kind::ring: the ring the port transmits into
    std::uint16_t ring_size = 0;    // kind::descriptor: TX descriptors in the queue
};

// The egress an lcore last used for a client (route.hpp, step 2). Private to
// the lcore; 16 bytes, four to a cache line.
struct client_egress {
    std::uint64_t mark = 0;   // when the client's last packet went out: ring position or TSC (probe kind)
    std::uint16_t epoch = 0;
    std::uint8_t port = 0;
    std::uint8_t queue = 0;
    std::uint16_t held = 0;   // packets of the client in the hold queue
    std::uint8_t valid = 0;   // 0 until the lcore first sends for the client
    std::uint8_t blocked = 0; // scratch for one pass over the hold queue
};
static_assert(sizeof(client_egress) == 16);
using egress_probe_table = std::array<std::array<egress_probe, max_queues>, max_ports>;

enum class lcore_role : std::uint8_t { rtc, rx, worker };

struct lcore_conf {
    unsigned lcore_id = 0;
    lcore_role role = lcore_role::rtc;
    std::vector<rx_queue_ref> rx;                    // rtc and rx lcores
    std::vector<rte_ring*> handoff_out;              // rx lcores: one ring per worker, in worker order
    std::vector<rte_ring*> handoff_in;               // workers: one ring per rx lcore
    std::array<std::uint16_t, max_ports> peer{};     // logical egress by ingress port; no_port: none
    // Which physical ports carry each logical egress's primary and shadow
    // path, and each port's health (egress.hpp). Control writes, lcores read.
    const egress_table* egress = nullptr;
    std::uint16_t primary_txq = 0;                   // this lcore's primary TX queue on every port
    std::uint16_t shadow_txq_base = 0;               // this lcore's shadow TX queues on every port
    std::uint16_t shadow_txq_count = 0;
    // Ports whose device had room for the shadow TX queues. On the others the
    // shadow path shares the lcore's primary queue (no isolation, still lossless).
    std::array<bool, max_ports> has_shadow_txq{};
    std::uint16_t burst = 32;
    client_key_config key;
    bool overflow_to_default = true;                 // beyond --max-clients: default client, else drop
    const client_table* clients = nullptr;
    rte_ring* connect_ring = nullptr;                // this lcore -> control: keys of unknown sources
    const egress_probe_table* probes = nullptr;
    std::uint64_t grace_cycles = 0;
    unsigned quiescent_every = 64;
    unsigned offline_after_idle = 1024;
    int handoff_field = -1;                          // mbuf dynfield offset (pipeline)
    lcore_counters* counters = nullptr;
    client_lcore_stats* clients_stats = nullptr;     // [client_table capacity + 1], read by control
    client_egress* clients_egress = nullptr;         // [client_table capacity + 1], lcore-private
    // Capacity (capacity.hpp). Primary meters: lcore-private, one per egress
    // port, nullptr where the port's primary path is unlimited.
    std::array<token_meter*, max_ports> primary_meter{};
    const shadow_budget* shadow_budgets = nullptr;   // [client_table capacity + 1], control writes; nullptr: none
    // The route of packets from sources the table does not hold yet (the
    // default client): a packed route the control lcore stores (relaxed) and
    // lcores load per missed burst; nullptr: the primary.
    const std::atomic<std::uint64_t>* miss_route = nullptr;
    client_shadow_meter* shadow_meters = nullptr;    // [client_table capacity + 1], lcore-private
    double budget_share = 1.0;                       // this lcore's share of every client's shadow budget
    double capacity_burst_s = 0.002;                 // bucket depth of a shadow budget, in seconds of its rate
    std::uint64_t stall_cycles = 0;                  // 1 ms of TSC: the shortest gap counted as a stall; 0: none counted
    // Shadow pools (capacity.hpp), by physical egress port: the words the
    // control lcore stores, the meters this lcore derives from them. nullptr: no pools.
    const shadow_budget* shadow_pools = nullptr;     // [max_ports], control writes (relaxed)
    client_shadow_meter* shadow_pool_meters = nullptr; // [max_ports], lcore-private
    const std::atomic<bool>* quit = nullptr;
    // Forwarding paused (console `stop`): rtc and rx lcores do not poll their
    // RX queues while it is set. Stored by the control lcore (release), loaded
    // once per loop (acquire). nullptr: never paused.
    const std::atomic<bool>* pause = nullptr;
};

struct hold_entry {
    rte_mbuf* m;
    std::uint32_t client;
    std::uint16_t epoch;
    std::uint16_t in_port;
    std::uint8_t port;
    std::uint8_t queue;
    path via;
    std::uint64_t since_tsc;
};

inline constexpr unsigned hold_capacity = 1024;

// Lcore-private, allocated by the control lcore, used only by its lcore.
struct alignas(64) lcore_state {
    std::array<hold_entry, hold_capacity> hold;
    unsigned hold_count = 0;
    bool rcu_online = false;
    unsigned idle_loops = 0;
    std::uint64_t loop = 0;
    std::uint64_t last_loop_tsc = 0; // start of the previous iteration (0: none, or paused since)
    std::array<std::uint64_t, 1024> announce_filter{}; // key hash -> TSC of last announce
    client_cache cache;                                // lookups in front of the client table (rtc, rx)
};

// What a pipeline RX lcore leaves in the mbuf for the worker.
struct handoff_meta {
    std::uint64_t route;
    std::uint16_t in_port;
};

// One pass: poll RX queues / hand-off rings, classify, transmit. Returns packets handled.
unsigned lcore_poll(const lcore_conf& conf, lcore_state& state) noexcept;
// One pass while forwarding is paused: no RX; the hold queue still drains and
// the lcore leaves RCU so that it holds nothing back. Workers are never paused
// (they only empty rings that the paused RX lcores no longer fill).
void lcore_paused_poll(const lcore_conf& conf, lcore_state& state) noexcept;
// At exit: empties the hold queue (bounded wait for draining) and, for
// workers, the hand-off rings. Every packet ends transmitted or counted.
void lcore_finish(const lcore_conf& conf, lcore_state& state) noexcept;

// rte_eal_remote_launch entry: `arg` is an lcore_launch*.
struct lcore_launch {
    const lcore_conf* conf;
    lcore_state* state;
};
int lcore_main(void* arg) noexcept;

// The mbuf dynamic field carrying handoff_meta; registered once by the control lcore.
int register_handoff_field();

} // namespace shadownet::dataplane
