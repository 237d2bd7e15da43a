// The command layer without EAL or a terminal: parse -> action -> reply
// against a fake target, every show's JSON form parsed back, scripts.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <gtest/gtest.h>

#include "shadownet/control/commands.hpp"
#include "shadownet/core/error.hpp"

using namespace shadownet;
using namespace shadownet::control;
namespace pt = boost::property_tree;

namespace {

client_snapshot make_client(std::uint32_t id, const std::string& path)
{
    client_snapshot c;
    c.id = id;
    c.key = "10.0.0." + std::to_string(id);
    c.path = path;
    c.totals.rx_packets = 100 * id;
    c.totals.rx_bytes = 6400 * id;
    c.totals.tx_packets[path == "shadow" ? 1 : 0] = 100 * id;
    return c;
}

// Records what the actions asked for; holds a small appliance's worth of state.
class fake_target final : public command_target {
public:
    fake_target()
    {
        for (std::uint16_t p = 0; p < 2; ++p) {
            port_snapshot s;
            s.id = p;
            s.name = "net_ring_vport" + std::to_string(p);
            s.rx = 1000 + p;
            s.tx = 990;
            s.forwarded = 990;
            s.drops[static_cast<std::size_t>(dataplane::drop_reason::bad_ihl)] = 10 + p;
            ports.push_back(s);
        }
        for (std::uint32_t id = 1; id <= 5; ++id)
            clients_by_id[id] = make_client(id, "primary");
    }

