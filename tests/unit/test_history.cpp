// The history store (include/shadownet/snm/history.hpp): persistence across
// reopen, exact consolidation (including a bucket spanning two flushes),
// retention, kill -9 recovery, errors, odd client keys. No EAL; no timing
// assertions (the store's costs are measured by bench/history).
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "shadownet/snm/history.hpp"

using namespace shadownet::snm;
namespace fs = std::filesystem;

namespace {

// A bucket start of every level (a multiple of 300 s), in 2023.
constexpr double t0 = 1'700'000'100.0;

class history : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string tmpl = (fs::temp_directory_path() / "shadownet-history-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        root_ = tmpl;
        dir_ = root_ / "state"; // does not exist yet: the store creates it
    }
    void TearDown() override
    {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    fs::path root_, dir_;
};

history_point pt(double t, float pps, float bps = 0, float cpu = 0, float mbufs = 0)
{
    return history_point{t, pps, bps, cpu, mbufs};
}

std::string fmt_key(int c) { return fmt::format("10.2.0.{}", c); }

std::string error_of(const std::function<void()>& f)
{
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_F(history, points_and_profiles_survive_close_and_reopen)
{
    stored_profile prof{"bursty", 5, 1000, 3000, 2500, 8e6, 2.4e7, 0.7, 1000, t0 + 5};
    {
        history_store h(dir_.string());
        for (int i = 0; i < 25; ++i) {
            h.append("10.0.0.1", pt(t0 + 0.1 * i, float(100 + i), float(8e5 + i), 0.25f, float(i)));
            h.append("10.0.0.2", pt(t0 + 0.1 * i, float(7 * i)));
            if (i == 10)
                h.flush(t0 + 1);
        }
        h.save_profile("10.0.0.1", prof);
        EXPECT_EQ(h.load_profile("10.0.0.1")->kind, "bursty"); // seen before any flush
        // No flush here: the destructor hands the rest to the writer and waits.
    }
    ASSERT_TRUE(fs::exists(dir_ / "history.sqlite"));

    history_store h(dir_.string());
    EXPECT_EQ(h.keys(), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
    auto a = h.load("10.0.0.1", history_level::tick, 0);
    ASSERT_EQ(a.size(), 25u);
    for (int i = 0; i < 25; ++i) {
        EXPECT_EQ(a[i].t, t0 + 0.1 * i);
        EXPECT_EQ(a[i].count, 1u);
        EXPECT_EQ(a[i].pps, float(100 + i));
        EXPECT_EQ(a[i].bps, float(8e5 + i));
        EXPECT_EQ(a[i].cpu, 0.25);
        EXPECT_EQ(a[i].mbufs, i);
        EXPECT_EQ(a[i].max_pps, a[i].pps);
    }
    auto since = h.load("10.0.0.2", history_level::tick, t0 + 0.1 * 20);
    ASSERT_EQ(since.size(), 5u);
    EXPECT_EQ(since.front().pps, 140);

    auto p = h.load_profile("10.0.0.1");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->kind, "bursty");
    EXPECT_EQ(p->observed_s, 5);
    EXPECT_EQ(p->mean_pps, 1000);
    EXPECT_EQ(p->peak_pps, 3000);
    EXPECT_EQ(p->p95_pps, 2500);
    EXPECT_EQ(p->mean_bps, 8e6);
    EXPECT_EQ(p->peak_bps, 2.4e7);
    EXPECT_EQ(p->cv, 0.7);
    EXPECT_EQ(p->mean_packet_bytes, 1000);
    EXPECT_EQ(p->updated, t0 + 5);
    EXPECT_FALSE(h.load_profile("10.0.0.2"));
    EXPECT_FALSE(h.load_profile("nobody"));
    EXPECT_TRUE(h.load("nobody", history_level::second, 0).empty());

    // A later save replaces the stored profile.
    prof.kind = "steady";
    h.save_profile("10.0.0.1", prof);
    h.sync();
    EXPECT_EQ(h.stats().profiles, 1u);
    EXPECT_EQ(h.integrity_check(), "ok");
}

TEST_F(history, consolidation_is_exact_across_two_flushes)
{
    history_store h(dir_.string());
    // Flush 1: two ticks of second t0.
    h.append("c", pt(t0 + 0.0, 10, 100, 1.0f, 4));
    h.append("c", pt(t0 + 0.5, 20, 300, 0.5f, 8));
    h.sync();
    auto s1 = h.load("c", history_level::second, 0);
    ASSERT_EQ(s1.size(), 1u);
    EXPECT_EQ(s1[0].t, t0);
    EXPECT_EQ(s1[0].count, 2u);
    EXPECT_DOUBLE_EQ(s1[0].pps, 15);
    EXPECT_DOUBLE_EQ(s1[0].bps, 200);
    EXPECT_DOUBLE_EQ(s1[0].max_pps, 20);
    EXPECT_DOUBLE_EQ(s1[0].max_bps, 300);

    // Flush 2: a third tick of the same second (the bucket spans both
    // flushes), and the first tick of the next second.
    h.append("c", pt(t0 + 0.75, 60, 200, 1.5f, 0));
    h.append("c", pt(t0 + 1.0, 7, 7, 2.0f, 2));
    h.sync();

    auto s = h.load("c", history_level::second, 0);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].t, t0);
    EXPECT_EQ(s[0].count, 3u);
    EXPECT_DOUBLE_EQ(s[0].pps, (10 + 20 + 60) / 3.0);   // 30
    EXPECT_DOUBLE_EQ(s[0].bps, (100 + 300 + 200) / 3.0); // 200
    EXPECT_DOUBLE_EQ(s[0].cpu, (1 + 0.5 + 1.5) / 3.0);   // 1
    EXPECT_DOUBLE_EQ(s[0].mbufs, (4 + 8 + 0) / 3.0);     // 4
    EXPECT_DOUBLE_EQ(s[0].max_pps, 60);
    EXPECT_DOUBLE_EQ(s[0].max_bps, 300);
    EXPECT_EQ(s[1].t, t0 + 1);
    EXPECT_EQ(s[1].count, 1u);
    EXPECT_DOUBLE_EQ(s[1].pps, 7);
    EXPECT_DOUBLE_EQ(s[1].max_bps, 7);

