// Scaling the shadow: reserve steps, then the hook, run as a real child
// process (shell scripts written by the test). No EAL.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shadownet/snm/scaler.hpp"

using namespace shadownet;
using namespace shadownet::snm;

namespace {

std::string script(const std::string& body)
{
    char name[] = "/tmp/shadownet-hook-XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    const std::string text = "#!/bin/sh\n" + body + "\n";
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    ::chmod(name, 0755);
    return name;
}

std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

scaling_config base_config()
{
    scaling_config c;
    c.base = {{std::uint16_t{1}, {1000, 0}}};
    c.reserve = {{std::uint16_t{1}, {400, 0}}};
    c.reserve_steps = 2;
    c.up_after_s = 0.2;
    c.down_after_s = 1;
    c.hook_timeout_s = 2;
    return c;
}

// Ticks until `done` or `seconds` of scaler time, 100 ms a tick, sleeping
// `real_sleep` between ticks (a hook is a real process).
template <typename Done>
double run_until(scaler& s, double& t, const shadow_load& load, double seconds, Done done,
                 std::chrono::milliseconds real_sleep = std::chrono::milliseconds(0))
{
    const double end = t + seconds;
    while (t < end && !done()) {
        t += 0.1;
        s.tick(t, {load});
        if (real_sleep.count() > 0)
            std::this_thread::sleep_for(real_sleep);
    }
    return t;
}

} // namespace

TEST(scaler, reserve_steps_up_under_overload_and_down_with_hysteresis)
{
    scaler s(base_config());
    EXPECT_DOUBLE_EQ(s.capacity(1).pps, 1000);
    EXPECT_DOUBLE_EQ(s.capacity(7).pps, 0) << "a port without a shadow capacity is unlimited";
    double t = 0;
    const shadow_load over{1, 1300, 1000, 0};
    run_until(s, t, over, 5, [&] { return s.capacity(1).pps >= 1400; });
    EXPECT_DOUBLE_EQ(s.capacity(1).pps, 1400);
    ASSERT_EQ(s.events().size(), 2U);
    EXPECT_EQ(s.events()[0].action, "reserve-up");
    EXPECT_DOUBLE_EQ(s.events()[0].capacity_pps, 1200);
    // Demand falls: a step down only after down_after_s under the low mark.
    const shadow_load low{1, 300, 300, 0};
    s.tick(t + 0.1, {low});
    EXPECT_DOUBLE_EQ(s.capacity(1).pps, 1400) << "not at once";
    t += 0.1;
    run_until(s, t, low, 10, [&] { return s.capacity(1).pps <= 1000; });
    EXPECT_DOUBLE_EQ(s.capacity(1).pps, 1000);
    EXPECT_EQ(s.events().back().action, "reserve-down");
}

TEST(scaler, the_hook_gets_the_documented_request_and_its_grant_counts)
{
    char dir[] = "/tmp/shadownet-hookdir-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string req = std::string(dir) + "/request.json";
    auto cfg = base_config();
    cfg.hook = script("cat > " + req + "; echo \"$1\" > " + std::string(dir) +
                      "/arg; echo '{\"granted_pps\": 500, \"granted_bps\": 0}'");
    scaler s(cfg);
    double t = 0;
    const shadow_load over{1, 2000, 1400, 30};
    run_until(s, t, over, 20, [&] { return s.capacity(1).pps >= 1900; }, std::chrono::milliseconds(20));
    EXPECT_DOUBLE_EQ(s.capacity(1).pps, 1900) << "base 1000 + reserve 400 + granted 500";
    const std::string request = slurp(req);
    for (const char* member : {"\"event\":\"scale_up\"", "\"port\":1", "\"shadow_capacity_pps\":1400",
                               "\"shadow_wanted_pps\":2000", "\"requested_pps\":600", "\"time\":"})
        EXPECT_NE(request.find(member), std::string::npos) << member << " in " << request;
    EXPECT_EQ(slurp(std::string(dir) + "/arg"), "scale-up\n");
    const auto& e = s.events().back();
    EXPECT_EQ(e.action, "hook-up");
    EXPECT_EQ(e.result, "ok: granted 500 pps");
    EXPECT_EQ(e.request + "\n", request);
    EXPECT_GT(e.duration_s, 0.0);
    std::remove(cfg.hook.c_str());
}

