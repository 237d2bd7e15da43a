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
    std::array<set, sets> sets_{};
};

} // namespace shadownet::dataplane
