#include "shadownet/dpdk/lcore.hpp"

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>
#include <pthread.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "shadownet/core/error.hpp"

namespace shadownet::dpdk {

lcore_launcher::lcore_launcher(std::function<void()> stop) : stop_(std::move(stop)) {}

lcore_launcher::~lcore_launcher()
{
    if (running_.empty())
        return;
    if (stop_)
        stop_();
    wait_all();
}

void lcore_launcher::launch(unsigned lcore, lcore_function fn, void* arg)
{
    if (lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore())
        throw dpdk_error(fmt::format("cannot launch lcore {}: not an enabled worker lcore", lcore), -EINVAL);
    if (const int rc = rte_eal_remote_launch(fn, arg, lcore); rc != 0)
        throw dpdk_error(fmt::format("cannot launch lcore {}: busy", lcore), rc);
    running_.push_back(lcore);
}

int lcore_launcher::wait(unsigned lcore) noexcept
{
    const auto it = std::find(running_.begin(), running_.end(), lcore);
    if (it == running_.end())
        return -1;
    running_.erase(it);
    return rte_eal_wait_lcore(lcore);
}

int lcore_launcher::wait_all() noexcept
{
    int first = 0;
    for (const unsigned lcore : running_)
        if (const int rc = rte_eal_wait_lcore(lcore); rc != 0 && first == 0)
            first = rc;
    running_.clear();
    return first;
}

unsigned lcore_count() noexcept
{
    return rte_lcore_count();
}

std::vector<unsigned> worker_lcores()
{
    std::vector<unsigned> out;
    unsigned id = 0;
    RTE_LCORE_FOREACH_WORKER(id) { out.push_back(id); }
    return out;
}

int local_socket() noexcept
{
    return static_cast<int>(rte_socket_id());
}

unsigned main_lcore() noexcept
{
    return rte_get_main_lcore();
}

std::uint64_t tsc_hz() noexcept
{
    return rte_get_tsc_hz();
}

bool pin_to_main_lcore_cpus() noexcept
{
    rte_cpuset_t cpus = rte_lcore_cpuset(rte_get_main_lcore());
    return pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus) == 0;
}

std::vector<int> main_lcore_cpus()
{
    const rte_cpuset_t cpus = rte_lcore_cpuset(rte_get_main_lcore());
    std::vector<int> out;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &cpus))
            out.push_back(c);
    return out;
}

} // namespace shadownet::dpdk
