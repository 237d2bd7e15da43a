// The whole appliance on virtual ports with built-in traffic: every packet is
// accounted for, nothing leaks, and it can be built twice in one process.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "shadownet/control/appliance.hpp"
#include "shadownet/core/error.hpp"

using namespace shadownet;
using namespace shadownet::control;

namespace {

stats_snapshot run_for(appliance& app, std::chrono::milliseconds how_long)
{
    app.start();
    const auto end = std::chrono::steady_clock::now() + how_long;
    while (std::chrono::steady_clock::now() < end)
        app.poll();
    app.stop();
    return app.snapshot();
}

void expect_accounted(const stats_snapshot& s)
{
    for (const auto& p : s.ports) {
        EXPECT_EQ(p.rx, p.forwarded + p.drops_total()) << "port " << p.id;
        EXPECT_EQ(p.hw.ipackets, p.rx) << "port " << p.id;
        EXPECT_EQ(p.hw.opackets, p.tx) << "port " << p.id;
    }
    EXPECT_EQ(s.rx(), s.tx() + s.drops_total());
    ASSERT_TRUE(s.traffic);
    EXPECT_EQ(s.traffic->totals.sent, s.rx());         // everything the generator put on the wire was received
    EXPECT_EQ(s.traffic->totals.received, s.tx());     // and everything transmitted came back
    EXPECT_EQ(s.traffic->totals.foreign, 0U);
    EXPECT_EQ(s.traffic->totals.reordered, 0U);
}

} // namespace

TEST(appliance, forwards_built_in_traffic_and_accounts_for_every_packet)
{
    app_config cfg;
    cfg.virtual_ports = 2;
    cfg.traffic.rate_pps = 200'000;
    appliance app(cfg);
    EXPECT_EQ(app.plan().ports.size(), 2U);
    EXPECT_EQ(app.plan().shadow_txq(), app.plan().tx_lcores.size());
    const auto s = run_for(app, std::chrono::milliseconds(300));
    EXPECT_GT(s.rx(), 10'000U);
    EXPECT_EQ(s.drops_total(), 0U);
    expect_accounted(s);
    EXPECT_EQ(app.mempool_in_use(), 0U);
    ASSERT_FALSE(s.lcores.empty());
    EXPECT_GT(s.lcores.front().loops, 0U);
    EXPECT_EQ(s.lcores.front().role, app.plan().main_forwards ? "rtc+main" : "rtc");
}

TEST(appliance, unpaced_traffic_with_shadow_queues_still_balances)
{
    app_config cfg;
    cfg.virtual_ports = 4;
    cfg.shadow_txq = 2;
    cfg.traffic.rate_pps = 0;
    cfg.traffic.clients = 1000;
    appliance app(cfg);
    EXPECT_EQ(app.plan().pairs.size(), 2U);
    const auto s = run_for(app, std::chrono::milliseconds(300));
    EXPECT_GT(s.rx(), 10'000U);
    expect_accounted(s);
    EXPECT_EQ(app.mempool_in_use(), 0U);
}

TEST(appliance, bad_plans_are_config_errors)
{
    app_config odd;
    odd.virtual_ports = 3;
    EXPECT_THROW(appliance{odd}, config_error);
    app_config lcores;
    lcores.virtual_ports = 2;
    lcores.fwd_lcores = {7};
    EXPECT_THROW(appliance{lcores}, config_error);
    // A failed construction leaves nothing behind: a good one still works.
    app_config good;
    good.virtual_ports = 2;
    appliance app(good);
    EXPECT_EQ(app.plan().ports.size(), 2U);
}
