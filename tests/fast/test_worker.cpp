// The forwarding lcore's work on real ring-backed ports, driven from the test
// thread: classification, accounting, drops by reason and the route switch.
#include <algorithm>

#include <gtest/gtest.h>

#include "harness.hpp"

using namespace shadownet;
using namespace shadownet::dataplane;
using shadownet::testing::rig;

namespace {

client_key key_for(std::uint32_t host)
{
    client_key k;
    const std::uint8_t addr[16] = {10, 0, 0, static_cast<std::uint8_t>(host)};
    make_client_key({}, 4, addr, 0, addr, k);
    return k;
}

} // namespace

TEST(worker, classifies_sources_into_clients_and_accounts_per_client)
{
    rig t("wk_a", 1024, 1);
    ASSERT_EQ(t.inject(1, 10), 10U);
    ASSERT_EQ(t.inject(2, 5), 5U);
    t.poll_until_idle();
    // Unknown sources go out on the default client and are announced once.
    EXPECT_EQ(t.receive(0).size(), 15U);
    EXPECT_EQ(t.stats[default_client].rx_packets.read(), 15U);
    EXPECT_EQ(t.counters->announced.read(), 2U);
    const auto ids = t.register_clients();
    ASSERT_EQ(ids.size(), 2U);

    ASSERT_EQ(t.inject(1, 7, 0, 10), 7U);
    ASSERT_EQ(t.inject(2, 3, 0, 5), 3U);
    t.poll_until_idle();
    EXPECT_EQ(t.receive(0).size(), 10U);
    const auto one = *t.table.find(key_for(1));
    const auto two = *t.table.find(key_for(2));
    EXPECT_EQ(t.stats[one].rx_packets.read(), 7U);
    EXPECT_EQ(t.stats[one].rx_bytes.read(), 7U * 64);
    EXPECT_EQ(t.stats[one].tx_packets[0].read(), 7U);
    EXPECT_EQ(t.stats[one].tx_packets[1].read(), 0U);
    EXPECT_EQ(t.stats[two].rx_packets.read(), 3U);
    EXPECT_EQ(t.stats[default_client].rx_packets.read(), 15U); // unchanged
    const auto& in = t.counters->port[t.c0.side_a()];
    EXPECT_EQ(in.rx_packets.read(), 25U);
    EXPECT_EQ(in.forwarded.read(), 25U);
    EXPECT_EQ(t.counters->port[t.c1.side_a()].tx_packets.read(), 25U);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

TEST(worker, malformed_frames_are_dropped_by_reason)
{
    rig t("wk_b", 1024, 1);
    const std::vector<std::uint8_t> runt(10, 0);
    std::vector<std::uint8_t> arp_like(60, 0);
    arp_like[12] = 0x88; // an ethertype we do not forward (0x88cc, LLDP)
    arp_like[13] = 0xcc;
    std::vector<std::uint8_t> bad_ihl(60, 0);
    bad_ihl[12] = 0x08;
    bad_ihl[14] = 0x42; // version 4, IHL 2
    ASSERT_EQ(t.inject_raw(runt), 1U);
    ASSERT_EQ(t.inject_raw(arp_like), 1U);
    ASSERT_EQ(t.inject_raw(bad_ihl), 1U);
    ASSERT_EQ(t.inject(3, 2), 2U);
    t.poll_until_idle();
    const auto a0 = t.c0.side_a();
    EXPECT_EQ(t.port_drops(a0, drop_reason::truncated_l2), 1U);
    EXPECT_EQ(t.port_drops(a0, drop_reason::unsupported_ethertype), 1U);
    EXPECT_EQ(t.port_drops(a0, drop_reason::bad_ihl), 1U);
    const auto& in = t.counters->port[a0];
    EXPECT_EQ(in.rx_packets.read(), 5U);
    EXPECT_EQ(in.forwarded.read(), 2U);
    EXPECT_EQ(t.receive(0).size(), 2U);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

TEST(worker, full_tx_ring_is_counted_per_port_and_client)
{
    rig t("wk_c", 48, 1); // A1 -> B1 holds 48 and nobody reads B1 until the end
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(t.inject(1, 32, 0, static_cast<std::uint64_t>(i) * 32), 32U);
        t.poll_until_idle();
    }
    const auto& in = t.counters->port[t.c0.side_a()];
    EXPECT_EQ(in.rx_packets.read(), 96U);
    EXPECT_EQ(in.forwarded.read(), 48U);
    EXPECT_EQ(t.port_drops(t.c0.side_a(), drop_reason::tx_full), 48U);
    EXPECT_EQ(t.stats[default_client].drops.read(), 48U);
    EXPECT_EQ(t.receive(0).size(), 48U);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

TEST(worker, unpaired_port_is_no_route)
{
    rig t("wk_d", 1024, 1);
    t.conf.peer[t.c0.side_a()] = no_port;
    ASSERT_EQ(t.inject(1, 10), 10U);
    t.poll_until_idle();
    EXPECT_EQ(t.port_drops(t.c0.side_a(), drop_reason::no_route), 10U);
    EXPECT_EQ(t.receive(0).size(), 0U);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

TEST(worker, sources_beyond_the_table_are_dropped_when_configured)
{
    rig t("wk_e", 1024, 1, 2);
    t.conf.overflow_to_default = false;
    for (std::uint32_t h = 1; h <= 3; ++h)
        ASSERT_EQ(t.inject(h, 1), 1U);
    t.poll_until_idle();
    EXPECT_EQ(t.register_clients().size(), 2U);
    EXPECT_TRUE(t.table.full());
    ASSERT_EQ(t.inject(3, 4), 4U);
    t.poll_until_idle();
    EXPECT_EQ(t.port_drops(t.c0.side_a(), drop_reason::client_limit), 4U);
    EXPECT_EQ(t.receive(0).size(), 3U);
}

TEST(worker, route_switch_waits_for_the_old_queue_to_drain)
{
    rig t("wk_f", 1024, 1);
    ASSERT_EQ(t.inject(1, 1), 1U);
    t.poll_until_idle();
    ASSERT_EQ(t.register_clients().size(), 1U);
    const auto id = *t.table.find(key_for(1));
    ASSERT_EQ(t.receive(0).size(), 1U);

    // Ten packets on the primary queue, left unread at B1.
    ASSERT_EQ(t.inject(1, 10, 0, 1), 10U);
    t.poll_until_idle();
    const auto r = t.table.set_route(id, path::shadow);
    EXPECT_EQ(r.via, path::shadow);
    ASSERT_EQ(t.inject(1, 5, 0, 11), 5U);
    t.poll_until_idle();
    // The old queue still holds ten: the new packets wait in the hold queue.
    EXPECT_EQ(t.state->hold_count, 5U);
    EXPECT_TRUE(t.receive(1).empty());
    const auto old_path = t.receive(0);
    ASSERT_EQ(old_path.size(), 10U);
    EXPECT_EQ(old_path.back().seq, 10U);
    t.poll_until_idle(); // drained now: the held packets go out on the shadow queue
    EXPECT_EQ(t.state->hold_count, 0U);
    const auto new_path = t.receive(1);
    ASSERT_EQ(new_path.size(), 5U);
    EXPECT_EQ(new_path.front().seq, 11U);
    EXPECT_EQ(t.counters->switches.read(), 1U);
    EXPECT_EQ(t.stats[id].tx_packets[1].read(), 5U);
    EXPECT_EQ(t.stats[id].tx_packets[0].read(), 10U);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

TEST(worker, full_hold_queue_keeps_the_client_on_its_old_path_in_order)
{
    rig t("wk_g", 4096, 1);
    ASSERT_EQ(t.inject(1, 1), 1U);
    t.poll_until_idle();
    ASSERT_EQ(t.register_clients().size(), 1U);
    const auto id = *t.table.find(key_for(1));
    t.receive(0);
    ASSERT_EQ(t.inject(1, 1, 0, 1), 1U); // one packet pending on the primary queue
    t.poll_until_idle();
    t.table.set_route(id, path::shadow);
    std::uint64_t seq = 2;
    for (unsigned i = 0; i < hold_capacity / 32 + 4; ++i) {
        seq += t.inject(1, 32, 0, seq);
        t.poll_until_idle();
    }
    EXPECT_GT(t.counters->hold_overflow.read(), 0U);
    // Everything is still on the primary queue, in order, nothing lost.
    const auto got = t.receive(0);
    EXPECT_EQ(got.size() + t.state->hold_count, seq - 1);
    for (std::size_t i = 1; i < got.size(); ++i)
        EXPECT_EQ(got[i].seq, got[i - 1].seq + 1);
    lcore_finish(t.conf, *t.state);
    EXPECT_EQ(t.state->hold_count, 0U);
}

TEST(worker, lcore_main_finishes_when_told_to_quit)
{
    rig t("wk_h", 1024, 1);
    rte_rcu_qsbr_thread_unregister(t.table.rcu(), t.conf.lcore_id); // lcore_main registers itself
    t.quit.store(true);
    EXPECT_EQ(lcore_main(&t.launch), 0);
    rte_rcu_qsbr_thread_register(t.table.rcu(), t.conf.lcore_id);
    EXPECT_EQ(t.counters->loops.read(), 0U);
}

// The lcore's client cache (client_cache.hpp) in front of the table: hits
// after the first lookup, and never a stale answer after a route switch or a
// delete. Both tests fail if client_table stops moving its generation.
TEST(worker, client_cache_answers_repeat_lookups_and_sees_a_route_switch_at_the_next_burst)
{
    rig t("wk_i", 1024, 1);
    ASSERT_EQ(t.inject(1, 1), 1U);
    t.poll_until_idle();
    ASSERT_EQ(t.register_clients().size(), 1U);
    const auto id = *t.table.find(key_for(1));
    t.receive(0);
    const auto misses = t.counters->cache_misses.read();
    ASSERT_EQ(t.inject(1, 1, 0, 1), 1U); // the table answers, the cache learns
    t.poll_until_idle();
    EXPECT_EQ(t.counters->cache_misses.read(), misses + 1);
    const auto hits = t.counters->cache_hits.read();
    ASSERT_EQ(t.inject(1, 8, 0, 2), 8U); // the cache answers
    t.poll_until_idle();
    EXPECT_EQ(t.counters->cache_hits.read(), hits + 8);
    EXPECT_EQ(t.counters->cache_misses.read(), misses + 1);
    ASSERT_EQ(t.receive(0).size(), 9U);

    // Switch: the next packets go to the shadow queue (the old one is empty,
    // so at once), never on the cached primary route.
    t.table.set_route(id, path::shadow);
    ASSERT_EQ(t.inject(1, 4, 0, 10), 4U);
    t.poll_until_idle();
    EXPECT_TRUE(t.receive(0).empty());
    const auto shadow = t.receive(1);
    ASSERT_EQ(shadow.size(), 4U);
    EXPECT_EQ(shadow.front().seq, 10U);
    EXPECT_EQ(t.stats[id].tx_packets[1].read(), 4U);
    // ... and back, many times: every burst after a switch follows it.
    for (int flip = 0; flip < 50; ++flip) {
        const auto via = flip % 2 == 0 ? path::primary : path::shadow;
        t.table.set_route(id, via);
        ASSERT_EQ(t.inject(1, 2, 0, 100 + 2 * flip), 2U);
        t.poll_until_idle();
        const auto q = static_cast<std::uint16_t>(via == path::primary ? 0 : 1);
        EXPECT_EQ(t.receive(q).size(), 2U) << "flip " << flip;
        EXPECT_TRUE(t.receive(static_cast<std::uint16_t>(1 - q)).empty()) << "flip " << flip;
    }
    EXPECT_EQ(t.pool.in_use(), 0U);
}

// The bypass rule (client_cache.hpp): a cache that does not hit turns itself
// off; a route switch while it is off is never undone by an entry filled
// before it once the cache is back on. Fails if an off cache stops
// following the generation and the first burst back on does not sync.
TEST(worker, client_cache_turned_off_and_back_on_never_serves_a_route_switched_while_off)
{
    rig t("wk_k", 1024, 1);
    t.state->cache.set_policy({32, 4}); // windows of 32 lookups, off for 128 packets
    ASSERT_EQ(t.inject(1, 1), 1U);
    t.poll_until_idle();
    ASSERT_EQ(t.register_clients().size(), 1U);
    const auto id = *t.table.find(key_for(1));
    for (int b = 0; b < 4; ++b) { // the cache learns client 1 on the primary route
        ASSERT_EQ(t.inject(1, 16, 0, 16 * b), 16U);
        t.poll_until_idle();
    }
    ASSERT_TRUE(t.state->cache.on());
    ASSERT_EQ(t.receive(0).size(), 65U);
    // 100 unknown sources: nothing hits, the cache turns itself off.
    for (std::uint32_t host = 100; host < 200; ++host)
        ASSERT_EQ(t.inject(host, 1), 1U);
    t.poll_until_idle();
    ASSERT_FALSE(t.state->cache.on());
    EXPECT_EQ(t.state->cache.times_turned_off(), 1U);
    t.receive(0);
    // Switch while off; client 1's packets must follow it from the next
    // burst on, through the off period and after the cache is back.
    t.table.set_route(id, path::shadow);
    const auto hits = t.counters->cache_hits.read();
    for (int b = 0; b < 24; ++b) {
        ASSERT_EQ(t.inject(1, 16, 0, 1000 + 16 * b), 16U);
        t.poll_until_idle();
        EXPECT_TRUE(t.receive(0).empty()) << "burst " << b << ": a stale primary route";
        EXPECT_EQ(t.receive(1).size(), 16U) << "burst " << b;
    }
    EXPECT_TRUE(t.state->cache.on());
    EXPECT_GT(t.counters->cache_hits.read(), hits + 16 * 8) << "back on and answering";
    EXPECT_EQ(t.stats[id].tx_packets[1].read(), 24U * 16);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

TEST(worker, client_cache_forgets_a_deleted_client_at_the_next_burst)
{
    rig t("wk_j", 1024, 1);
    ASSERT_EQ(t.inject(1, 1), 1U);
    ASSERT_EQ(t.inject(2, 1), 1U);
    t.poll_until_idle();
    ASSERT_EQ(t.register_clients().size(), 2U);
    const auto one = *t.table.find(key_for(1));
    ASSERT_EQ(t.inject(1, 4, 0, 1), 4U);
    ASSERT_EQ(t.inject(2, 4, 0, 1), 4U);
    t.poll_until_idle();
    ASSERT_EQ(t.inject(1, 4, 0, 5), 4U); // now from the cache
    t.poll_until_idle();
    EXPECT_EQ(t.stats[one].rx_packets.read(), 8U);
    const auto hits = t.counters->cache_hits.read();
    EXPECT_GE(hits, 4U);

    // Ageing deletes client 1: its packets are the default client's again
    // (and announced as a newcomer), never counted for the departed id.
    t.table.remove(one);
    t.state->announce_filter.fill(0); // its first announce was under a millisecond ago
    const auto announced = t.counters->announced.read();
    const auto dflt = t.stats[default_client].rx_packets.read();
    ASSERT_EQ(t.inject(1, 4, 0, 9), 4U);
    t.poll_until_idle();
    EXPECT_EQ(t.stats[one].rx_packets.read(), 8U);
    EXPECT_EQ(t.stats[default_client].rx_packets.read(), dflt + 4);
    EXPECT_EQ(t.counters->announced.read(), announced + 1);
    // Client 2 is still known; the cache learns it again after the flush.
    const auto two = *t.table.find(key_for(2));
    const auto two_rx = t.stats[two].rx_packets.read();
    ASSERT_EQ(t.inject(2, 4, 0, 5), 4U);
    t.poll_until_idle();
    ASSERT_EQ(t.inject(2, 4, 0, 9), 4U);
    t.poll_until_idle();
    EXPECT_EQ(t.stats[two].rx_packets.read(), two_rx + 8);
    EXPECT_EQ(t.counters->cache_hits.read(), hits + 4);
    // The source comes back as a new client.
    const auto again = t.register_clients();
    ASSERT_EQ(again.size(), 1U);
    EXPECT_NE(again[0], two);
    ASSERT_EQ(t.inject(1, 4, 0, 13), 4U);
    t.poll_until_idle();
    EXPECT_EQ(t.stats[again[0]].rx_packets.read() - (again[0] == one ? 8U : 0U), 4U);
    t.receive(0);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

// Shadow budgets and the shadow pool (capacity.hpp): a client above its own
// budget is dropped as shadow_over_capacity while its port has no pool, and
// borrows what the other clients on the shadow leave unused once it has one,
// never more than the pool's own bucket and rate.
TEST(worker, a_client_above_its_shadow_budget_borrows_from_the_pool_up_to_the_pool)
{
    rig t("wk_pool", 4096, 1);
    ASSERT_EQ(t.inject(1, 1), 1U);
    ASSERT_EQ(t.inject(2, 1), 1U);
    t.poll_until_idle();
    ASSERT_EQ(t.register_clients().size(), 2U);
    t.receive(0);
    const auto busy = *t.table.find(key_for(1));
    const auto quiet = *t.table.find(key_for(2));
    t.table.set_route(busy, path::shadow);
    t.table.set_route(quiet, path::shadow);

    auto budgets = std::make_unique<shadow_budget[]>(1025);
    auto meters = std::make_unique<client_shadow_meter[]>(1025);
    auto pools = std::make_unique<shadow_budget[]>(max_ports);
    auto pool_meters = std::make_unique<client_shadow_meter[]>(max_ports);
    for (std::size_t p = 0; p < max_ports; ++p)
        pools[p].word.store(no_shadow_pool);
    // Buckets hold 0.1 s of their rate, at least a burst (32): the busy
    // client's own holds 32 packets, the pool ~201.
    budgets[busy].word.store(pack_budget(10, -1));
    budgets[quiet].word.store(pack_budget(2000, -1));
    t.conf.shadow_budgets = budgets.get();
    t.conf.shadow_meters = meters.get();
    t.conf.shadow_pools = pools.get();
    t.conf.shadow_pool_meters = pool_meters.get();
    t.conf.capacity_burst_s = 0.1;
    const auto egress_port = t.c1.side_a();
    const auto over = [&] { return t.port_drops(t.c0.side_a(), drop_reason::shadow_over_capacity); };
    const auto send = [&](unsigned n, std::uint64_t first) {
        for (unsigned k = 0; k < n; k += 50) {
            ASSERT_EQ(t.inject(1, std::min(50U, n - k), 0, first + k), std::min(50U, n - k));
            t.poll_until_idle();
        }
    };

    // No pool: its own bucket only.
    send(100, 0);
    const auto alone = t.receive(1).size();
    EXPECT_GE(alone, 32U);
    EXPECT_LE(alone, 34U); // + what 10 pps refills while the test runs
    EXPECT_EQ(over(), 100U - alone);

    // A pool of both budgets on the egress port: the busy client borrows the
    // quiet one's unused share, up to the pool's bucket and rate.
    pools[egress_port].word.store(pack_budget(2010, -1));
    const std::uint64_t t0 = rte_rdtsc();
    send(150, 100);
    EXPECT_EQ(t.receive(1).size(), 150U) << "within the pool's bucket: nothing dropped";
    EXPECT_EQ(over(), 100U - alone);
    send(200, 250);
    const double elapsed = static_cast<double>(rte_rdtsc() - t0) / static_cast<double>(rte_get_tsc_hz());
    const auto borrowed_more = t.receive(1).size();
    // The pool's bucket (201) less the 150, plus its refill and the busy
    // client's own refill over the time it took.
    EXPECT_LE(static_cast<double>(borrowed_more), 201.0 - 150.0 + 2010.0 * elapsed + 10.0 * elapsed + 2.0);
    EXPECT_GE(borrowed_more, 40U);
    EXPECT_EQ(over(), 100U - alone + 200U - borrowed_more);
    EXPECT_EQ(t.stats[quiet].drops.read(), 0U);
    EXPECT_EQ(t.pool.in_use(), 0U);
}

// An lcore off its CPU for a while (here: the test thread not polling for
// 3 ms) counts a stall in the bucket of its length; a pause is not one.
TEST(worker, a_gap_between_iterations_is_counted_as_a_stall_by_its_length)
{
    rig t("wk_stall", 1024, 1);
    const std::uint64_t ms = rte_get_tsc_hz() / 1000;
    t.conf.stall_cycles = ms;
    const auto total = [&] {
        std::uint64_t n = 0;
        for (const auto& b : t.counters->stalls)
            n += b.read();
        return n;
    };
    dataplane::lcore_poll(t.conf, *t.state);
    const std::uint64_t resume = rte_rdtsc() + 3 * ms;
    while (rte_rdtsc() < resume) {
    }
    dataplane::lcore_poll(t.conf, *t.state);
    // 3 ms is in [2, 4) ms, or a later bucket if the test was descheduled too.
    EXPECT_EQ(t.counters->stalls[0].read(), 0U);
    EXPECT_GE(total(), 1U);
    EXPECT_GE(t.counters->max_stall_cycles.read(), 3 * ms);
    const auto before = total();
    dataplane::lcore_paused_poll(t.conf, *t.state);
    const std::uint64_t later = rte_rdtsc() + 2 * ms;
    while (rte_rdtsc() < later) {
    }
    dataplane::lcore_poll(t.conf, *t.state);
    EXPECT_EQ(total(), before) << "the first iteration after a pause has no previous one";
}