    std::vector<std::uint16_t> port_ids() const override { return {0, 1}; }
    std::vector<port_snapshot> port_stats() override { return ports; }
    std::vector<std::pair<std::string, std::uint64_t>> port_xstats(std::uint16_t port) override
    {
        return {{"rx_good_packets", 1000U + port}, {"tx_good_packets", 990}};
    }
    void clear_port_stats(std::optional<std::uint16_t> port) override
    {
        cleared.push_back(port ? int(*port) : -1);
        for (auto& p : ports)
            if (!port || p.id == *port) {
                p.rx = p.tx = p.forwarded = 0;
                p.drops = {};
            }
    }
    std::vector<lcore_snapshot> lcores() override
    {
        lcore_snapshot l;
        l.id = 1;
        l.role = "rtc";
        l.loops = 500;
        l.busy_cycles = 3000;
        l.idle_cycles = 1000;
        l.packets = 30;
        return {l};
    }
    clients_page clients(std::size_t start, std::size_t count) override
    {
        clients_page page;
        page.total = clients_by_id.size();
        std::size_t i = 0;
        for (const auto& [id, c] : clients_by_id) {
            if (i >= start && page.clients.size() < count)
                page.clients.push_back(c);
            ++i;
        }
        page.next = start + count < page.total ? start + count : 0;
        return page;
    }
    client_detail client(std::uint32_t id) override
    {
        const auto it = clients_by_id.find(id);
        if (it == clients_by_id.end())
            throw std::out_of_range("client " + std::to_string(id) + " does not exist");
        client_detail d;
        d.summary = it->second;
        d.route_epoch = epochs[id];
        d.samples = 3;
        d.last_sample = client_sample{1.5F, 1e6F, 2000.0F, 0.01F, 0.0F};
        return d;
    }
    shadow_view shadow() override
    {
        shadow_view v;
        v.queues_per_lcore = 1;
        v.tx_lcores = 1;
        shadow_port_view p0;
        p0.port = 0;
        p0.name = "net_ring_vport0";
        p0.first_queue = 1;
        p0.queues = 1;
        v.ports.push_back(p0);
        // Port 1 leaves on port 2 on the shadow, which may carry 12 000 pps;
        // the manager has reserved 9 000 of it and its clients use 4 000.
        shadow_port_view p1 = p0;
        p1.port = 1;
        p1.name = "net_ring_vport1";
        p1.shadow_port = 2;
        p1.capacity = {12'000, 0};
        p1.reserved_pps = 9'000;
        p1.wanted_pps = 9'500;
        p1.used_pps = 4'000;
        p1.clients_on_shadow = 0;
        for (const auto& [id, c] : clients_by_id)
            if (c.path == "shadow") {
                v.clients.push_back(c);
                ++p1.clients_on_shadow;
            }
        v.ports.push_back(p1);
        return v;
    }
    route_change set_client_route(std::uint32_t id, dataplane::path via) override
    {
        if (no_shadow && via == dataplane::path::shadow)
            throw config_error("no shadow TX queues are reserved (--shadow-txq 0)");
        auto& c = clients_by_id.at(id); // std::out_of_range for unknown clients, as the appliance
        const std::string path = via == dataplane::path::shadow ? "shadow" : "primary";
        const bool changed = c.path != path;
        c.path = path;
        return {id, via, ++epochs[id], changed};
    }
    snm_snapshot snm() override
    {
        snm_snapshot m;
        m.policy = policy_name(policy);
        m.scores.switches_to_shadow = 3;
        m.scores.needed = 2;
        m.scores.lead_time_sum_s = 1.0;
        m.scores.high_watermark = 0.9;
        m.scores.quantile = 0.9675;
        m.scores.quantile_raises = 2;
        snm::port_view p;
        p.port = 1;
        p.primary_capacity = {40'000, 0};
        p.measured_pps = 31'000;
        p.predicted_pps = 37'500;
        p.constrained = true;
        m.ports.push_back(p);
        return m;
    }
    void set_policy(snm_policy p) override { policy = p; }
    void set_client_priority(std::uint32_t id, int priority) override
    {
        const auto it = clients_by_id.find(id);
        if (it == clients_by_id.end()) // as the appliance says it
            throw std::out_of_range("client " + std::to_string(id) + " does not exist");
        auto& c = it->second;
        if (!c.shadow)
            c.shadow = snm::client_view{};
        c.shadow->priority = priority;
    }
    // Failover: the real decision logic (pure) behind a port 1 with shadow port 2.
    failover_snapshot failover() override
    {
        failover_snapshot f;
        f.mode = "shadownet";
        f.poll_us = 100;
        f.egresses = fo.egresses();
        for (const auto& h : fo.ports()) {
            failover_port_status st;
            st.health = h;
            st.name = "net_ring_vport" + std::to_string(h.port);
            st.link_up = !links_down.count(h.port);
            st.fault_injected = faults.count(h.port) > 0;
            f.ports.push_back(st);
        }
        f.events = fo.events();
        return f;
    }
    void set_port_link(std::uint16_t port, bool up) override
    {
        if (port > 2)
            throw std::out_of_range("port " + std::to_string(port) + " is not an appliance port");
        if (port == 0)
            throw std::runtime_error("port 0 (net_null0): the driver cannot set its link down");
        if (up)
            links_down.erase(port);
        else
            links_down.insert(port);
    }
    void set_port_fault(std::uint16_t port, bool on_) override
    {
        if (port > 2)
            throw std::out_of_range("port " + std::to_string(port) + " is not an appliance port");
        if (on_)
            faults.insert(port);
        else
            faults.erase(port);
    }
    void switchover(std::uint16_t port) override
    {
        // The ports come up first, as the appliance's monitor would see them.
        const std::vector<snm::port_sample> up{{1, true, 0, 0, 0, 0, false, false, {}}, {2, true, 0, 0, 0, 0, false, false, {}}};
        fo.observe(1.0, up);
        fo.switchover(2.0, port);
    }
    bool forwarding() const override { return on; }
    bool set_forwarding(bool v) override { return std::exchange(on, v); }
    void request_quit() override { quit = true; }

    std::vector<port_snapshot> ports;
    std::map<std::uint32_t, client_snapshot> clients_by_id;
    std::map<std::uint32_t, std::uint16_t> epochs;
    std::vector<int> cleared;
    bool on = true;
    bool quit = false;
    bool no_shadow = false;
    snm_policy policy = snm_policy::predictive;
    snm::failover fo{snm::failover_config{}, {{1, 2}, {0, 0}}, {}};
    std::set<std::uint16_t> links_down, faults;
};

parsed_command parse_ok(std::string_view line)
{
    auto r = parse_command(line);
    EXPECT_TRUE(r.command) << line << ": " << r.error;
    if (!r.command)
        throw std::runtime_error(r.error);
    return *r.command;
}

std::string parse_error(std::string_view line)
{
    auto r = parse_command(line);
    EXPECT_FALSE(r.command) << line << " should not parse";
    return r.error;
}

reply run(fake_target& t, std::string_view line)
{
    exec_context ctx{t, output_format::text, 0, {}, {}, {}};
    return execute_line(ctx, line);
}

pt::ptree json_of(fake_target& t, std::string_view line)
{
    const reply r = run(t, line);
    EXPECT_TRUE(r.ok) << line << ": " << r.text;
    std::istringstream in(r.text);
    pt::ptree doc;
    try {
        pt::read_json(in, doc);
    } catch (const pt::json_parser_error& e) {
        ADD_FAILURE() << line << ": not JSON (" << e.what() << "): " << r.text;
    }
    return doc;
}

bool has(const std::string& text, const std::string& what)
{
    return text.find(what) != std::string::npos;
}

} // namespace

TEST(command_grammar, every_command_in_the_table_parses_from_its_usage)
{
    const std::map<std::string, std::string> examples = {
        {"show port stats", "show port stats all"},     {"show port xstats", "show port xstats 1"},
        {"clear port stats", "clear port stats 0"},     {"show lcores", "show lcores"},
        {"show clients", "show clients 10 20"},         {"show client", "show client 7"},
        {"show shadow", "show shadow"},                 {"set client", "set client 7 route shadow"},
        {"set client priority", "set client 7 priority 3"},
        {"show snm", "show snm"},                       {"set policy", "set policy off"},
        {"show drops", "show drops"},                   {"start", "start"},
        {"stop", "stop"},                               {"load", "load /tmp/x.cmd"},
        {"wait", "wait 100"},                           {"quit", "quit"},
        {"help", "help show port"},                     {"show failover", "show failover"},
        {"set link-down port", "set link-down port 1"}, {"set link-up port", "set link-up port 1"},
        {"port fail", "port fail 1"},                   {"port restore", "port restore 1"},
        {"port switchover", "port switchover 1"},
    };
    for (const auto& spec : command_table()) {
        const auto it = examples.find(std::string(spec.name));
        ASSERT_NE(it, examples.end()) << "no example for " << spec.name;
        const auto c = parse_ok(it->second);
        EXPECT_EQ(c.spec, &spec) << it->second;
        EXPECT_FALSE(c.json);
        const auto j = parse_ok(it->second + " json");
        EXPECT_TRUE(j.json) << it->second;
        EXPECT_EQ(j.spec, &spec);
    }
    EXPECT_EQ(examples.size(), command_table().size());
}

TEST(command_grammar, arguments_are_typed)
{
    auto c = parse_ok("  show   clients 3\t9  ");
    EXPECT_EQ(c.number_or("start", 0), 3U);
    EXPECT_EQ(c.number_or("count", 0), 9U);
    EXPECT_EQ(c.line, "show clients 3 9");
    c = parse_ok("show clients");
    EXPECT_EQ(c.number_or("start", 42), 42U);
    EXPECT_FALSE(c.arg("count").present);
    c = parse_ok("show port stats all");
    EXPECT_TRUE(c.arg("port").present);
    EXPECT_FALSE(c.arg("port").number);
    c = parse_ok("set client 9 priority 65535");
    EXPECT_EQ(c.spec->name, "set client priority");
    EXPECT_EQ(*c.arg("id").number, 9U);
    EXPECT_EQ(*c.arg("priority").number, 65535U);
    EXPECT_EQ(c.spec->access, command_access::changing);
    c = parse_ok("set client 4294967295 route primary # trailing comment");
    EXPECT_EQ(*c.arg("id").number, 4294967295U);
    EXPECT_EQ(c.arg("path").word, "primary");
    EXPECT_EQ(c.spec->access, command_access::changing);
    EXPECT_EQ(parse_ok("show drops").spec->access, command_access::read_only);
    EXPECT_TRUE(parse_ok("load x").spec->local_only);
    EXPECT_EQ(parse_ok("help set client").arg("command").word, "set client");
}

TEST(command_grammar, bad_lines_get_an_error_naming_the_command_and_the_reason)
{
    EXPECT_EQ(parse_error(""), "empty command");
    EXPECT_EQ(parse_error("  # only a comment"), "empty command");
    EXPECT_TRUE(has(parse_error("frobnicate"), "unknown command 'frobnicate'")) << parse_error("frobnicate");
    const auto e1 = parse_error("show");
    EXPECT_TRUE(has(e1, "show: incomplete command") && has(e1, "clients") && has(e1, "shadow")) << e1;
    const auto e2 = parse_error("show port frob all");
    EXPECT_TRUE(has(e2, "unknown word 'frob'") && has(e2, "stats, xstats")) << e2;
    const auto e3 = parse_error("show port stats");
    EXPECT_TRUE(has(e3, "show port stats: missing <port|all>")) << e3;
    const auto e4 = parse_error("show port stats x1");
    EXPECT_TRUE(has(e4, "show port stats: port 'x1' is not a number or all")) << e4;
    const auto e5 = parse_error("show port stats 5000");
    EXPECT_TRUE(has(e5, "out of range (0-1023)")) << e5;
    const auto e6 = parse_error("set client 1 route sideways");
    EXPECT_TRUE(has(e6, "set client: path must be primary|shadow, not 'sideways'")) << e6;
    // Two commands start "set client <id>": a wrong third word names both.
    const auto e7 = parse_error("set client 1 path shadow");
    EXPECT_TRUE(has(e7, "set client: expected 'route' or 'priority', not 'path'")) << e7;
    const auto e8 = parse_error("set client -1 route shadow");
    EXPECT_TRUE(has(e8, "id '-1' is not a number")) << e8;
    const auto e9 = parse_error("set client 99999999999 route shadow");
    EXPECT_TRUE(has(e9, "out of range")) << e9;
    const auto e10 = parse_error("quit now");
    EXPECT_TRUE(has(e10, "quit: unexpected 'now'")) << e10;
    const auto e11 = parse_error("show clients 0 0");
    EXPECT_TRUE(has(e11, "count 0 is out of range (1-100000)")) << e11;
    const auto e12 = parse_error("set client 3 route");
    EXPECT_TRUE(has(e12, "set client: missing <primary|shadow>")) << e12;
    // The candidate that got furthest along the line names the error.
    const auto e13 = parse_error("set client 3 priority high");
    EXPECT_TRUE(has(e13, "set client priority: priority 'high' is not a number")) << e13;
    const auto e14 = parse_error("set client 3 priority 70000");
    EXPECT_TRUE(has(e14, "set client priority: priority 70000 is out of range (0-65535)")) << e14;
    const auto e15 = parse_error("set client 3 priority");
    EXPECT_TRUE(has(e15, "set client priority: missing <priority>")) << e15;
    const auto e16 = parse_error("set client 3 route shadow now");
    EXPECT_TRUE(has(e16, "set client: unexpected 'now'")) << e16;
    EXPECT_TRUE(has(parse_error("load"), "load: missing <file>"));
}

TEST(command_actions, show_port_stats_text_and_json)
{
    fake_target t;
    auto r = run(t, "show port stats all");
    ASSERT_TRUE(r.ok) << r.text;
    EXPECT_TRUE(has(r.text, "port 0 (net_ring_vport0)") && has(r.text, "port 1 (net_ring_vport1)")) << r.text;
    r = run(t, "show port stats 1");
    EXPECT_FALSE(has(r.text, "port 0 ")) << r.text;
    const auto doc = json_of(t, "show port stats 1 json");
    const auto& ports = doc.get_child("ports");
    ASSERT_EQ(ports.size(), 1U);
    EXPECT_EQ(ports.front().second.get<int>("id"), 1);
    EXPECT_EQ(ports.front().second.get<int>("rx"), 1001);
    EXPECT_EQ(ports.front().second.get<int>("dropped.bad_ihl"), 11);
    r = run(t, "show port stats 7");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.text, "show port stats: port 7 is not an appliance port");
}

TEST(command_actions, xstats_and_clear)
{
    fake_target t;
    const auto doc = json_of(t, "show port xstats all json");
    ASSERT_EQ(doc.get_child("ports").size(), 2U);
    EXPECT_EQ(doc.get_child("ports").back().second.get<int>("xstats.rx_good_packets"), 1001);
    auto r = run(t, "clear port stats 1");
    ASSERT_TRUE(r.ok) << r.text;
    EXPECT_EQ(t.cleared, std::vector<int>{1});
    EXPECT_EQ(t.ports[1].rx, 0U);
    EXPECT_EQ(t.ports[0].rx, 1000U);
    const auto cleared = json_of(t, "clear port stats all json");
    EXPECT_EQ(t.cleared.back(), -1);
    EXPECT_EQ(cleared.get_child("cleared").size(), 2U);
    EXPECT_FALSE(run(t, "clear port stats 3").ok);
    EXPECT_EQ(t.cleared.size(), 2U); // an unknown port clears nothing
}

TEST(command_actions, lcores_drops_and_shadow)
{
    fake_target t;
    auto doc = json_of(t, "show lcores json");
    const auto& l = doc.get_child("lcores").front().second;
    EXPECT_EQ(l.get<std::string>("role"), "rtc");
    EXPECT_DOUBLE_EQ(l.get<double>("busy_percent"), 75.0);
    EXPECT_DOUBLE_EQ(l.get<double>("cycles_per_packet"), 100.0);
    EXPECT_TRUE(has(run(t, "show lcores").text, "75.0"));

    doc = json_of(t, "show drops json");
    EXPECT_EQ(doc.get<int>("total"), 21);
    EXPECT_EQ(doc.get<int>("dropped.bad_ihl"), 21);
    EXPECT_EQ(doc.get<int>("dropped.tx_full"), 0);
    EXPECT_TRUE(has(run(t, "show drops").text, "bad_ihl"));

    doc = json_of(t, "show shadow json");
    EXPECT_EQ(doc.get<int>("clients_total"), 0);
    EXPECT_EQ(doc.get_child("ports").back().second.get<int>("shadow_port"), 2);
    ASSERT_TRUE(run(t, "set client 3 route shadow").ok);
    doc = json_of(t, "show shadow json");
    EXPECT_EQ(doc.get<int>("clients_total"), 1);
    EXPECT_EQ(doc.get_child("clients").front().second.get<int>("id"), 3);
    const auto text = run(t, "show shadow").text;
    EXPECT_TRUE(has(text, "clients on the shadow path: 1") && has(text, "port 2")) << text;
}

TEST(command_actions, show_shadow_shows_capacity_reservations_and_use)
{
    fake_target t;
    // Client 3 on the shadow, with the manager's reservation for it.
    ASSERT_TRUE(run(t, "set client 3 route shadow").ok);
    snm::client_view v;
    v.res = {750, 6e6, 800};
    v.shadow_used_pps = 420;
    v.priority = 2;
    t.clients_by_id[3].shadow = v;

    auto doc = json_of(t, "show shadow json");
    const auto& ports = doc.get_child("ports");
    ASSERT_EQ(ports.size(), 2U);
    const auto& p0 = ports.front().second;
    EXPECT_DOUBLE_EQ(p0.get<double>("capacity_pps"), 0) << "no --shadow-capacity: unlimited";
    EXPECT_DOUBLE_EQ(p0.get<double>("reserved_pps"), 0);
    const auto& p1 = ports.back().second;
    EXPECT_DOUBLE_EQ(p1.get<double>("capacity_pps"), 12000);
    EXPECT_DOUBLE_EQ(p1.get<double>("reserved_pps"), 9000);
    EXPECT_DOUBLE_EQ(p1.get<double>("wanted_pps"), 9500);
    EXPECT_DOUBLE_EQ(p1.get<double>("used_pps"), 4000);
    EXPECT_EQ(p1.get<unsigned>("clients_on_shadow"), 1U);
    const auto& c = doc.get_child("clients").front().second;
    EXPECT_EQ(c.get<int>("id"), 3);
    EXPECT_DOUBLE_EQ(c.get<double>("reservation.pps"), 750);
    EXPECT_DOUBLE_EQ(c.get<double>("reservation.bps"), 6e6);
    EXPECT_DOUBLE_EQ(c.get<double>("reservation.wanted_pps"), 800);
    EXPECT_DOUBLE_EQ(c.get<double>("used_pps"), 420);
    EXPECT_EQ(c.get<int>("priority"), 2);

    const auto text = run(t, "show shadow").text;
    EXPECT_TRUE(has(text, "unlimited")) << text;
    EXPECT_TRUE(has(text, "12000 pps") && has(text, "9000 pps") && has(text, "4000 pps")) << text;
    EXPECT_TRUE(has(text, "reserved_pps") && has(text, "750") && has(text, "6000000") && has(text, "420")) << text;
}

TEST(command_actions, clients_pages_and_one_client)
{
    fake_target t;
    auto doc = json_of(t, "show clients 1 2 json");
    EXPECT_EQ(doc.get<int>("total"), 5);
    EXPECT_EQ(doc.get<int>("next"), 3);
    ASSERT_EQ(doc.get_child("clients").size(), 2U);
    EXPECT_EQ(doc.get_child("clients").front().second.get<int>("id"), 2);
    doc = json_of(t, "show clients json");
    EXPECT_EQ(doc.get_child("clients").size(), 5U);
    EXPECT_EQ(doc.get<int>("next"), 0);
    EXPECT_TRUE(has(run(t, "show clients 0 2").text, "next page: show clients 2 2"));

    doc = json_of(t, "show client 4 json");
    EXPECT_EQ(doc.get<std::string>("key"), "10.0.0.4");
    EXPECT_EQ(doc.get<std::string>("path"), "primary");
    EXPECT_EQ(doc.get<int>("rx_packets"), 400);
    EXPECT_DOUBLE_EQ(doc.get<double>("last_sample.packets_per_s"), 2000.0);
    const auto r = run(t, "show client 9");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.text, "show client: client 9 does not exist");
}

