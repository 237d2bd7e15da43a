// rte_intr_instance_alloc and its setters are experimental in 22.11 (park_interrupt_thread).
#define ALLOW_EXPERIMENTAL_API

#include "shadownet/dpdk/eal.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>
#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_interrupts.h>
#include <rte_lcore.h>

#include "shadownet/core/error.hpp"
#include "shadownet/dpdk/lcore.hpp"

namespace shadownet::dpdk {

namespace {
// 0: never initialised, 1: active, 2: cleaned up. DPDK allows one
// rte_eal_init per process, so a second guard is an error even after cleanup.
std::atomic<int> eal_state{0};

std::atomic<bool> interrupt_thread_parked{false};

// Keeps EAL's interrupt thread inside a callback of ours for the rest of the
// process (it runs callbacks one at a time), so that nothing it does can race
// rte_eal_cleanup: 22.11 frees what that thread walks (the alarm source's
// handle among others) without stopping it, and a wake-up during cleanup
// crashed with SIGSEGV in rte_intr_fd_get (seen after a bonding device had
// used alarms beside a memif port). Nothing needs the thread once the ports
// are closed and the virtual devices removed.
void park_interrupt_thread()
{
    int fds[2];
    if (::pipe(fds) != 0)
        return;
    rte_intr_handle* h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE); // malloc'd: outlives cleanup
    if (h == nullptr || rte_intr_fd_set(h, fds[0]) != 0 || rte_intr_type_set(h, RTE_INTR_HANDLE_EXT) != 0)
        return;
    const auto park = [](void*) {
        interrupt_thread_parked.store(true);
        for (;;)
            ::pause();
    };
    if (rte_intr_callback_register(h, park, nullptr) != 0)
        return;
    const char wake = 1;
    if (::write(fds[1], &wake, 1) != 1)
        return;
    for (int i = 0; i < 2000 && !interrupt_thread_parked.load(); ++i)
        std::this_thread::sleep_for(std::chrono::microseconds(100));
}
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
    // Virtual devices go first, while EAL is whole and its interrupt thread
    // still serves them (memif's sockets, a bonding device's members); then
    // the thread is parked for good before the cleanup (see above).
    std::vector<std::string> vdevs;
    rte_dev_iterator it{};
    rte_device* dev = nullptr;
    RTE_DEV_FOREACH(dev, "bus=vdev", &it)
        vdevs.emplace_back(rte_dev_name(dev));
    for (auto v = vdevs.rbegin(); v != vdevs.rend(); ++v) // bonding devices were made last: they go first
        rte_vdev_uninit(v->c_str());
    park_interrupt_thread();
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
