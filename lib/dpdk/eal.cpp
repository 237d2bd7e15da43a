#include "shadownet/dpdk/eal.hpp"

#include <atomic>
#include <filesystem>
#include <random>

#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "shadownet/core/error.hpp"
#include "shadownet/dpdk/lcore.hpp"

namespace shadownet::dpdk {

namespace {
// 0: never initialised, 1: active, 2: cleaned up. DPDK allows one
// rte_eal_init per process, so a second guard is an error even after cleanup.
std::atomic<int> eal_state{0};
} // namespace

eal_guard::eal_guard(std::vector<std::string> args, bool owns_runtime_dir)
    : args_(std::move(args)), owns_runtime_dir_(owns_runtime_dir)
{
    int expected = 0;
    if (!eal_state.compare_exchange_strong(expected, 1))
        throw dpdk_error("EAL is already initialised in this process", -EALREADY);
    // rte_eal_init may permute argv; give it pointers into our own copies.
    std::vector<char*> argv;
    argv.reserve(args_.size() + 1);
    for (auto& a : args_)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = rte_eal_init(static_cast<int>(args_.size()), argv.data());
    if (rc < 0) {
        const int err = rte_errno;
        eal_state.store(2);
        throw dpdk_error(fmt::format("cannot initialise DPDK EAL: {}", rte_strerror(err)), -err);
    }
    runtime_dir_ = rte_eal_get_runtime_dir();
}

eal_guard::~eal_guard()
{
    rte_eal_cleanup();
    eal_state.store(2);
    if (owns_runtime_dir_ && !runtime_dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(runtime_dir_, ec);
    }
}

unsigned eal_guard::main_lcore() const noexcept
{
    return rte_get_main_lcore();
}

std::vector<unsigned> eal_guard::worker_lcores() const
{
    return dpdk::worker_lcores();
}

bool eal_guard::active() noexcept
{
    return eal_state.load() == 1;
}

std::string unique_file_prefix(const std::string& base)
{
    std::random_device rd;
    return fmt::format("{}-{}-{:08x}", base, ::getpid(), rd());
}

std::vector<unsigned> allowed_cpus()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<unsigned> out;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        out.push_back(0);
        return out;
    }
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set))
            out.push_back(c);
    return out;
}

} // namespace shadownet::dpdk