    for (auto l : {history_level::minute, history_level::five_minutes}) {
        auto m = h.load("c", l, 0);
        ASSERT_EQ(m.size(), 1u) << name_of(l);
        EXPECT_EQ(m[0].t, t0);
        EXPECT_EQ(m[0].count, 4u);
        EXPECT_DOUBLE_EQ(m[0].pps, 24.25);   // 97 / 4
        EXPECT_DOUBLE_EQ(m[0].bps, 151.75);  // 607 / 4
        EXPECT_DOUBLE_EQ(m[0].cpu, 1.25);    // 5 / 4
        EXPECT_DOUBLE_EQ(m[0].mbufs, 3.5);   // 14 / 4
        EXPECT_DOUBLE_EQ(m[0].max_pps, 60);
        EXPECT_DOUBLE_EQ(m[0].max_bps, 300);
    }

    // The warm start reads the consolidated means, oldest first.
    EXPECT_EQ(h.recent_series("c", history_level::second, 10), (std::vector<double>{30, 7}));
    EXPECT_EQ(h.recent_series("c", history_level::second, 1), (std::vector<double>{7}));
    EXPECT_EQ(h.recent_series("c", history_level::second, 2, history_field::max_pps),
              (std::vector<double>{60, 7}));
    EXPECT_EQ(h.recent_series("c", history_level::minute, 5, history_field::bps), (std::vector<double>{151.75}));
    EXPECT_TRUE(h.recent_series("nobody", history_level::second, 5).empty());
}

