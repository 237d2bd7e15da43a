// Pipeline mode end to end: RX lcores classify and hand packets to worker
// lcores over rings; every packet is accounted for and no stream reorders.
#include <chrono>

#include <gtest/gtest.h>
#include <rte_lcore.h>

#include "shadownet/control/appliance.hpp"

using namespace shadownet;
using namespace shadownet::control;

TEST(pipeline, hands_off_to_workers_and_accounts_for_every_packet)
{
    if (rte_lcore_count() < 3)
        GTEST_SKIP() << "pipeline needs the main lcore and two forwarding lcores";
    app_config cfg;
    cfg.virtual_ports = 2;
    cfg.mode = forwarding_mode::pipeline;
    cfg.traffic.rate_pps = 100'000;
    cfg.traffic.clients = 50;
    appliance app(cfg);
    ASSERT_EQ(app.plan().rx_lcores.size(), 1U);
    ASSERT_EQ(app.plan().tx_lcores.size(), 1U);
    app.start();
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
    bool switched = false;
    while (std::chrono::steady_clock::now() < end) {
        app.poll();
        // Move a registered client to the shadow path half way through.
        if (!switched && app.clients().size() > 0 && app.uptime_s() > 0.3) {
            app.set_client_route(app.clients().ids().front(), dataplane::path::shadow);
            switched = true;
        }
    }
    app.stop();
    const auto s = app.snapshot();
    EXPECT_GT(s.rx(), 10'000U);
    EXPECT_EQ(s.rx(), s.tx() + s.drops_total());
    for (const auto& p : s.ports)
        EXPECT_EQ(p.rx, p.forwarded + p.drops_total());
    ASSERT_TRUE(s.traffic);
    EXPECT_EQ(s.traffic->totals.sent, s.rx());
    EXPECT_EQ(s.traffic->totals.received, s.tx());
    EXPECT_EQ(s.traffic->totals.reordered, 0U);
    std::uint64_t handed = 0;
    for (const auto& l : s.lcores)
        if (l.role == "worker")
            handed += l.packets;
    EXPECT_EQ(handed + s.drops()[static_cast<std::size_t>(dataplane::drop_reason::ring_full)], s.rx());
    EXPECT_TRUE(switched);
    EXPECT_EQ(s.clients.count, 50U);
    std::uint64_t shadow = 0;
    for (const auto& c : s.clients.busiest)
        shadow += c.totals.tx_packets[1];
    EXPECT_GT(shadow, 0U);
    EXPECT_EQ(app.mempool_in_use(), 0U);
}
