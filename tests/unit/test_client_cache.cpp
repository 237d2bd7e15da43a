// The per-lcore client cache (EMC): short keys, hits and misses, and the
// generation that makes every entry stale. Pure logic, no EAL. The cache
// working together with the client table and the worker is tested in
// tests/fast/test_worker.cpp (client_cache_* tests).
#include <memory>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "shadownet/dataplane/client_cache.hpp"
#include "shadownet/dataplane/route.hpp"

using namespace shadownet::dataplane;

namespace {

const std::uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x11};
const std::uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0x12};

std::uint64_t v4_key(std::uint32_t host, const client_key_config& cfg = {})
{
    const std::uint8_t addr[16] = {10, static_cast<std::uint8_t>(host >> 16), static_cast<std::uint8_t>(host >> 8),
                                   static_cast<std::uint8_t>(host)};
    return make_short_key(cfg, 4, addr, 0, mac_a);
}

std::uint64_t word(std::uint32_t client, std::uint16_t epoch = 1, path via = path::primary)
{
    route r;
    r.client = client;
    r.epoch = epoch;
    r.via = via;
    return r.pack();
}

// Same equivalence as client_key: equal short keys <=> equal client keys.
bool same_client(const client_key_config& cfg, unsigned v, const std::uint8_t* a, std::uint16_t vlan_a,
                 const std::uint8_t* mac1, const std::uint8_t* b, std::uint16_t vlan_b, const std::uint8_t* mac2)
{
    client_key ka;
    client_key kb;
    make_client_key(cfg, v, a, vlan_a, mac1, ka);
    make_client_key(cfg, v, b, vlan_b, mac2, kb);
    const bool full = ka == kb;
    const bool brief = make_short_key(cfg, v, a, vlan_a, mac1) == make_short_key(cfg, v, b, vlan_b, mac2);
    EXPECT_EQ(full, brief);
    return full;
}

} // namespace

TEST(client_cache, short_keys_tell_clients_apart_exactly_as_client_keys_do)
{
    const std::uint8_t a[16] = {10, 1, 2, 3};
    const std::uint8_t b[16] = {10, 1, 2, 200};
    EXPECT_FALSE(same_client({}, 4, a, 0, mac_a, b, 0, mac_a));
    EXPECT_TRUE(same_client({}, 4, a, 0, mac_a, a, 7, mac_b)); // VLAN and MAC do not matter by address
    client_key_config p24;
    p24.prefix_v4 = 24;
    EXPECT_TRUE(same_client(p24, 4, a, 0, mac_a, b, 0, mac_a));
    client_key_config vlan;
    vlan.mode = client_key_mode::vlan;
    EXPECT_TRUE(same_client(vlan, 4, a, 7, mac_a, b, 7, mac_b));
    EXPECT_FALSE(same_client(vlan, 4, a, 7, mac_a, a, 8, mac_a));
    client_key_config by_mac;
    by_mac.mode = client_key_mode::src_mac;
    EXPECT_TRUE(same_client(by_mac, 4, a, 1, mac_a, b, 2, mac_a));
    EXPECT_FALSE(same_client(by_mac, 4, a, 1, mac_a, a, 1, mac_b));
    // Different kinds never collide: VLAN 3 is not 0.0.0.3, nor is a /24 its /32.
    EXPECT_NE(make_short_key(vlan, 4, a, 3, mac_a), make_short_key({}, 4, a, 3, mac_a));
    const std::uint8_t net[16] = {10, 1, 2, 0};
    EXPECT_NE(make_short_key(p24, 4, net, 0, mac_a), make_short_key({}, 4, net, 0, mac_a));
    // IPv6 sources do not fit: they always go to the client table.
    const std::uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
    EXPECT_EQ(make_short_key({}, 6, v6, 0, mac_a), no_short_key);
    EXPECT_NE(v4_key(0), no_short_key); // 10.0.0.0 is a key like any other
}

TEST(client_cache, holds_what_was_inserted_until_the_generation_moves)
{
    auto c = std::make_unique<client_cache>();
    c->sync(0);
    const auto k = v4_key(1);
    const auto h = client_cache::hash(k);
    std::uint64_t w = 0;
    EXPECT_FALSE(c->find(k, h, w));
    c->insert(k, h, word(5));
    ASSERT_TRUE(c->find(k, h, w));
    EXPECT_EQ(w, word(5));
    EXPECT_FALSE(c->find(v4_key(2), client_cache::hash(v4_key(2)), w));
    c->sync(0); // same generation: still there
    EXPECT_TRUE(c->find(k, h, w));
    // A route switch or a delete moves the table's generation: nothing from
    // before it may be served, whatever the entry.
    c->sync(1);
    EXPECT_FALSE(c->find(k, h, w));
    c->insert(k, h, word(5, 2, path::shadow));
    ASSERT_TRUE(c->find(k, h, w));
    EXPECT_EQ(route::unpack(w).via, path::shadow);
}

