// Console commands against a real appliance on virtual ports: the same
// parse -> action -> reply path the console, scripts and the socket use.
#include <chrono>
#include <sstream>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <gtest/gtest.h>

#include "shadownet/control/appliance.hpp"
#include "shadownet/control/appliance_target.hpp"
#include "shadownet/control/commands.hpp"

using namespace shadownet;
using namespace shadownet::control;
namespace pt = boost::property_tree;

namespace {

void run_for(appliance& app, std::chrono::milliseconds how_long)
{
    const auto end = std::chrono::steady_clock::now() + how_long;
    while (std::chrono::steady_clock::now() < end)
        app.poll();
}

pt::ptree json(command_target& t, const std::string& line)
{
    exec_context ctx{t, output_format::text, 0, {}, {}, {}};
    const reply r = execute_line(ctx, line);
    EXPECT_TRUE(r.ok) << line << ": " << r.text;
    std::istringstream in(r.text);
    pt::ptree doc;
    pt::read_json(in, doc);
    return doc;
}

std::uint64_t rx_total(command_target& t)
{
    std::uint64_t n = 0;
    const auto doc = json(t, "show port stats all json");
    for (const auto& p : doc.get_child("ports"))
        n += p.second.get<std::uint64_t>("rx");
    return n;
}

std::uint64_t raw_rx(const appliance& app)
{
    return app.snapshot().rx();
}

app_config small()
{
    app_config cfg;
    cfg.virtual_ports = 2;
    cfg.traffic.rate_pps = 100'000;
    cfg.traffic.clients = 8;
    return cfg;
}

} // namespace

TEST(console_commands, set_route_then_show_client_json_reflects_it)
{
    appliance app(small());
    appliance_target t(app);
    app.start();
    run_for(app, std::chrono::milliseconds(200));
    ASSERT_EQ(json(t, "show clients json").get<int>("total"), 8);
    EXPECT_EQ(json(t, "show client 3 json").get<std::string>("path"), "primary");
    const auto set = json(t, "set client 3 route shadow json");
    EXPECT_TRUE(set.get<bool>("changed"));
    EXPECT_EQ(json(t, "show client 3 json").get<std::string>("path"), "shadow");
    EXPECT_EQ(app.client_table().get_route(3).via, dataplane::path::shadow); // the fast path's own view
    run_for(app, std::chrono::milliseconds(200));
    const auto c = json(t, "show client 3 json");
    EXPECT_GT(c.get<std::uint64_t>("tx_packets.shadow"), 0U) << "traffic took the shadow path";
    const auto sh = json(t, "show shadow json");
    EXPECT_EQ(sh.get<int>("clients_total"), 1);
    EXPECT_EQ(sh.get_child("clients").front().second.get<int>("id"), 3);
    EXPECT_EQ(sh.get_child("ports").size(), 2U);
    // The manager's account: a few ticks on, client 3 is reserved shadow
    // capacity and its egress port's shadow shows it used.
    run_for(app, std::chrono::milliseconds(300));
    const auto use = json(t, "show shadow json");
    double used = 0, reserved = 0;
    for (const auto& p : use.get_child("ports")) {
        used += p.second.get<double>("used_pps");
        reserved += p.second.get<double>("reserved_pps");
    }
    EXPECT_GT(used, 0.0);
    EXPECT_GT(reserved, 0.0);
    EXPECT_GT(use.get_child("clients").front().second.get<double>("reservation.pps"), 0.0);
    EXPECT_GT(use.get_child("clients").front().second.get<double>("used_pps"), 0.0);
    EXPECT_EQ(json(t, "set client 3 route primary json").get<std::string>("path"), "primary");
    EXPECT_EQ(app.client_table().get_route(3).via, dataplane::path::primary);
    exec_context ctx{t, output_format::text, 0, {}, {}, {}};
    EXPECT_FALSE(execute_line(ctx, "set client 999 route shadow").ok);
    app.stop();
    const auto s = app.snapshot();
    EXPECT_EQ(s.rx(), s.tx() + s.drops_total());
}

TEST(console_commands, clear_port_stats_zeroes_the_view_not_the_lcores_counters)
{
    appliance app(small());
    appliance_target t(app);
    app.start();
    run_for(app, std::chrono::milliseconds(200));
    const auto before = raw_rx(app);
    ASSERT_GT(before, 1000U);
    ASSERT_GE(rx_total(t), before);
    json(t, "clear port stats all json");
    const auto view = rx_total(t);
    const auto raw = raw_rx(app);
    EXPECT_LT(view, before / 2) << "the view restarts from zero";
    EXPECT_GE(raw, before) << "the lcores' counters are never reset";
    json(t, "clear port stats 0 json");
    run_for(app, std::chrono::milliseconds(100));
    EXPECT_GT(rx_total(t), 0U);
    app.stop();
    const auto s = app.snapshot(); // the summary still balances on cumulative counters
    EXPECT_EQ(s.rx(), s.tx() + s.drops_total());
    ASSERT_TRUE(s.traffic);
    EXPECT_EQ(s.traffic->totals.sent, s.rx());
}

TEST(console_commands, stop_pauses_forwarding_and_start_resumes)
{
    appliance app(small());
    appliance_target t(app);
    app.start();
    run_for(app, std::chrono::milliseconds(150));
    ASSERT_GT(raw_rx(app), 0U);
    EXPECT_FALSE(json(t, "stop json").get<bool>("forwarding"));
    EXPECT_FALSE(app.forwarding());
    run_for(app, std::chrono::milliseconds(50)); // an RX burst under way finishes
    const auto paused_at = raw_rx(app);
    run_for(app, std::chrono::milliseconds(200));
    EXPECT_EQ(raw_rx(app), paused_at) << "nothing is received while stopped";
    EXPECT_TRUE(json(t, "start json").get<bool>("changed"));
    run_for(app, std::chrono::milliseconds(200));
    EXPECT_GT(raw_rx(app), paused_at) << "forwarding resumed";
    // Stopping the appliance while paused drains what waits in the ports.
    json(t, "stop json");
    run_for(app, std::chrono::milliseconds(50));
    app.stop();
    const auto s = app.snapshot();
    EXPECT_EQ(s.rx(), s.tx() + s.drops_total());
    ASSERT_TRUE(s.traffic);
    EXPECT_EQ(s.traffic->totals.sent, s.rx());
    EXPECT_EQ(s.traffic->totals.received, s.tx());
    EXPECT_EQ(app.mempool_in_use(), 0U);
}

TEST(console_commands, lcores_drops_xstats_from_a_real_appliance)
{
    appliance app(small());
    appliance_target t(app);
    app.start();
    run_for(app, std::chrono::milliseconds(150));
    const auto l = json(t, "show lcores json").get_child("lcores");
    ASSERT_EQ(l.size(), app.plan().fwd_lcores.size());
    EXPECT_GT(l.front().second.get<std::uint64_t>("loops"), 0U);
    EXPECT_EQ(json(t, "show drops json").get<int>("total"), 0);
    const auto x = json(t, "show port xstats 0 json").get_child("ports");
    ASSERT_EQ(x.size(), 1U);
    EXPECT_FALSE(x.front().second.get_child("xstats").empty());
    app.stop();
}