TEST(command_actions, set_client_route_then_show_client_reflects_it)
{
    fake_target t;
    auto doc = json_of(t, "set client 2 route shadow json");
    EXPECT_EQ(doc.get<std::string>("path"), "shadow");
    EXPECT_TRUE(doc.get<bool>("changed"));
    EXPECT_EQ(json_of(t, "show client 2 json").get<std::string>("path"), "shadow");
    EXPECT_FALSE(json_of(t, "set client 2 route shadow json").get<bool>("changed"));
    EXPECT_TRUE(has(run(t, "set client 2 route primary").text, "client 2 route primary"));
    EXPECT_EQ(t.clients_by_id[2].path, "primary");
    auto r = run(t, "set client 77 route shadow");
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(has(r.text, "set client:")) << r.text;
    t.no_shadow = true;
    r = run(t, "set client 2 route shadow");
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(has(r.text, "--shadow-txq 0")) << r.text;
}

TEST(command_actions, set_client_priority_then_show_client_reflects_it)
{
    fake_target t;
    auto doc = json_of(t, "set client 4 priority 7 json");
    EXPECT_EQ(doc.get<unsigned>("client"), 4U);
    EXPECT_EQ(doc.get<int>("priority"), 7);
    ASSERT_TRUE(t.clients_by_id[4].shadow);
    EXPECT_EQ(t.clients_by_id[4].shadow->priority, 7);
    EXPECT_EQ(json_of(t, "show client 4 json").get<int>("snm.priority"), 7);
    EXPECT_TRUE(has(run(t, "show client 4").text, "priority: 7")) << run(t, "show client 4").text;
    EXPECT_TRUE(has(run(t, "set client 4 priority 0").text, "client 4 priority 0"));
    EXPECT_EQ(t.clients_by_id[4].shadow->priority, 0);
    const auto r = run(t, "set client 77 priority 1");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.text, "set client priority: client 77 does not exist");
    EXPECT_TRUE(has(run(t, "help set client").text, "set client <id> priority <priority>"));
}