TEST(client_cache, the_tag_wrapping_around_never_revives_an_old_entry)
{
    auto c = std::make_unique<client_cache>();
    c->sync(0);
    const auto k = v4_key(9);
    const auto h = client_cache::hash(k);
    c->insert(k, h, word(3));
    std::uint64_t w = 0;
    // 255 generations later the 8-bit tag is back where it was: the sets
    // were wiped on the way, so the entry is gone.
    for (std::uint64_t g = 1; g <= 1000; ++g) {
        c->sync(g);
        ASSERT_FALSE(c->find(k, h, w)) << "generation " << g << ", tag " << int{c->tag()};
    }
}

TEST(client_cache, four_ways_keep_colliding_keys_and_4096_sequential_sources_fit)
{
    auto c = std::make_unique<client_cache>();
    c->sync(0);
    // Sequential IPv4 sources spread over the sets (CRC32 is linear in the
    // low bits): 4 096 of them all fit in the 8 192 entries.
    for (std::uint32_t i = 0; i < 4096; ++i)
        c->insert(v4_key(i), client_cache::hash(v4_key(i)), word(i + 1));
    unsigned found = 0;
    std::uint64_t w = 0;
    for (std::uint32_t i = 0; i < 4096; ++i)
        if (c->find(v4_key(i), client_cache::hash(v4_key(i)), w)) {
            EXPECT_EQ(w, word(i + 1));
            ++found;
        }
    EXPECT_EQ(found, 4096U);
    // Five keys on one set: four stay, the fifth replaced one of them; every
    // hit still returns its own key's route.
    auto d = std::make_unique<client_cache>();
    d->sync(0);
    std::vector<std::uint64_t> same_set;
    const auto first = client_cache::hash(v4_key(0)) & (client_cache::sets - 1);
    for (std::uint32_t i = 0; same_set.size() < 5; ++i)
        if ((client_cache::hash(v4_key(i)) & (client_cache::sets - 1)) == first)
            same_set.push_back(v4_key(i));
    for (std::size_t i = 0; i < same_set.size(); ++i)
        d->insert(same_set[i], client_cache::hash(same_set[i]), word(static_cast<std::uint32_t>(100 + i)));
    unsigned kept = 0;
    for (std::size_t i = 0; i < same_set.size(); ++i)
        if (d->find(same_set[i], client_cache::hash(same_set[i]), w)) {
            EXPECT_EQ(w, word(static_cast<std::uint32_t>(100 + i)));
            ++kept;
        }
    EXPECT_EQ(kept, client_cache::ways);
    EXPECT_TRUE(d->find(same_set[4], client_cache::hash(same_set[4]), w)); // the newest is always there
}

// The bypass rule (client_cache.hpp: getting out of the way). `traffic`
// plays the worker's part on a model client table whose every route changes
// with its generation: probe and insert only on bursts the cache says to
// use, count what it served that the table would not have.
namespace {

struct traffic {
    client_cache& c;
    std::uint64_t generation = 0;
    std::uint64_t packets = 0;
    std::uint64_t probed = 0;
    std::uint64_t served = 0; // answers from the cache
    std::uint64_t stale = 0;  // ... that were not the table's current route

    static std::uint64_t route_of(std::uint64_t short_key, std::uint64_t generation)
    {
        return word(static_cast<std::uint32_t>(short_key & 0xffffff),
                    static_cast<std::uint16_t>(generation + 1)); // the epoch: every route moves
    }

    void burst(const std::vector<std::uint64_t>& keys)
    {
        const bool use = c.begin_burst(generation);
        std::uint32_t hits = 0;
        for (const auto k : keys) {
            const auto want = route_of(k, generation);
            if (!use)
                continue;
            const auto h = client_cache::hash(k);
            std::uint64_t w = 0;
            if (c.find(k, h, w)) {
                ++hits;
                ++served;
                if (w != want)
                    ++stale;
                continue;
            }
            c.insert(k, h, want);
        }
        c.end_burst(static_cast<std::uint32_t>(keys.size()), hits);
        packets += keys.size();
        if (use)
            probed += keys.size();
    }

