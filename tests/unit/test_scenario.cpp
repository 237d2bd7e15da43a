// Demand profiles produce the curves they promise; scenario files parse, and
// bad ones get an error naming the line and the setting.
#include <cmath>
#include <cstdio>
#include <fstream>

#include <unistd.h>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "shadownet/core/error.hpp"
#include "shadownet/gen/profile.hpp"
#include "shadownet/gen/scenario.hpp"

using namespace shadownet;
using namespace shadownet::gen;

namespace {

std::string error_of(const std::string& text)
{
    try {
        parse_scenario(text, "test.scn");
    } catch (const config_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no config_error for:\n" << text;
    return {};
}

// Sampled per 0.1 s tick, as the generator does.
std::vector<double> curve(const profile& p, double until)
{
    std::vector<double> out;
    for (int i = 0; i * 0.1 <= until + 1e-9; ++i)
        out.push_back(p.rate_at(i * 0.1));
    return out;
}

} // namespace

TEST(profile, constant_and_step)
{
    profile_params c;
    c.rate = 500;
    for (const double r : curve(profile(c), 5))
        EXPECT_DOUBLE_EQ(r, 500);
    profile_params s;
    s.kind = profile_kind::step;
    s.base = 100;
    s.rate = 900;
    s.at = 2;
    const profile p(s);
    EXPECT_DOUBLE_EQ(p.rate_at(1.9), 100);
    EXPECT_DOUBLE_EQ(p.rate_at(2.0), 900);
    EXPECT_DOUBLE_EQ(p.peak(5), 900);
}

TEST(profile, ramp_is_linear_between_its_ends)
{
    profile_params r;
    r.kind = profile_kind::ramp;
    r.base = 0;
    r.rate = 1000;
    r.at = 1;
    r.until = 3;
    const profile p(r);
    EXPECT_DOUBLE_EQ(p.rate_at(0.5), 0);
    EXPECT_NEAR(p.rate_at(2), 500, 1e-9);
    EXPECT_NEAR(p.rate_at(2.5), 750, 1e-9);
    EXPECT_DOUBLE_EQ(p.rate_at(10), 1000);
    const auto c = curve(p, 4);
    for (std::size_t i = 1; i < c.size(); ++i)
        EXPECT_GE(c[i], c[i - 1]);
}

TEST(profile, diurnal_cycles_between_trough_and_peak)
{
    profile_params d;
    d.kind = profile_kind::diurnal;
    d.base = 100;
    d.rate = 1100;
    d.period = 10;
    const profile p(d);
    EXPECT_NEAR(p.rate_at(0), 100, 1e-9);
    EXPECT_NEAR(p.rate_at(5), 1100, 1e-9);
    EXPECT_NEAR(p.rate_at(2.5), 600, 1e-9);
    EXPECT_NEAR(p.rate_at(10), 100, 1e-9);
    double mean = 0;
    const auto c = curve(p, 9.9);
    for (const double r : c)
        mean += r / static_cast<double>(c.size());
    EXPECT_NEAR(mean, 600, 1);
}

TEST(profile, flash_crowd_surges_then_decays)
{
    profile_params f;
    f.kind = profile_kind::flash;
    f.base = 100;
    f.rate = 0; // from factor
    f.factor = 10;
    f.at = 2;
    f.rise = 0.5;
    f.decay = 1;
    const profile p(f);
    EXPECT_DOUBLE_EQ(p.rate_at(1.99), 100);
    EXPECT_NEAR(p.rate_at(2.25), 550, 1e-6);
    EXPECT_NEAR(p.rate_at(2.5), 1000, 1e-6);
    EXPECT_NEAR(p.rate_at(3.5), 100 + 900 * std::exp(-1.0), 1e-6);
    EXPECT_LT(p.rate_at(20), 101);
    EXPECT_NEAR(p.peak(10), 1000, 1);
}

TEST(profile, trace_replays_scaled_and_time_compressed)
{
    profile_params t;
    t.kind = profile_kind::trace;
    t.trace = {1, 2, 4, 2};
    t.rate = 800;
    t.slot = 0.5;
    const profile p(t);
    EXPECT_DOUBLE_EQ(p.rate_at(0.1), 200);
    EXPECT_DOUBLE_EQ(p.rate_at(1.2), 800);
    EXPECT_DOUBLE_EQ(p.rate_at(1.7), 400);
    EXPECT_DOUBLE_EQ(p.rate_at(2.1), 200); // loops
    t.loop = false;
    EXPECT_DOUBLE_EQ(profile(t).rate_at(2.1), 0);
}

TEST(profile, bad_numbers_never_make_negative_or_nan_rates)
{
    profile_params s;
    s.kind = profile_kind::ramp;
    s.base = -5;
    s.rate = std::nan("");
    s.at = 0;
    s.until = 1;
    const profile p(s);
    for (const double r : curve(p, 2)) {
        EXPECT_TRUE(std::isfinite(r));
        EXPECT_GE(r, 0);
    }
}

TEST(scenario, parses_groups_and_general_settings)
{
    const auto s = parse_scenario(R"(
# two groups
duration = 12
tick = 0.05
catch_up = 1.5

[group web]
clients = 8
src = 10.1.0.1
proto = tcp
flows = 3
size = imix
profile = diurnal   ; inline comment
rate = 2000
base = 200
period = 6

[group attack]
clients = 1
src = 10.9.0.1
proto = syn
profile = dos
rate = 50000
at = 2
until = 8
spoof = 1000
)",
                                  "test.scn");
    EXPECT_DOUBLE_EQ(s.duration, 12);
    EXPECT_DOUBLE_EQ(s.tick, 0.05);
    EXPECT_DOUBLE_EQ(s.catch_up, 1.5);
    ASSERT_EQ(s.groups.size(), 2U);
    EXPECT_EQ(s.client_count(), 9U);
    const auto& web = s.groups[0];
    EXPECT_EQ(web.name, "web");
    EXPECT_EQ(web.src, (10U << 24) | (1U << 16) | 1U);
    EXPECT_EQ(web.proto, l4_kind::tcp);
    EXPECT_EQ(web.size, 0); // imix
    EXPECT_EQ(web.demand.kind, profile_kind::diurnal);
    EXPECT_NEAR(profile(web.demand).rate_at(3), 2000, 1e-6);
    const auto& attack = s.groups[1];
    EXPECT_EQ(attack.proto, l4_kind::syn);
    EXPECT_EQ(attack.spoof, 1000U);
    EXPECT_NEAR(profile(attack.demand).rate_at(5), 25000, 1e-6);
}