TEST(command_actions, shadow_manager_policy_scores_and_client_forecast)
{
    fake_target t;
    auto doc = json_of(t, "show snm json");
    EXPECT_EQ(doc.get<std::string>("snm.policy"), "predictive");
    EXPECT_EQ(doc.get<unsigned>("snm.scores.needed"), 2U);
    EXPECT_DOUBLE_EQ(doc.get<double>("snm.scores.mean_lead_s"), 0.5);
    EXPECT_EQ(doc.get_child("snm.ports").size(), 1U);
    const auto text = run(t, "show snm").text;
    EXPECT_TRUE(has(text, "policy predictive")) << text;
    EXPECT_TRUE(has(text, "37500")) << text;
    EXPECT_TRUE(has(text, "quantile 0.9675 (raised 2, lowered 0 times)")) << text;
    EXPECT_DOUBLE_EQ(doc.get<double>("snm.scores.quantile"), 0.9675);
    EXPECT_EQ(doc.get<unsigned>("snm.scores.quantile_raises"), 2U);

    EXPECT_EQ(json_of(t, "set policy reactive json").get<std::string>("policy"), "reactive");
    EXPECT_EQ(t.policy, snm_policy::reactive);
    EXPECT_TRUE(has(run(t, "show snm").text, "policy reactive"));
    EXPECT_FALSE(run(t, "set policy psychic").ok);
    EXPECT_EQ(t.policy, snm_policy::reactive);

    // A client the manager knows shows its profile, forecast, reservation and routes.
    snm::client_view v;
    v.prof.kind = snm::client_class::bursty;
    v.prof.mean_pps = 1234;
    v.pred.upper_pps = 4321;
    v.res.pps = 4753;
    v.history.push_back({2.5, dataplane::path::shadow, "predicted primary over high watermark"});
    t.clients_by_id[3].shadow = v;
    doc = json_of(t, "show client 3 json");
    EXPECT_EQ(doc.get<std::string>("snm.profile.class"), "bursty");
    EXPECT_DOUBLE_EQ(doc.get<double>("snm.forecast.upper_pps"), 4321);
    EXPECT_EQ(doc.get_child("snm.routes").size(), 1U);
    const auto one = run(t, "show client 3").text;
    EXPECT_TRUE(has(one, "profile: bursty")) << one;
    EXPECT_TRUE(has(one, "route at 2.5 s: shadow (predicted primary over high watermark)")) << one;
    EXPECT_FALSE(has(run(t, "show client 2").text, "profile:"));
}