TEST_F(history, retention_keeps_each_level_bounded)
{
    history_options o;
    o.retention_s = {10, 60, 600, 3000};
    // 2 clients, one tick a second, flushed every minute of data time.
    auto write = [&](double from, double to) {
        history_store h(dir_.string(), o);
        for (double t = from; t < to; t += 1) {
            h.append("a", pt(t, 1));
            h.append("b", pt(t, 2));
            if (std::fmod(t - t0, 60) == 59)
                h.flush(t);
        }
        h.sync();
        return h.stats();
    };
    auto one_hour = write(t0, t0 + 3600);
    auto bytes_1h = fs::file_size(dir_ / "history.sqlite"); // closed: the log is checkpointed into it
    auto four_hours = write(t0 + 3600, t0 + 4 * 3600);
    auto bytes_4h = fs::file_size(dir_ / "history.sqlite");

    // newest = t0 + 14399. tick: t >= newest - 10 -> 11 rows; second: 61;
    // minute: starts t0+13800 .. t0+14340 -> 10; five minutes: starts
    // t0+11400 .. t0+14100 -> 10. Per client, two clients.
    EXPECT_EQ(four_hours.rows[0], 2u * 11);
    EXPECT_EQ(four_hours.rows[1], 2u * 61);
    EXPECT_EQ(four_hours.rows[2], 2u * 10);
    EXPECT_EQ(four_hours.rows[3], 2u * 10);
    EXPECT_EQ(four_hours.rows, one_hour.rows); // steady state after the longest retention
    EXPECT_EQ(four_hours.points, 2u * 3 * 3600);
    EXPECT_EQ(four_hours.failed_batches, 0u);
    // The file reuses its free pages: four times the data, not four times the size.
    EXPECT_LE(bytes_4h, bytes_1h * 5 / 4 + 16 * 1024) << bytes_1h << " -> " << bytes_4h;

    history_store h(dir_.string(), o);
    auto ticks = h.load("a", history_level::tick, 0);
    ASSERT_EQ(ticks.size(), 11u);
    EXPECT_EQ(ticks.front().t, t0 + 14389);
    EXPECT_EQ(ticks.back().t, t0 + 14399);
    auto fives = h.load("b", history_level::five_minutes, 0);
    ASSERT_EQ(fives.size(), 10u);
    EXPECT_EQ(fives.back().count, 300u);
    EXPECT_DOUBLE_EQ(fives.back().pps, 2);
}

// kill -9 after N synced flushes and some unflushed appends: the reopened
// file holds exactly the flushed points, consolidated consistently.
TEST_F(history, kill_9_loses_only_what_was_not_flushed)
{
    constexpr int flushes = 12, per_flush = 10;
    const std::vector<std::string> clients = {"10.1.0.1", "2001:db8::7", "client \"q\""};
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // The child: no gtest assertions, only exit codes.
        try {
            history_store h(dir_.string());
            int k = 0;
            for (int f = 0; f < flushes; ++f) {
                for (int i = 0; i < per_flush; ++i, ++k)
                    for (std::size_t c = 0; c < clients.size(); ++c)
                        h.append(clients[c], pt(t0 + 0.1 * k, float(k * 10 + int(c))));
                h.sync();
            }
            for (int i = 0; i < per_flush; ++i, ++k)
                for (const auto& c : clients)
                    h.append(c, pt(t0 + 0.1 * k, -1));
            h.save_profile(clients[0], stored_profile{"lost", 1, 1, 1, 1, 1, 1, 1, 1, 1});
            ::kill(::getpid(), SIGKILL);
        } catch (...) {
            ::_exit(3);
        }
        ::_exit(4);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    ASSERT_EQ(WTERMSIG(status), SIGKILL);

    history_store h(dir_.string()); // the child's lock died with it
    EXPECT_EQ(h.integrity_check(), "ok");
    EXPECT_EQ(h.keys(), (std::vector<std::string>{"10.1.0.1", "2001:db8::7", "client \"q\""}));
    EXPECT_FALSE(h.load_profile(clients[0]));
    for (std::size_t c = 0; c < clients.size(); ++c) {
        auto ticks = h.load(clients[c], history_level::tick, 0);
        ASSERT_EQ(ticks.size(), std::size_t(flushes * per_flush)) << clients[c];
        for (int k = 0; k < flushes * per_flush; ++k) {
            EXPECT_EQ(ticks[k].t, t0 + 0.1 * k);
            EXPECT_EQ(ticks[k].pps, k * 10 + int(c));
        }
        std::uint32_t n = 0;
        for (const auto& s : h.load(clients[c], history_level::second, 0))
            n += s.count;
        EXPECT_EQ(n, std::uint32_t(flushes * per_flush));
        auto m = h.load(clients[c], history_level::minute, 0);
        ASSERT_EQ(m.size(), 1u);
        EXPECT_EQ(m[0].count, std::uint32_t(flushes * per_flush));
        EXPECT_EQ(m[0].max_pps, (flushes * per_flush - 1) * 10 + int(c));
    }
}

