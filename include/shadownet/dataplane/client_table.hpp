// The client table: client key -> route, on rte_hash with lock-free readers.
//
// Threads. Forwarding lcores only look up (lock-free, any number of them); the
// control lcore is the single writer (add, switch route, remove), so the hash
// needs no writer lock either. Deleted entries are reclaimed through RCU
// (rte_rcu_qsbr attached to the hash in defer-queue mode): a key slot, and
// the client id stored in its route, are reused only once every registered
// forwarding lcore has reported a quiescent state since the delete, so a
// reader can never see a recycled id for an old key.
//
// Forwarding lcores register with rcu() by lcore id, report quiescence every
// few loops and go offline while idle (see dataplane::worker).
//
// Generation. Forwarding lcores keep a cache of recent lookups
// (client_cache.hpp). The control lcore moves generation() after every route
// change (after the new word is stored) and in every delete (after the entry
// is marked dead, before the key goes and its RCU token is released); an
// lcore loads it once per burst and forgets its cache when it moved. A dead
// entry (is_dead) is looked up as a miss and never cached.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <rte_hash.h>
#include <rte_rcu_qsbr.h>

#include "shadownet/dataplane/client_key.hpp"
#include "shadownet/dataplane/route.hpp"

namespace shadownet::dataplane {

class client_table {
public:
    // Room for max_clients clients with ids 1..max_clients (0 is the default client).
    client_table(const std::string& name, std::uint32_t max_clients, int socket);
    ~client_table();
    client_table(const client_table&) = delete;
    client_table& operator=(const client_table&) = delete;

    // Fast path. keys[i] -> routes[i] (packed) where bit i of the result is set.
    std::uint64_t lookup_bulk(const client_key* const* keys, unsigned n, std::uint64_t* routes) const noexcept
    {
        std::uint64_t hits = 0;
        rte_hash_lookup_bulk_data(hash_, reinterpret_cast<const void**>(const_cast<const client_key**>(keys)), n,
                                  &hits, reinterpret_cast<void**>(routes));
        return hits;
    }
    // Fast path: loaded once per burst, before the burst's lookups (see above).
    [[nodiscard]] std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
    // A hit on a client being deleted: treat as a miss. The word keeps the
    // id below the flag (ids are < 2^24) for the RCU reclaim callback.
    static constexpr std::uint32_t dead_flag = 0x80000000U;
    static constexpr bool is_dead(std::uint64_t route_word) noexcept
    {
        return (static_cast<std::uint32_t>(route_word) & dead_flag) != 0;
    }

    // Set by the control lcore when no id is left; read by forwarding lcores
    // to decide between the default client and a client_limit drop.
    [[nodiscard]] bool full() const noexcept { return full_.load(std::memory_order_relaxed); }

    // Control lcore only. Registers a new client on its primary path; nullopt
    // when the key is already there (returns nothing new) or no id is left.
    std::optional<std::uint32_t> add(const client_key& key);
    // The id the next successful add() will return. Lets the control lcore
    // read the id's counters (left by an earlier client) before any lcore can
    // count a packet for the new one.
    [[nodiscard]] std::optional<std::uint32_t> next_id() const
    {
        if (free_.empty())
            return std::nullopt;
        return free_.back();
    }
    // The client's id, if the key is known.
    [[nodiscard]] std::optional<std::uint32_t> find(const client_key& key) const;
    // Stores a new route for a registered client: one release store. The
    // epoch is advanced here, so every change is seen as a change.
    route set_route(std::uint32_t client, path via, std::uint8_t port = route_default_port, std::uint8_t queue = 0);
    [[nodiscard]] route get_route(std::uint32_t client) const;
    [[nodiscard]] const client_key& key_of(std::uint32_t client) const { return slots_.at(client).key; }
    [[nodiscard]] bool exists(std::uint32_t client) const noexcept
    {
        return client < slots_.size() && slots_[client].in_use;
    }
    // Deletes the client; its id becomes reusable after an RCU grace period
    // (reclaimed on later deletes, once every forwarding lcore has moved on).
    void remove(std::uint32_t client);

    [[nodiscard]] std::uint32_t size() const noexcept { return count_; }
    [[nodiscard]] std::uint32_t capacity() const noexcept { return max_clients_; }
    [[nodiscard]] rte_rcu_qsbr* rcu() const noexcept { return rcu_; }
    // A thread that looks clients up from outside dataplane::lcore_main (the
    // main lcore when it forwards) registers and unregisters by lcore id.
    void register_reader(unsigned lcore) const noexcept { rte_rcu_qsbr_thread_register(rcu_, lcore); }
    void unregister_reader(unsigned lcore) const noexcept { rte_rcu_qsbr_thread_unregister(rcu_, lcore); }
    [[nodiscard]] rte_hash* hash() const noexcept { return hash_; }

private:
    struct slot {
        client_key key;
        route current;
        bool in_use = false;
    };
    static void on_reclaimed(void* self, void* key_data);

    std::uint32_t max_clients_;
    rte_hash* hash_ = nullptr;
    rte_rcu_qsbr* rcu_ = nullptr;
    std::vector<slot> slots_;          // by client id; control lcore only
    std::vector<std::uint32_t> free_;  // ids ready for reuse
    std::uint32_t count_ = 0;
    std::atomic<bool> full_{false};
    // Written by the control lcore only, read every burst by the lcores: a
    // line of its own, away from count_ and the vectors.
    alignas(64) std::atomic<std::uint64_t> generation_{0};
    char pad_[64 - sizeof(std::atomic<std::uint64_t>)] = {};

    void bump_generation() noexcept
    {
        generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
};

} // namespace shadownet::dataplane