TEST(scenario, errors_name_the_line_and_setting)
{
    EXPECT_NE(error_of("duration = soon\n[group a]\n").find("line 1: duration = 'soon' is not a number"),
              std::string::npos);
    EXPECT_NE(error_of("[group a]\nrate = -3\n").find("line 2: rate = -3 is not in"), std::string::npos);
    EXPECT_NE(error_of("[group a]\nsrc = 10.0.0.300\n").find("line 2: src = '10.0.0.300' is not an IPv4 address"),
              std::string::npos);
    EXPECT_NE(error_of("[group a]\nprofile = wobbly\n").find("line 2: profile 'wobbly' is not one of"),
              std::string::npos);
    EXPECT_NE(error_of("[group a]\ncolour = red\n").find("line 2: unknown setting 'colour' in group 'a'"),
              std::string::npos);
    EXPECT_NE(error_of("[grup a]\n").find("line 1: '[grup a]' is not a [group NAME] section"), std::string::npos);
    EXPECT_NE(error_of("[group a]\n[group a]\n").find("line 2: group 'a' appears twice"), std::string::npos);
    EXPECT_NE(error_of("[group a]\nclients 4\n").find("line 2: 'clients 4' is not 'name = value'"),
              std::string::npos);
    EXPECT_NE(error_of("duration = 3\n").find("no [group NAME] sections"), std::string::npos);
    EXPECT_NE(error_of("catch_up = 1\n[group a]\n").find("line 1: catch_up must be 0 (off) or above 1"),
              std::string::npos);
    EXPECT_NE(error_of("[group a]\nprofile = trace\n").find("needs trace = FILE"), std::string::npos);
    EXPECT_NE(error_of("[group a]\nprofile = ramp\nat = 5\nuntil = 2\n").find("until > at"), std::string::npos);
    EXPECT_NE(error_of("[group a]\nflows = 2.5\n").find("not a whole number"), std::string::npos);
    EXPECT_NE(error_of("[group a]\nprofile = trace\ntrace = /nonexistent.csv\n").find("cannot open"),
              std::string::npos);
}