// kill -9 while batches handed over by flush() (not waited for) may be in the
// writer's hands: every batch is in the file whole or not at all, in order.
TEST_F(history, kill_9_during_writes_leaves_whole_batches)
{
    constexpr int flushes = 40, per_flush = 50, clients = 20;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        try {
            history_store h(dir_.string());
            int k = 0;
            for (int f = 0; f < flushes; ++f) {
                for (int i = 0; i < per_flush; ++i, ++k)
                    for (int c = 0; c < clients; ++c)
                        h.append(fmt_key(c), pt(t0 + 0.1 * k, float(k)));
                h.flush(t0 + 0.1 * k);
            }
            ::kill(::getpid(), SIGKILL);
        } catch (...) {
            ::_exit(3);
        }
        ::_exit(4);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);

    history_store h(dir_.string());
    EXPECT_EQ(h.integrity_check(), "ok");
    std::size_t first = h.load(fmt_key(0), history_level::tick, 0).size();
    EXPECT_EQ(first % per_flush, 0u) << "a batch was cut";
    // The child flushed back to back, far faster than the writer: what it
    // lost is bounded by the queue (max_queued_batches) plus the batch in hand.
    EXPECT_GE(first / per_flush, std::size_t(flushes) - (history_options{}.max_queued_batches + 1));
    for (int c = 0; c < clients; ++c) {
        auto ticks = h.load(fmt_key(c), history_level::tick, 0);
        EXPECT_EQ(ticks.size(), first) << "client " << c;
        for (std::size_t k = 0; k < ticks.size(); ++k)
            ASSERT_EQ(ticks[k].pps, float(k));
        std::uint32_t n = 0;
        for (const auto& s : h.load(fmt_key(c), history_level::second, 0))
            n += s.count;
        EXPECT_EQ(n, ticks.size());
    }
    std::cout << "[ info ] " << first / per_flush << " of " << flushes << " batches were committed\n";
}

TEST_F(history, bad_state_directory_is_a_clear_error)
{
    // A regular file where the directory should be.
    std::ofstream(root_ / "file") << "x";
    auto in_file = (root_ / "file" / "state").string();
    auto e = error_of([&] { history_store h(in_file); });
    EXPECT_NE(e.find(in_file), std::string::npos) << e;

    // Not a database.
    fs::create_directories(dir_);
    std::ofstream(dir_ / "history.sqlite") << std::string(8192, 'g');
    e = error_of([&] { history_store h(dir_.string()); });
    EXPECT_NE(e.find((dir_ / "history.sqlite").string()), std::string::npos) << e;
    EXPECT_NE(e.find("not a database"), std::string::npos) << e;

    // Already in use.
    fs::remove(dir_ / "history.sqlite");
    history_store first(dir_.string());
    e = error_of([&] { history_store second(dir_.string()); });
    EXPECT_NE(e.find(dir_.string()), std::string::npos) << e;
    EXPECT_NE(e.find("in use"), std::string::npos) << e;
}

TEST_F(history, unwritable_state_directory_is_a_clear_error)
{
    if (::geteuid() == 0)
        GTEST_SKIP() << "root writes through directory permissions";
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
    auto e = error_of([&] { history_store h(dir_.string()); });
    fs::permissions(dir_, fs::perms::owner_all);
    EXPECT_NE(e.find(dir_.string()), std::string::npos) << e;
}

TEST_F(history, odd_client_keys_round_trip)
{
    const std::vector<std::string> keys = {
        "2001:db8::1", "fe80::1%eth0", "[2001:db8::2]:443", "it's \"quoted\"",
        "x'); DROP TABLE clients; --", "naïve ✓", "tab\there", "",
    };
    {
        history_store h(dir_.string());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            h.append(keys[i], pt(t0, float(i + 1)));
            h.save_profile(keys[i], stored_profile{keys[i], double(i)});
        }
    }
    history_store h(dir_.string());
    auto sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(h.keys(), sorted);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto p = h.load(keys[i], history_level::tick, 0);
        ASSERT_EQ(p.size(), 1u) << keys[i];
        EXPECT_EQ(p[0].pps, float(i + 1)) << keys[i];
        auto prof = h.load_profile(keys[i]);
        ASSERT_TRUE(prof) << keys[i];
        EXPECT_EQ(prof->kind, keys[i]);
        EXPECT_EQ(prof->observed_s, double(i));
    }
}

TEST_F(history, flush_is_due_after_the_interval)
{
    history_options o;
    o.flush_interval_s = 2;
    history_store h(dir_.string(), o);
    h.flush(100);
    EXPECT_FALSE(h.flush_due(101.5));
    EXPECT_TRUE(h.flush_due(102));
    h.flush(102); // nothing buffered: restarts the clock, writes nothing
    EXPECT_FALSE(h.flush_due(103));
    EXPECT_EQ(h.stats().batches, 0u);
}