TEST(command_actions, failover_roles_faults_and_switchover)
{
    fake_target t;
    auto doc = json_of(t, "show failover json");
    EXPECT_EQ(doc.get<std::string>("failover.mode"), "shadownet");
    ASSERT_EQ(doc.get_child("failover.egresses").size(), 2U);
    EXPECT_EQ(doc.get_child("failover.egresses").front().second.get<unsigned>("primary"), 1U);
    EXPECT_EQ(doc.get_child("failover.egresses").front().second.get<unsigned>("shadow"), 2U);
    auto text = run(t, "show failover").text;
    EXPECT_TRUE(has(text, "egress")) << text;

    // A planned switchover answers with the egress's new roles.
    doc = json_of(t, "port switchover 1 json");
    EXPECT_EQ(doc.get<unsigned>("egress"), 1U);
    EXPECT_EQ(doc.get<unsigned>("primary"), 2U);
    EXPECT_EQ(doc.get<unsigned>("shadow"), 1U);
    EXPECT_EQ(doc.get<unsigned>("epoch"), 1U);
    text = run(t, "show failover").text;
    EXPECT_TRUE(has(text, "switchover")) << text;
    // Port 0 is its own shadow (its queues): nothing to switch to, and the reply says why.
    auto r = run(t, "port switchover 0");
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(has(r.text, "port switchover") && has(r.text, "own queues")) << r.text;
    r = run(t, "port switchover 2");
    EXPECT_TRUE(r.ok) << r.text; // port 2 is the primary now: back again
    EXPECT_FALSE(run(t, "port switchover 7").ok);

    EXPECT_TRUE(has(run(t, "set link-down port 1").text, "port 1: link down"));
    EXPECT_EQ(t.links_down.count(1), 1U);
    EXPECT_EQ(json_of(t, "set link-up port 1 json").get<std::string>("link"), "up");
    EXPECT_EQ(t.links_down.count(1), 0U);
    r = run(t, "set link-down port 0");
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(has(r.text, "cannot set its link")) << r.text;
    EXPECT_FALSE(run(t, "set link-down port 9").ok);
    EXPECT_EQ(json_of(t, "port fail 2 json").get<std::string>("fault"), "injected");
    EXPECT_EQ(t.faults.count(2), 1U);
    EXPECT_TRUE(has(run(t, "show failover").text, "fault injected"));
    EXPECT_TRUE(has(run(t, "port restore 2").text, "fault cleared"));
    EXPECT_EQ(t.faults.count(2), 0U);
}

