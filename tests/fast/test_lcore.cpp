// dpdk::lcore_launcher on the binary's real worker lcore: functions run on the
// lcore asked for, return values come back, a busy or non-worker lcore is
// refused, and the destructor stops and waits for whatever is still running
// (also when an exception unwinds past it).
#include <atomic>
#include <stdexcept>

#include <gtest/gtest.h>
#include <rte_lcore.h>

#include "shadownet/core/error.hpp"
#include "shadownet/dpdk/lcore.hpp"

using namespace shadownet;

namespace {

struct spinner {
    std::atomic<bool> run{true};
    std::atomic<bool> started{false};
    std::atomic<bool> done{false};
    std::atomic<unsigned> ran_on{RTE_MAX_LCORE};
    int result = 0;
};

int spin(void* arg)
{
    auto* s = static_cast<spinner*>(arg);
    s->ran_on.store(rte_lcore_id(), std::memory_order_relaxed);
    s->started.store(true, std::memory_order_release);
    while (s->run.load(std::memory_order_acquire)) {
    }
    s->done.store(true, std::memory_order_release);
    return s->result;
}

void wait_started(const spinner& s)
{
    while (!s.started.load(std::memory_order_acquire)) {
    }
}

} // namespace

TEST(lcore, counts_and_workers)
{
    EXPECT_EQ(dpdk::lcore_count(), static_cast<unsigned>(SHADOWNET_TEST_LCORES));
    const auto workers = dpdk::worker_lcores();
    EXPECT_EQ(workers.size() + 1, dpdk::lcore_count());
    for (const unsigned w : workers)
        EXPECT_NE(w, rte_get_main_lcore());
    EXPECT_EQ(dpdk::local_socket(), static_cast<int>(rte_socket_id()));
}

TEST(lcore, launch_runs_there_and_wait_returns_its_value)
{
    const auto workers = dpdk::worker_lcores();
    ASSERT_FALSE(workers.empty());
    const unsigned w = workers.front();
    dpdk::lcore_launcher l;
    spinner s;
    s.result = 7;
    l.launch(w, spin, &s);
    wait_started(s);
    EXPECT_EQ(s.ran_on.load(), w);
    ASSERT_EQ(l.running().size(), 1U);
    EXPECT_EQ(l.running()[0], w);
    spinner other;
    EXPECT_THROW(l.launch(w, spin, &other), dpdk_error); // still busy
    EXPECT_FALSE(other.started.load());
    s.run.store(false, std::memory_order_release);
    EXPECT_EQ(l.wait(w), 7);
    EXPECT_TRUE(s.done.load());
    EXPECT_TRUE(l.running().empty());
    EXPECT_EQ(l.wait(w), -1); // not running any more
}

TEST(lcore, refuses_what_is_not_a_worker)
{
    dpdk::lcore_launcher l;
    spinner s;
    EXPECT_THROW(l.launch(rte_get_main_lcore(), spin, &s), dpdk_error);
    EXPECT_THROW(l.launch(RTE_MAX_LCORE - 1, spin, &s), dpdk_error);
    EXPECT_THROW(l.launch(RTE_MAX_LCORE + 5, spin, &s), dpdk_error);
    EXPECT_FALSE(s.started.load());
    EXPECT_TRUE(l.running().empty());
}

TEST(lcore, destructor_stops_and_waits_also_on_unwind)
{
    const auto workers = dpdk::worker_lcores();
    ASSERT_FALSE(workers.empty());
    spinner s;
    int stops = 0;
    try {
        dpdk::lcore_launcher l([&] {
            ++stops;
            s.run.store(false, std::memory_order_release);
        });
        l.launch(workers.front(), spin, &s);
        wait_started(s);
        throw std::runtime_error("something failed after the launch");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(stops, 1);
    EXPECT_TRUE(s.done.load()); // the function returned before the launcher was gone
    // The lcore is free again.
    dpdk::lcore_launcher again;
    spinner t;
    t.run.store(false);
    again.launch(workers.front(), spin, &t);
    EXPECT_EQ(again.wait_all(), 0);
    EXPECT_TRUE(t.done.load());

    // Nothing running: the hook is not called.
    int idle_stops = 0;
    { dpdk::lcore_launcher idle([&] { ++idle_stops; }); }
    EXPECT_EQ(idle_stops, 0);
}