TEST(scaler, a_failing_hook_is_reported_and_grants_nothing)
{
    auto cfg = base_config();
    cfg.reserve.clear();
    cfg.hook = script("cat >/dev/null; echo 'no capacity left' >&2; exit 3");
    scaler s(cfg);
    double t = 0;
    run_until(s, t, {1, 2000, 1000, 10}, 10, [&] { return !s.events().empty(); }, std::chrono::milliseconds(20));
    ASSERT_FALSE(s.events().empty());
    EXPECT_EQ(s.events().front().result, "failed: exit status 3");
    EXPECT_DOUBLE_EQ(s.capacity(1).pps, 1000);

    cfg.hook = script("cat >/dev/null; echo 'not json'");
    scaler garbled(cfg);
    t = 0;
    run_until(garbled, t, {1, 2000, 1000, 10}, 10, [&] { return !garbled.events().empty(); },
              std::chrono::milliseconds(20));
    ASSERT_FALSE(garbled.events().empty());
    EXPECT_NE(garbled.events().front().result.find("failed: the answer is not"), std::string::npos);

    cfg.hook = "/nonexistent/hook";
    scaler missing(cfg);
    t = 0;
    run_until(missing, t, {1, 2000, 1000, 10}, 5, [&] { return !missing.events().empty(); });
    ASSERT_FALSE(missing.events().empty());
    EXPECT_NE(missing.events().front().result.find("cannot run"), std::string::npos);
}

TEST(scaler, a_hanging_hook_never_blocks_a_tick_and_is_killed_at_its_timeout)
{
    auto cfg = base_config();
    cfg.reserve.clear();
    cfg.hook_timeout_s = 0.5;
    char marker[] = "/tmp/shadownet-hang-XXXXXX";
    const int fd = mkstemp(marker);
    ::close(fd);
    cfg.hook = script(std::string("echo $$ > ") + marker + "; exec sleep 30");
    scaler s(cfg);
    double t = 0;
    // Ticks on scaler time only: each returns while the hook still runs.
    run_until(s, t, {1, 2000, 1000, 10}, 0.4, [] { return false; });
    bool running = false;
    for (int i = 0; i < 100 && !running; ++i) {
        s.tick(t, {{1, 2000, 1000, 10}});
        running = !s.ports().empty() && s.ports()[0].hook_running;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(running) << "the tick returned with the hook still running";
    EXPECT_TRUE(s.events().empty());
    // Let the hook get as far as telling us who it is.
    for (int i = 0; i < 500 && slurp(marker).empty(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_FALSE(slurp(marker).empty());
    // Its pid now: once it is killed, the tick may start the next request's
    // hook at once, whose `echo $$ >` truncates the marker again.
    const auto pid = std::stoi(slurp(marker));
    t += 1.0; // past the timeout
    s.tick(t, {{1, 2000, 1000, 10}});
    ASSERT_EQ(s.events().size(), 1U);
    EXPECT_NE(s.events()[0].result.find("timed out"), std::string::npos) << s.events()[0].result;
    EXPECT_NE(::kill(pid, 0), 0) << "the hook process is gone";
    std::remove(marker);
    std::remove(cfg.hook.c_str());
}

TEST(scaler, answers_parse_strictly)
{
    EXPECT_EQ(parse_hook_answer("{\"granted_pps\": 5}")->pps, 5);
    EXPECT_EQ(parse_hook_answer(" {\"granted_bps\": 1e9, \"granted_pps\": 0} \n")->bps, 1e9);
    EXPECT_EQ(parse_hook_answer("{}")->pps, 0);
    EXPECT_FALSE(parse_hook_answer(""));
    EXPECT_FALSE(parse_hook_answer("granted 5"));
    EXPECT_FALSE(parse_hook_answer("{\"granted_pps\": -5}"));
    EXPECT_FALSE(parse_hook_answer("{\"granted_pps\": \"lots\"}"));
}
