#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "shadownet/core/config.hpp"
#include "shadownet/core/error.hpp"

using namespace shadownet;

namespace {

parsed_options parse(std::vector<std::string> args)
{
    return parse_app_options(args);
}

// The message of the config_error that parsing `args` throws; fails the test if none.
std::string error_of(std::vector<std::string> args)
{
    try {
        parse_app_options(args);
    } catch (const config_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no config_error for the arguments";
    return {};
}

std::string temp_file(const std::string& text)
{
    char name[] = "/tmp/shadownet-config-XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    ::close(fd);
    std::ofstream(name) << text;
    return name;
}

} // namespace

TEST(config, defaults_when_no_arguments)
{
    const auto p = parse({});
    EXPECT_FALSE(p.help);
    EXPECT_EQ(p.config.duration_s, 0);
    EXPECT_FALSE(p.config.virtual_ports.has_value());
    EXPECT_FALSE(p.config.ports.has_value());
    EXPECT_TRUE(p.config.port_pairs.empty());
    EXPECT_EQ(p.config.burst, 32);
}

TEST(config, parses_every_kind_of_value)
{
    const auto p = parse({"--duration", "2.5", "--summary-json", "out.json", "--virtual-ports", "4", "--ports",
                          "0-2,5", "--port-pairs", "0:1,2:5", "--shadow-txq", "3", "--fwd-lcores", "1,2", "--burst",
                          "64", "--traffic-rate", "0", "--packet-size", "128", "-q"});
    EXPECT_DOUBLE_EQ(p.config.duration_s, 2.5);
    EXPECT_EQ(p.config.summary_json, "out.json");
    EXPECT_EQ(p.config.virtual_ports, 4);
    ASSERT_TRUE(p.config.ports);
    EXPECT_EQ(*p.config.ports, (std::vector<std::uint16_t>{0, 1, 2, 5}));
    EXPECT_EQ(p.config.port_pairs, (std::vector<port_pair>{{0, 1}, {2, 5}}));
    EXPECT_EQ(p.config.shadow_txq, 3);
    EXPECT_EQ(p.config.fwd_lcores, (std::vector<unsigned>{1, 2}));
    EXPECT_EQ(p.config.burst, 64);
    EXPECT_EQ(p.config.traffic.rate_pps, 0);
    EXPECT_EQ(p.config.traffic.packet_size, 128);
    EXPECT_TRUE(p.config.quiet);
}

TEST(config, help_and_version_are_flags)
{
    EXPECT_TRUE(parse({"--help"}).help);
    EXPECT_TRUE(parse({"-h"}).help);
    EXPECT_TRUE(parse({"--version"}).version);
    EXPECT_NE(app_options_help().find("--summary-json"), std::string::npos);
}

TEST(config, bad_values_name_the_option)
{
    EXPECT_NE(error_of({"--duration", "-1"}).find("--duration"), std::string::npos);
    EXPECT_NE(error_of({"--duration", "soon"}).find("duration"), std::string::npos);
    EXPECT_NE(error_of({"--burst", "0"}).find("--burst"), std::string::npos);
    EXPECT_NE(error_of({"--burst", "600"}).find("--burst"), std::string::npos);
    EXPECT_NE(error_of({"--packet-size", "20"}).find("--packet-size"), std::string::npos);
    EXPECT_NE(error_of({"--traffic-clients", "0"}).find("--traffic-clients"), std::string::npos);
    EXPECT_NE(error_of({"--virtual-ports", "17"}).find("--virtual-ports"), std::string::npos);
    EXPECT_NE(error_of({"--ports", "1,,2"}).find("--ports"), std::string::npos);
    EXPECT_NE(error_of({"--ports", "3-1"}).find("--ports"), std::string::npos);
    EXPECT_NE(error_of({"--ports", "1,1"}).find("twice"), std::string::npos);
    EXPECT_NE(error_of({"--port-pairs", "0-1"}).find("A:B"), std::string::npos);
    EXPECT_NE(error_of({"--port-pairs", "0:1,1:2"}).find("already paired"), std::string::npos);
    EXPECT_NE(error_of({"--fwd-lcores", "x"}).find("--fwd-lcores"), std::string::npos);
    EXPECT_NE(error_of({"--duration"}).find("duration"), std::string::npos);
}

TEST(config, unknown_options_are_errors_with_a_hint_for_eal_flags)
{
    EXPECT_NE(error_of({"--frobnicate"}).find("unknown option '--frobnicate'"), std::string::npos);
    const auto e = error_of({"-l", "0-1"});
    EXPECT_NE(e.find("'-l'"), std::string::npos);
    EXPECT_NE(e.find("before '--'"), std::string::npos);
    // No prefix guessing: --dur is not --duration.
    EXPECT_NE(error_of({"--dur", "1"}).find("unknown option"), std::string::npos);
}

TEST(config, config_file_sets_options_and_command_line_wins)
{
    const auto path = temp_file("# a comment\nduration = 7\nburst = 16\nport-pairs = 0:1\n");
    const auto p = parse({"--config", path, "--burst", "8"});
    EXPECT_DOUBLE_EQ(p.config.duration_s, 7);
    EXPECT_EQ(p.config.burst, 8);
    EXPECT_EQ(p.config.port_pairs, (std::vector<port_pair>{{0, 1}}));
    std::remove(path.c_str());
}

TEST(config, config_file_errors_name_the_file)
{
    EXPECT_NE(error_of({"--config", "/nonexistent/shadownet.conf"}).find("cannot open"), std::string::npos);
    const auto unknown = temp_file("colour = blue\n");
    const auto e = error_of({"--config", unknown});
    EXPECT_NE(e.find(unknown), std::string::npos);
    EXPECT_NE(e.find("colour"), std::string::npos);
    std::remove(unknown.c_str());
    const auto bad = temp_file("burst = many\n");
    EXPECT_NE(error_of({"--config", bad}).find("burst"), std::string::npos);
    std::remove(bad.c_str());
}

TEST(config, split_at_double_dash)
{
    const char* with[] = {"shadownet", "-l", "0-1", "--no-huge", "--", "--duration", "1"};
    const auto a = split_command_line(7, with);
    EXPECT_TRUE(a.eal_given);
    EXPECT_EQ(a.eal, (std::vector<std::string>{"shadownet", "-l", "0-1", "--no-huge"}));
    EXPECT_EQ(a.app, (std::vector<std::string>{"--duration", "1"}));

    const char* without[] = {"shadownet", "--duration", "1"};
    const auto b = split_command_line(3, without);
    EXPECT_FALSE(b.eal_given);
    EXPECT_EQ(b.eal, (std::vector<std::string>{"shadownet"}));
    EXPECT_EQ(b.app, (std::vector<std::string>{"--duration", "1"}));

    // A bare `--` gives no EAL arguments: the embedded default, as without one.
    const char* bare[] = {"shadownet", "--", "--duration", "5"};
    const auto c = split_command_line(4, bare);
    EXPECT_FALSE(c.eal_given);
    EXPECT_EQ(c.eal, (std::vector<std::string>{"shadownet"}));
    EXPECT_EQ(c.app, (std::vector<std::string>{"--duration", "5"}));

    // Only the first `--` splits; a later one is the application's business.
    const char* twice[] = {"x", "--", "a", "--", "b"};
    const auto d = split_command_line(5, twice);
    EXPECT_FALSE(d.eal_given);
    EXPECT_EQ(d.app, (std::vector<std::string>{"a", "--", "b"}));
    const char* eal_and_twice[] = {"x", "-l", "0", "--", "a", "--", "b"};
    const auto e = split_command_line(7, eal_and_twice);
    EXPECT_TRUE(e.eal_given);
    EXPECT_EQ(e.eal, (std::vector<std::string>{"x", "-l", "0"}));
    EXPECT_EQ(e.app, (std::vector<std::string>{"a", "--", "b"}));
}

TEST(config, embedded_eal_args_map_lcores_onto_allowed_cpus)
{
    const std::vector<unsigned> cpus{5, 3, 9};
    const auto args = embedded_eal_args("prog", cpus, "pfx", 2);
    const auto at = [&](const std::string& flag) {
        for (std::size_t i = 0; i + 1 < args.size(); ++i)
            if (args[i] == flag)
                return args[i + 1];
        return std::string();
    };
    EXPECT_EQ(args.front(), "prog");
    EXPECT_EQ(at("--lcores"), "0@3,1@5");
    EXPECT_EQ(at("--file-prefix"), "pfx");
    EXPECT_NE(std::find(args.begin(), args.end(), "--no-huge"), args.end());
    EXPECT_NE(std::find(args.begin(), args.end(), "--no-pci"), args.end());
    EXPECT_EQ(at("--lcores"), "0@3,1@5");
    const std::vector<unsigned> one{4};
    const auto single = embedded_eal_args("prog", one, "pfx", 2);
    EXPECT_NE(std::find(single.begin(), single.end(), "0@4"), single.end());
    EXPECT_THROW(embedded_eal_args("prog", {}, "pfx"), config_error);
}

TEST(config, rates_take_units_and_both_kinds)
{
    EXPECT_EQ(parse_rate("50kpps", "x"), (rate_spec{50'000, 0}));
    EXPECT_EQ(parse_rate("2.5Mpps", "x"), (rate_spec{2'500'000, 0}));
    EXPECT_EQ(parse_rate("64000", "x"), (rate_spec{64'000, 0}));
    EXPECT_EQ(parse_rate("100Mbit", "x"), (rate_spec{0, 100e6}));
    EXPECT_EQ(parse_rate("1Gbit", "x"), (rate_spec{0, 1e9}));
    EXPECT_EQ(parse_rate("10kpps+80Mbit", "x"), (rate_spec{10'000, 80e6}));
    for (const char* bad : {"", "kpps", "-5kpps", "0", "5furlongs", "1kpps+2kpps", "1+2+3", "1e20Gbit"}) {
        try {
            parse_rate(bad, "--primary-capacity");
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const config_error& e) {
            EXPECT_NE(std::string(e.what()).find("--primary-capacity"), std::string::npos) << e.what();
        }
    }
}

TEST(config, shadow_manager_options)
{
    const auto p = parse({"--policy", "reactive", "--primary-capacity", "1:50kpps,all:1Gbit", "--shadow-capacity",
                          "1:100kpps", "--horizon", "2", "--high-watermark", "0.8", "--low-watermark", "0.5"});
    EXPECT_EQ(p.config.snm.policy, snm_policy::reactive);
    ASSERT_EQ(p.config.snm.primary_capacity.size(), 2U);
    EXPECT_EQ(p.config.snm.primary_capacity[0], (port_capacity{1, {50'000, 0}}));
    EXPECT_EQ(p.config.snm.primary_capacity[1], (port_capacity{std::nullopt, {0, 1e9}}));
    EXPECT_EQ(p.config.snm.shadow_capacity.at(0).rate.pps, 100'000);
    EXPECT_DOUBLE_EQ(p.config.snm.horizon_s, 2);
    EXPECT_EQ(parse({}).config.snm.policy, snm_policy::predictive);
    EXPECT_TRUE(parse({}).config.snm.primary_capacity.empty());

    EXPECT_NE(error_of({"--policy", "psychic"}).find("--policy"), std::string::npos);
    EXPECT_NE(error_of({"--primary-capacity", "1=5kpps"}).find("PORT:RATE"), std::string::npos);
    EXPECT_NE(error_of({"--primary-capacity", "1:5kpps,1:6kpps"}).find("twice"), std::string::npos);
    EXPECT_NE(error_of({"--shadow-capacity", "x:5kpps"}).find("--shadow-capacity"), std::string::npos);
    EXPECT_NE(error_of({"--low-watermark", "0.95"}).find("--low-watermark"), std::string::npos);
    EXPECT_NE(error_of({"--quantile", "1.5"}).find("--quantile"), std::string::npos);
}

TEST(config, scaling_and_history_options)
{
    const auto p = parse({"--shadow-capacity", "1:10kpps", "--shadow-reserve", "1:40kpps", "--reserve-steps", "8",
                          "--scale-hook", "/bin/true", "--scale-hook-timeout", "2", "--state-dir", "/tmp/x",
                          "--history-flush", "0.5"});
    EXPECT_EQ(p.config.snm.shadow_reserve.at(0).rate.pps, 40'000);
    EXPECT_EQ(p.config.snm.reserve_steps, 8U);
    EXPECT_EQ(p.config.snm.scale_hook, "/bin/true");
    EXPECT_EQ(p.config.snm.state_dir, "/tmp/x");
    EXPECT_DOUBLE_EQ(p.config.snm.history_flush_s, 0.5);
    EXPECT_NE(error_of({"--scale-hook", "/nonexistent/hook"}).find("--scale-hook"), std::string::npos);
    EXPECT_NE(error_of({"--reserve-steps", "0"}).find("--reserve-steps"), std::string::npos);
    EXPECT_NE(error_of({"--shadow-reserve", "1:lots"}).find("--shadow-reserve"), std::string::npos);
    EXPECT_NE(error_of({"--history-flush", "0"}).find("--history-flush"), std::string::npos);
}
