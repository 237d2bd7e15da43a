// Lcores: which ones EAL enabled, and running a function on a worker lcore.
//
// Ownership: the main lcore owns an lcore_launcher and is the only thread that
// calls it (launching and waiting are EAL main-lcore calls). A launched
// function runs until it returns by itself, so whoever launches it also owns
// the flag that tells it to return, and sets it before waiting. The launcher's
// destructor calls the `stop` hook it was given and then waits for every lcore
// still running: an exception between launch and wait never leaves a worker
// spinning on objects being destroyed (or on an EAL being cleaned up).
//
// Two-phase shutdowns (RX lcores before the workers they feed) wait for the
// first lcores one by one with wait(), then for the rest with wait_all().
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace shadownet::dpdk {

// What an lcore runs: rte_eal_remote_launch's lcore_function_t.
using lcore_function = int (*)(void* arg);

class lcore_launcher {
public:
    // stop: makes every launched function return (typically a release store
    // to the quit flag they poll); empty when they return by themselves.
    explicit lcore_launcher(std::function<void()> stop = {});
    // Calls stop (when something is still running), then wait_all().
    ~lcore_launcher();
    lcore_launcher(const lcore_launcher&) = delete;
    lcore_launcher& operator=(const lcore_launcher&) = delete;

    // Runs fn(arg) on worker lcore `lcore`; `arg` must outlive the run.
    // Throws dpdk_error when `lcore` is not an enabled worker lcore or is
    // still running something.
    void launch(unsigned lcore, lcore_function fn, void* arg);
    // Waits for `lcore` to return and gives its function's return value;
    // -1 (without waiting) when this launcher is not running it.
    int wait(unsigned lcore) noexcept;
    // Waits for every lcore still running, in launch order; the first
    // non-zero return value, else 0.
    int wait_all() noexcept;
    // The lcores launched and not yet waited for, in launch order.
    [[nodiscard]] std::span<const unsigned> running() const noexcept { return running_; }

private:
    std::function<void()> stop_;
    std::vector<unsigned> running_;
};

// Lcores EAL enabled (-l, --lcores), the main one included.
[[nodiscard]] unsigned lcore_count() noexcept;
// The enabled lcores but the main one, ascending.
[[nodiscard]] std::vector<unsigned> worker_lcores();
// The NUMA socket of the calling thread's lcore, to place pools and rings
// near it; -1 (SOCKET_ID_ANY) from a thread that is not an lcore.
[[nodiscard]] int local_socket() noexcept;
// The main lcore (the control lcore).
[[nodiscard]] unsigned main_lcore() noexcept;
// TSC ticks per second.
[[nodiscard]] std::uint64_t tsc_hz() noexcept;
// Pins the calling (non-EAL) thread to the CPUs of the main lcore: control
// threads stay off the forwarding cores. Returns false when it could not.
bool pin_to_main_lcore_cpus() noexcept;
// The CPUs of the main lcore (the control cpuset), ascending: for layers that
// must not include DPDK headers (the shadow manager's refit threads).
[[nodiscard]] std::vector<int> main_lcore_cpus();

} // namespace shadownet::dpdk