TEST(scenario, command_line_overrides)
{
    auto s = parse_scenario("[group web]\nrate = 10\n", "test.scn");
    apply_override(s, "duration=4");
    apply_override(s, "web.rate = 99");
    EXPECT_DOUBLE_EQ(s.duration, 4);
    EXPECT_DOUBLE_EQ(s.groups[0].demand.rate, 99);
    EXPECT_THROW(apply_override(s, "nosuch.rate=1"), config_error);
    EXPECT_THROW(apply_override(s, "rate"), config_error);
    const auto simple = simple_scenario(10, 1000, 3);
    EXPECT_EQ(simple.client_count(), 10U);
    EXPECT_DOUBLE_EQ(profile(simple.groups[0].demand).rate_at(1), 100);
}

TEST(scenario, trace_files_are_read_and_bad_rows_named)
{
    const std::string path = "/tmp/shadownet-test-trace.csv";
    std::ofstream(path) << "t,value\n1,10\n2,30\n3,20\n";
    const auto v = read_trace_csv(path);
    EXPECT_EQ(v, (std::vector<double>{10, 30, 20}));
    std::ofstream(path) << "t,value\n1,10\n2,lots\n";
    try {
        read_trace_csv(path);
        FAIL() << "accepted a bad row";
    } catch (const config_error& e) {
        EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
    }
    std::remove(path.c_str());
}