    // `packets` packets in bursts of 32 from `sources` uniformly random sources.
    void run(std::mt19937& rng, std::uint32_t sources, std::uint64_t n, std::uint32_t first = 0)
    {
        std::vector<std::uint64_t> keys(32);
        for (std::uint64_t done = 0; done < n; done += keys.size()) {
            for (auto& k : keys)
                k = v4_key(first + static_cast<std::uint32_t>(rng() % sources));
            burst(keys);
        }
    }
};

} // namespace

TEST(client_cache, turns_itself_off_under_a_working_set_far_larger_than_it)
{
    auto c = std::make_unique<client_cache>();
    traffic t{*c};
    std::mt19937 rng(11);
    t.run(rng, 100'000, 2 * client_cache::bypass_policy{}.window);
    EXPECT_FALSE(c->on()) << "100 k sources through 8 192 entries hit ~8 %";
    // Over a long run it only comes back for its trials (2 windows of 66)
    // and goes off again after each.
    const auto probed = t.probed;
    const auto packets = t.packets;
    t.run(rng, 100'000, 2'000'000);
    const double share = static_cast<double>(t.probed - probed) / static_cast<double>(t.packets - packets);
    EXPECT_LT(share, 0.05);
    EXPECT_GT(share, 0.0) << "it must try again now and then";
    EXPECT_GE(c->times_turned_off(), 5U);
    EXPECT_EQ(t.stale, 0U);
}

TEST(client_cache, comes_back_on_when_the_working_set_shrinks)
{
    auto c = std::make_unique<client_cache>();
    traffic t{*c};
    std::mt19937 rng(12);
    t.run(rng, 100'000, 100'000);
    ASSERT_FALSE(c->on());
    // 4 096 sources from now on (new ones: nothing of theirs is cached yet).
    // Within one off period and a trial it is back, and stays.
    const auto p = client_cache::bypass_policy{};
    t.run(rng, 4096, std::uint64_t{p.window} * (p.off_windows + 3), 200'000);
    EXPECT_TRUE(c->on());
    const auto offs = c->times_turned_off();
    const auto served = t.served;
    const auto packets = t.packets;
    t.run(rng, 4096, 50 * std::uint64_t{p.window}, 200'000);
    EXPECT_TRUE(c->on());
    EXPECT_EQ(c->times_turned_off(), offs);
    EXPECT_GT(static_cast<double>(t.served - served) / static_cast<double>(t.packets - packets), 0.9);
    EXPECT_EQ(t.stale, 0U);
}

TEST(client_cache, never_serves_a_route_from_a_generation_it_skipped_while_off)
{
    auto c = std::make_unique<client_cache>();
    c->set_policy({64, 4}); // short windows: a few bursts each
    traffic t{*c};
    std::mt19937 rng(13);
    std::vector<std::uint64_t> hot;
    for (std::uint32_t i = 0; i < 16; ++i)
        hot.push_back(v4_key(i));
    for (int b = 0; b < 8; ++b)
        t.burst(hot); // cached under generation 0
    ASSERT_TRUE(c->on());
    ASSERT_GT(t.served, 0U);
    t.run(rng, 100'000, 256, 1000);
    ASSERT_FALSE(c->on());
    // Entries of generation 0 are still in the sets (going off wipes nothing).
    unsigned still_cached = 0;
    std::uint64_t w = 0;
    for (const auto k : hot)
        if (c->find(k, client_cache::hash(k), w) && w == traffic::route_of(k, 0))
            ++still_cached;
    ASSERT_GT(still_cached, 8U);
    // The table changes every route while the cache is off ...
    t.generation = 1;
    const auto served = t.served;
    for (int b = 0; b < 64; ++b)
        t.burst(hot);
    // ... so once it is back on it serves only generation 1's routes.
    ASSERT_TRUE(c->on());
    EXPECT_GT(t.served, served) << "back on and serving";
    EXPECT_EQ(t.stale, 0U);
    for (const auto k : hot) {
        if (c->find(k, client_cache::hash(k), w)) {
            EXPECT_EQ(w, traffic::route_of(k, 1));
        }
    }
}

TEST(client_cache, window_zero_never_turns_it_off)
{
    auto c = std::make_unique<client_cache>();
    c->set_policy({0, 64});
    traffic t{*c};
    std::mt19937 rng(14);
    t.run(rng, 100'000, 200'000);
    EXPECT_TRUE(c->on());
    EXPECT_EQ(t.probed, t.packets);
    EXPECT_EQ(c->times_turned_off(), 0U);
}
