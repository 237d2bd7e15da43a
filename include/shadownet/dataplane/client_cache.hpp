// The client cache: a per-lcore exact-match cache (EMC) in front of the
// client table, as Open vSwitch puts one in front of its classifier.
//
// What it holds. Client keys that fit in 64 bits (everything but IPv6
// sources: an IPv4 source with its prefix, a VLAN id, a source MAC) map to
// the route word the client table returned for them. A lookup is one CRC32
// instruction, one cache line (a set of four 16-byte entries) and up to four
// 64-bit compares; only misses go on to rte_hash with the full 20-byte key.
// Misses of the table (unknown sources) are never cached.
//
// Invalidation (the contract with client_table, see client_table.hpp):
// - the table has a generation, stored (release) by the control lcore after
//   every route change and before every delete (client_table::generation);
// - the lcore loads it (acquire) once per burst, before its first lookup,
//   and calls sync(): a generation it has not seen makes every entry stale at
//   once (a new 8-bit tag; the sets are wiped only when the tag wraps);
// - so a burst that starts after a route switch or a delete never reads an
//   entry filled before it. A route switch is seen at the next burst, as it
//   is without the cache; the switch protocol (route.hpp) then drains the
//   old egress as usual.
// - Deletes: client_table::remove first marks the entry dead (lookups treat a
//   dead word as a miss and it is never cached), then moves the generation,
//   then deletes the key, whose RCU token is released after both. An lcore
//   whose quiescent state counts for that delete has therefore seen the new
//   generation, so by the time the id can be reused (after the grace period)
//   no cache holds the old key -> id mapping; before that, the lcore may
//   still count a packet for the departing id, as it may through rte_hash.
//
// Getting out of the way (adaptive bypass, like OVS's EMC insertion
// probability, but deterministic). A cache that does not hit costs a probe
// and an insert per packet on top of the table lookup (~10 % at 1 M flows /
// 100 k clients). So the lcore judges its own hit rate and stops using the
// cache when it does not pay:
// - on: every burst probes and inserts. Classified packets and the cache's
//   hits among them are summed over a window of `policy.window` packets
//   (4 096); a window with hits below 1/4 of its packets turns the cache
//   off. IPv6 sources (no short key, never cached) count as misses, so an
//   lcore that sees mostly IPv6 turns its useless cache off too. The first
//   window after turning back on only warms the cache and is not judged.
// - off: no short key, no hash, no prefetch, no probe, no insert; every
//   packet goes straight to the client table. After `policy.off_windows`
//   windows' worth of packets (64 × 4 096 = 256 Ki) the cache turns on
//   again for a trial (one warm-up window, one judged window), so it comes
//   back by itself when the working set shrinks; under a set it can never
//   hold it probes ~3 % of packets (2 of every 66 windows).
// - window counts are plain members of this per-lcore object: no atomics,
//   no sharing. The exported cache_hits / cache_misses counters are
//   unchanged (single writer, relaxed); packets that bypass the cache count
//   as misses (they went on to the client table).
// - policy.window == 0: never off (the cache as before; benchmarks use it).
//
// Invalidation while off. begin_burst() calls sync() first, on every burst,
// on or off: an off cache still follows the generation (one load and one
// compare per burst). An entry is tagged with the tag of the generation it
// was filled under; a generation seen while off moves the tag just the
// same, so an entry filled before a route change or delete that happened
// while the cache was off never matches after it turns back on. Entries
// whose tag still matches were filled under the table's current generation,
// which moves on every route change and delete, so they are still the
// table's answer however long the cache was off; that is why going off does
// not wipe the sets (a working set that shrinks back finds its entries at
// once). Were sync ever skipped while off, the first burst back on would
// still have to sync before its first probe (begin_burst's order) — and the
// delete argument above needs nothing more: an off lcore serves nothing from
// the cache, and it syncs before serving anything again.
//
// Ownership: one per forwarding lcore (in lcore_state), used only by it. No
// locks, no allocation, noexcept.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#else
#include <rte_hash_crc.h>
#endif

#include "shadownet/dataplane/client_key.hpp"

namespace shadownet::dataplane {

// The short key: bits 0-47 the payload (IPv4 address bytes in network order /
// VLAN id / MAC bytes), 48-49 the kind (1 IPv4, 2 VLAN, 3 MAC), 50-55 the
// IPv4 prefix length, 56-63 zero (the cache's tag goes there). 0: the key
// does not fit (IPv6 source) and goes straight to the client table.
inline constexpr std::uint64_t no_short_key = 0;

// Same inputs as make_client_key, same equivalence: two packets get the same
// short key if and only if they get the same client_key.
inline std::uint64_t make_short_key(const client_key_config& cfg, unsigned ip_version, const std::uint8_t* src_addr,
                                    std::uint16_t outer_vlan, const std::uint8_t* src_mac) noexcept
{
    switch (cfg.mode) {
    case client_key_mode::src_ip:
        if (ip_version == 4) {
            std::uint32_t a;
            std::memcpy(&a, src_addr, 4);
            if (cfg.prefix_v4 < 32) {
                std::uint8_t b[4];
                std::memcpy(b, &a, 4);
                mask_prefix(b, 4, cfg.prefix_v4);
                std::memcpy(&a, b, 4);
            }
            return std::uint64_t{a} | (std::uint64_t{1} << 48) | (std::uint64_t{cfg.prefix_v4 & 0x3fu} << 50);
        }
        return no_short_key;
    case client_key_mode::vlan:
        return std::uint64_t{outer_vlan} | (std::uint64_t{2} << 48);
    case client_key_mode::src_mac: {
        std::uint64_t m = 0;
        std::memcpy(&m, src_mac, 6);
        return m | (std::uint64_t{3} << 48);
    }
    }
    return no_short_key;
}

class client_cache {
public:
    static constexpr unsigned ways = 4;
    static constexpr unsigned sets = 2048; // 8 192 entries, 128 KiB
    struct entry {
        std::uint64_t tagged_key; // short key | tag << 56; tag 0 never matches
        std::uint64_t route;      // the packed route (route.hpp)
    };
    struct alignas(64) set {
        std::array<entry, ways> e;
    };
    static_assert(sizeof(set) == 64);