TEST(command_actions, start_stop_quit_help)
{
    fake_target t;
    EXPECT_TRUE(has(run(t, "stop").text, "forwarding stopped"));
    EXPECT_FALSE(t.on);
    EXPECT_TRUE(has(run(t, "stop").text, "already stopped"));
    auto doc = json_of(t, "start json");
    EXPECT_TRUE(t.on);
    EXPECT_TRUE(doc.get<bool>("forwarding"));
    EXPECT_TRUE(doc.get<bool>("changed"));
    const auto q = run(t, "quit");
    EXPECT_TRUE(q.quit && t.quit);
    doc = json_of(t, "help json");
    EXPECT_EQ(doc.get_child("commands").size(), command_table().size());
    doc = json_of(t, "help show port json");
    EXPECT_EQ(doc.get_child("commands").size(), 2U);
    EXPECT_TRUE(has(run(t, "help set").text, "set client <id> route <primary|shadow>"));
    EXPECT_FALSE(run(t, "help frob").ok);
    double waited = -1;
    bool stopping = false;
    exec_context ctx{t, output_format::text, 0, {}, {}, [&](double s) {
                         waited = s;
                         return !stopping;
                     }};
    const auto full = execute_line(ctx, "wait 250");
    EXPECT_TRUE(full.ok && !full.quit);
    EXPECT_DOUBLE_EQ(waited, 0.25);
    // A wait the appliance cut short (it is stopping) ends a script like `quit`.
    stopping = true;
    const auto cut = execute_line(ctx, "wait 250 json");
    EXPECT_TRUE(cut.ok && cut.quit);
    EXPECT_TRUE(has(cut.text, "\"stopping\": true")) << cut.text;
    std::istringstream script("wait 1000\nset client 1 route shadow\n");
    const auto res = run_script(ctx, script, "s.cmd", false, {});
    EXPECT_TRUE(res.quit);
    EXPECT_EQ(res.ran, 1U);
    EXPECT_EQ(t.clients_by_id.at(1).path, "primary") << "the line after a cut-short wait ran";
}