TEST(scenario, real_trace_replays_when_present)
{
    const char* dir = std::getenv("SHADOWNET_TRAFFIC_DIR");
    const std::string path = std::string(dir ? dir : "") + "/inet_eu_5min.csv";
    if (!dir || !std::ifstream(path))
        GTEST_SKIP() << "real traces not found (set SHADOWNET_TRAFFIC_DIR; default ../shared/data/traffic)";
    profile_params t;
    t.kind = profile_kind::trace;
    t.trace = read_trace_csv(path);
    t.rate = 10'000;
    t.slot = 0.1;
    EXPECT_EQ(t.trace.size(), 14'772U);
    const profile p(t);
    EXPECT_NEAR(p.peak(t.slot * static_cast<double>(t.trace.size())), 10'000, 1e-6);
    // A day (288 slots of 5 minutes) replays in 28.8 s and has a trough well below its peak.
    double lo = 1e18;
    double hi = 0;
    for (int i = 0; i < 288; ++i) {
        lo = std::min(lo, p.rate_at(i * 0.1));
        hi = std::max(hi, p.rate_at(i * 0.1));
    }
    EXPECT_LT(lo, hi / 2);
}

TEST(scenario, ipv6_groups_take_their_family_from_src)
{
    const auto s = parse_scenario("[group v6]\nclients = 4\nsrc = 2001:db8::10\n[group v6b]\nsrc = 2001:db8:1::1\n"
                                  "dst = 2001:db8:ff::2\n[group v4]\nsrc = 10.0.0.1\n",
                                  "test.scn");
    ASSERT_EQ(s.groups.size(), 3U);
    const auto& a = s.groups[0];
    EXPECT_TRUE(a.ipv6);
    EXPECT_EQ(a.src6[1], 0x01);
    EXPECT_EQ(a.src6[15], 0x10);
    EXPECT_EQ(a.dst6[1], 0x01); // the default, 2001:2::1
    EXPECT_EQ(a.dst6[3], 0x02);
    EXPECT_EQ(s.groups[1].dst6[5], 0xff);
    EXPECT_FALSE(s.groups[2].ipv6);
    EXPECT_NE(error_of("[group a]\nsrc = 2001:db8::1\ndst = 198.18.0.1\n").find("src is IPv6 but dst is IPv4"),
              std::string::npos);
    EXPECT_NE(error_of("[group a]\ndst = 2001:db8::1\n").find("src is IPv4 but dst is IPv6"), std::string::npos);
    EXPECT_NE(error_of("[group a]\nsrc = 2001:db8::zz\n").find("line 2: src = '2001:db8::zz' is not an IPv6 address"),
              std::string::npos);
    EXPECT_NE(error_of("[group a]\nclients = 3\nsrc = 2001:db8::ffff:ffff:ffff:fffe\n").find("past the end of the /64"),
              std::string::npos);
    EXPECT_NE(error_of("[group a]\nloop = perhaps\n").find("loop = 'perhaps' is not yes or no"), std::string::npos);
}

namespace {

// A classic pcap (microsecond timestamps, Ethernet) written byte by byte.
void write_test_pcap(const std::string& path, const std::vector<std::pair<double, std::vector<std::uint8_t>>>& frames,
                     std::uint32_t link = 1)
{
    std::ofstream out(path, std::ios::binary);
    const auto u32 = [&out](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
    const auto u16 = [&out](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
    u32(0xa1b2c3d4);
    u16(2);
    u16(4);
    u32(0);
    u32(0);
    u32(65535);
    u32(link);
    for (const auto& [t, bytes] : frames) {
        u32(static_cast<std::uint32_t>(1000 + std::floor(t)));
        u32(static_cast<std::uint32_t>(std::lround((t - std::floor(t)) * 1e6)));
        u32(static_cast<std::uint32_t>(bytes.size()));
        u32(static_cast<std::uint32_t>(bytes.size()));
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
}

} // namespace

TEST(scenario, pcap_groups_read_their_capture_and_name_bad_ones)
{
    const std::string path = "/tmp/shadownet-test-" + std::to_string(::getpid()) + ".pcap";
    write_test_pcap(path, {{0.5, std::vector<std::uint8_t>(60, 1)},
                           {0.75, std::vector<std::uint8_t>(100, 2)},
                           {1.5, std::vector<std::uint8_t>(70, 3)}});
    const auto s = parse_scenario(fmt::format("[group replay]\npcap = {}\ntiming = profile\nspeed = 2\nloop = no\n", path),
                                  "test.scn");
    const auto& g = s.groups.at(0);
    ASSERT_TRUE(g.pcap);
    ASSERT_EQ(g.pcap->frames.size(), 3U);
    EXPECT_EQ(g.pcap->frames[1].bytes.size(), 100U);
    EXPECT_NEAR(g.pcap->frames[1].t, 0.25, 1e-6);
    EXPECT_NEAR(g.pcap->span, 1.0 + 0.5, 1e-6); // the last frame's time plus the mean gap
    EXPECT_EQ(g.timing, replay_timing::profile);
    EXPECT_DOUBLE_EQ(g.speed, 2);
    EXPECT_FALSE(g.demand.loop);
    EXPECT_NE(error_of(fmt::format("[group r]\nclients = 2\npcap = {}\n", path)).find("a pcap group is one client"),
              std::string::npos);
    EXPECT_NE(error_of("[group r]\ntiming = late\n").find("timing = 'late' is not original or profile"),
              std::string::npos);
    EXPECT_NE(error_of("[group r]\npcap = /nonexistent.pcap\n").find("line 2: pcap '/nonexistent.pcap': cannot open"),
              std::string::npos);
    write_test_pcap(path, {{0, std::vector<std::uint8_t>(60, 1)}}, 101); // raw IP, not Ethernet
    EXPECT_NE(error_of(fmt::format("[group r]\npcap = {}\n", path)).find("is not Ethernet"), std::string::npos);
    write_test_pcap(path, {});
    EXPECT_NE(error_of(fmt::format("[group r]\npcap = {}\n", path)).find("no frames"), std::string::npos);
    std::remove(path.c_str());
}