    // When the cache turns itself off and back on (the rule above).
    struct bypass_policy {
        std::uint32_t window = 4096;    // classified packets judged together; 0: never off
        std::uint32_t off_windows = 64; // windows' worth of packets that skip the cache once off
    };
    // A judged window with hits * min_hit_divisor < lookups turns the cache off.
    static constexpr std::uint32_t min_hit_divisor = 4;

    static std::uint32_t hash(std::uint64_t short_key) noexcept
    {
#if defined(__SSE4_2__)
        return static_cast<std::uint32_t>(_mm_crc32_u64(0, short_key));
#else
        return rte_hash_crc_8byte(short_key, 0);
#endif
    }

    // Once per burst, with client_table::generation(): a generation not seen
    // before makes every entry stale.
    void sync(std::uint64_t table_generation) noexcept
    {
        if (table_generation == seen_) [[likely]]
            return;
        seen_ = table_generation;
        if (++tag_ == 0) {
            clear();
            tag_ = 1;
        }
    }

    // Once per burst, before its first lookup, with client_table::generation():
    // syncs (on or off), then says whether this burst uses the cache.
    [[nodiscard]] bool begin_burst(std::uint64_t table_generation) noexcept
    {
        sync(table_generation);
        return on_;
    }

    // After the burst's lookups: `lookups` classified packets, `hits` of them
    // answered by the cache (0 when off).
    void end_burst(std::uint32_t lookups, std::uint32_t hits) noexcept
    {
        if (policy_.window == 0)
            return;
        if (on_) {
            win_lookups_ += lookups;
            win_hits_ += hits;
            if (win_lookups_ < policy_.window) [[likely]]
                return;
            if (warming_)
                warming_ = false;
            else if (win_hits_ * std::uint64_t{min_hit_divisor} < win_lookups_) {
                on_ = false;
                skipped_ = 0;
                ++turned_off_;
            }
            win_lookups_ = 0;
            win_hits_ = 0;
            return;
        }
        skipped_ += lookups;
        if (skipped_ >= std::uint64_t{policy_.window} * policy_.off_windows) {
            on_ = true;
            warming_ = true;
        }
    }

    // Back on, counters reset (also turns adaptivity off with window 0).
    void set_policy(bypass_policy p) noexcept
    {
        policy_ = p;
        on_ = true;
        warming_ = false;
        win_lookups_ = 0;
        win_hits_ = 0;
        skipped_ = 0;
    }
    [[nodiscard]] bypass_policy policy() const noexcept { return policy_; }
    [[nodiscard]] bool on() const noexcept { return on_; }
    [[nodiscard]] std::uint64_t times_turned_off() const noexcept { return turned_off_; }

    [[nodiscard]] const set& set_of(std::uint32_t h) const noexcept { return sets_[h & (sets - 1)]; }

    bool find(std::uint64_t short_key, std::uint32_t h, std::uint64_t& route) const noexcept
    {
        const std::uint64_t want = short_key | (std::uint64_t{tag_} << 56);
        const set& s = set_of(h);
        for (const entry& e : s.e)
            if (e.tagged_key == want) {
                route = e.route;
                return true;
            }
        return false;
    }

    // After a table hit. Replaces a stale way if there is one, else one in turn.
    void insert(std::uint64_t short_key, std::uint32_t h, std::uint64_t route) noexcept
    {
        const std::uint64_t want = short_key | (std::uint64_t{tag_} << 56);
        set& s = sets_[h & (sets - 1)];
        unsigned victim = ways;
        for (unsigned w = 0; w < ways; ++w)
            if (s.e[w].tagged_key == want || (s.e[w].tagged_key >> 56) != tag_) {
                victim = w;
                break;
            }
        if (victim == ways)
            victim = next_victim_++ % ways;
        s.e[victim] = entry{want, route};
    }

    void clear() noexcept
    {
        for (set& s : sets_)
            s.e.fill(entry{0, 0});
    }

    [[nodiscard]] std::uint8_t tag() const noexcept { return tag_; }

private:
    std::uint64_t seen_ = ~std::uint64_t{0}; // no generation seen yet: the first sync moves the tag to 1
    std::uint8_t tag_ = 0;
    unsigned next_victim_ = 0;
    // The bypass rule's state (this lcore only).
    bypass_policy policy_{};
    bool on_ = true;
    bool warming_ = false;
    std::uint64_t win_lookups_ = 0;
    std::uint64_t win_hits_ = 0;
    std::uint64_t skipped_ = 0;
    std::uint64_t turned_off_ = 0;
    std::array<set, sets> sets_{};
};

} // namespace shadownet::dataplane
