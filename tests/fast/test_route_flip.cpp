// The route switch is lossless and in order: sequence-numbered packets flow
// through a forwarding lcore (its own lcore) while the control side flips the
// clients between the primary and the shadow queue thousands of times. The
// receiver reads the two queues in alternating order, so any packet that left
// on the new path before an older one on the old path would be seen as an
// inversion.
#include <chrono>
#include <map>

#include <gtest/gtest.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "harness.hpp"

using namespace shadownet;
using namespace shadownet::dataplane;
using shadownet::testing::rig;

TEST(route_flip, thousands_of_flips_lose_nothing_and_reorder_nothing)
{
    const unsigned worker = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
    if (worker >= RTE_MAX_LCORE)
        GTEST_SKIP() << "needs a second lcore";
    rig t("flip", 4096, 1);
    rte_rcu_qsbr_thread_unregister(t.table.rcu(), t.conf.lcore_id);
    t.conf.lcore_id = worker;

    // Two clients, two flows each; registered before traffic starts.
    std::vector<std::uint32_t> ids;
    for (std::uint32_t host = 1; host <= 2; ++host) {
        client_key k;
        const std::uint8_t addr[16] = {10, 0, 0, static_cast<std::uint8_t>(host)};
        make_client_key({}, 4, addr, 0, addr, k);
        ids.push_back(*t.table.add(k));
    }
    ASSERT_EQ(rte_eal_remote_launch(lcore_main, &t.launch, worker), 0);

    constexpr std::uint64_t per_flow = 60'000;
    constexpr unsigned flows = 4; // flow f: client host 1 + f / 2
    std::array<std::uint64_t, flows> next_seq{};
    std::array<std::uint64_t, flows> expect{};
    std::uint64_t gaps = 0;
    std::uint64_t inversions = 0;
    std::uint64_t flips = 0;
    std::uint64_t received = 0;
    std::uint64_t on_shadow = 0;
    const auto check = [&](const std::vector<shadownet::testing::test_stamp>& got, bool shadow) {
        for (const auto& s : got) {
            ASSERT_LT(s.flow, flows);
            if (s.seq < expect[s.flow])
                ++inversions;
            else if (s.seq > expect[s.flow])
                ++gaps;
            expect[s.flow] = s.seq + 1;
            ++received;
            on_shadow += shadow;
        }
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    unsigned round = 0;
    while (received < per_flow * flows && std::chrono::steady_clock::now() < deadline) {
        const unsigned f = round % flows;
        // A window, as a transport would keep: the rings (4096) can then never
        // overflow, even when this thread or the lcore is descheduled, so a
        // loss here can only be the switch protocol's.
        std::uint64_t in_flight = 0;
        for (unsigned g = 0; g < flows; ++g)
            in_flight += next_seq[g];
        in_flight -= received;
        if (next_seq[f] < per_flow && in_flight < 1024) {
            const auto want = static_cast<unsigned>(std::min<std::uint64_t>(16, per_flow - next_seq[f]));
            next_seq[f] += t.inject(1 + f / 2, want, f, next_seq[f]);
        }
        // Flip one client every few bursts: thousands of flips over the run.
        if (round % 7 == 0) {
            const std::uint32_t id = ids[(round / 7) % ids.size()];
            const auto cur = t.table.get_route(id);
            t.table.set_route(id, cur.via == path::primary ? path::shadow : path::primary);
            ++flips;
        }
        // Read the queues in alternating order.
        if (round % 2 == 0) {
            check(t.receive(0), false);
            check(t.receive(1), true);
        } else {
            check(t.receive(1), true);
            check(t.receive(0), false);
        }
        ++round;
    }
    t.quit.store(true, std::memory_order_release);
    rte_eal_wait_lcore(worker);
    check(t.receive(0), false);
    check(t.receive(1), true);

    EXPECT_EQ(received, per_flow * flows) << "packets lost";
    for (std::size_t r = 0; r < drop_reason_count; ++r)
        EXPECT_EQ(t.counters->port[t.c0.side_a()].drops[r].read(), 0U) << drop_reason_names[r];
    EXPECT_EQ(gaps, 0U);
    EXPECT_EQ(inversions, 0U);
    EXPECT_GE(flips, 1000U);
    // The flips really moved traffic: many completed switches, both queues used.
    EXPECT_GE(t.counters->switches.read(), 1000U);
    EXPECT_GT(on_shadow, received / 10);
    EXPECT_LT(on_shadow, received - received / 10);
    const auto& in = t.counters->port[t.c0.side_a()];
    EXPECT_EQ(in.rx_packets.read(), in.forwarded.read());
    EXPECT_EQ(t.pool.in_use(), 0U);
    rte_rcu_qsbr_thread_register(t.table.rcu(), rte_lcore_id()); // the rig's destructor unregisters
    t.conf.lcore_id = rte_lcore_id();
}