TEST(command_actions, every_show_has_valid_json_including_the_context_format)
{
    fake_target t;
    ASSERT_TRUE(run(t, "set client 1 route shadow").ok);
    for (const auto& spec : command_table()) {
        if (spec.access != command_access::read_only || spec.local_only)
            continue;
        std::string line = std::string(spec.name);
        if (line == "show port stats" || line == "show port xstats")
            line += " all";
        if (line == "show client")
            line += " 1";
        exec_context ctx{t, output_format::json, 0, {}, {}, {}};
        const reply r = execute_line(ctx, line); // JSON from the context, no json word
        ASSERT_TRUE(r.ok) << line << ": " << r.text;
        std::istringstream in(r.text);
        pt::ptree doc;
        EXPECT_NO_THROW(pt::read_json(in, doc)) << line << ": " << r.text;
    }
}

TEST(command_actions, changing_commands_are_audited_and_read_only_ones_are_not)
{
    fake_target t;
    std::vector<std::string> audited;
    exec_context ctx{t, output_format::text, 0,
                     [&](const parsed_command& c, const reply& r) { audited.push_back(c.line + (r.ok ? " ok" : " failed")); },
                     {}, {}};
    execute_line(ctx, "show drops");
    execute_line(ctx, "set   client 1 route shadow");
    execute_line(ctx, "set client 99 route shadow");
    execute_line(ctx, "stop json");
    EXPECT_EQ(audited, (std::vector<std::string>{"set client 1 route shadow ok", "set client 99 route shadow failed",
                                                 "stop json ok"}));
}

TEST(command_scripts, run_in_order_report_file_line_and_stop_on_error)
{
    fake_target t;
    exec_context ctx{t, output_format::text, 0, {}, {}, {}};
    std::istringstream script("# flip a client\n\nset client 2 route shadow\nshow client 99\nset client 3 route shadow\n"
                              "quit\nset client 4 route shadow\n");
    std::vector<reply> replies;
    auto res = run_script(ctx, script, "flip.cmd", false, [&](const reply& r) { replies.push_back(r); });
    EXPECT_EQ(res.ran, 4U); // stops at quit
    EXPECT_EQ(res.failed, 1U);
    EXPECT_TRUE(res.quit);
    ASSERT_EQ(res.errors.size(), 1U);
    EXPECT_EQ(res.errors[0], "flip.cmd:4: show client: client 99 does not exist");
    EXPECT_EQ(t.clients_by_id[3].path, "shadow");
    EXPECT_EQ(t.clients_by_id[4].path, "primary");
    EXPECT_EQ(replies.size(), 4U);

    fake_target t2;
    exec_context ctx2{t2, output_format::text, 0, {}, {}, {}};
    std::istringstream bad("set client 2 route shadow\nshow nonsense\nset client 3 route shadow\n");
    res = run_script(ctx2, bad, "bad.cmd", true, {});
    EXPECT_TRUE(res.stopped);
    EXPECT_EQ(res.ran, 2U);
    EXPECT_EQ(res.errors.at(0).rfind("bad.cmd:2: show: unknown word 'nonsense'", 0), 0U) << res.errors.at(0);
    EXPECT_EQ(t2.clients_by_id[3].path, "primary");
}

TEST(command_scripts, load_runs_a_file_and_refuses_to_nest_forever)
{
    const std::string dir = ::testing::TempDir();
    const std::string file = dir + "/shadownet_load_test.cmd";
    {
        std::ofstream(file) << "set client 5 route shadow\nshow client 5\n";
    }
    fake_target t;
    auto r = run(t, "load " + file);
    ASSERT_TRUE(r.ok) << r.text;
    EXPECT_EQ(t.clients_by_id[5].path, "shadow");
    EXPECT_TRUE(has(r.text, "client 5 (10.0.0.5)") && has(r.text, "2 command(s)")) << r.text;
    r = run(t, "load /nonexistent/x.cmd");
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(has(r.text, "cannot open")) << r.text;
    const std::string loop = dir + "/shadownet_load_loop.cmd";
    {
        std::ofstream(loop) << "load " << loop << "\n";
    }
    r = run(t, "load " + loop);
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(has(r.text, "nested more than 8 deep")) << r.text;
}
