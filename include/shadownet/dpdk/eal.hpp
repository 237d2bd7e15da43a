// The EAL guard: initialises DPDK's environment once per process and cleans it up once.
//
// Ownership: constructed by the main thread before any other DPDK object and
// destroyed after all of them (ports, pools, rings hold EAL memory). When the
// guard made the file prefix itself (owns_runtime_dir), it also removes
// /var/run/dpdk/<prefix> after rte_eal_cleanup(), so tests and the embedded
// default leave nothing behind.
#pragma once

#include <string>
#include <vector>

namespace shadownet::dpdk {

class eal_guard {
public:
    // args[0] is the program name. Throws dpdk_error when rte_eal_init fails or
    // when EAL was already initialised in this process (DPDK cannot re-initialise).
    eal_guard(std::vector<std::string> args, bool owns_runtime_dir);
    ~eal_guard();
    eal_guard(const eal_guard&) = delete;
    eal_guard& operator=(const eal_guard&) = delete;

    [[nodiscard]] const std::string& runtime_dir() const noexcept { return runtime_dir_; }
    [[nodiscard]] unsigned main_lcore() const noexcept;
    [[nodiscard]] std::vector<unsigned> worker_lcores() const;

    // True between a successful construction and the destructor.
    static bool active() noexcept;

private:
    std::vector<std::string> args_;
    std::string runtime_dir_;
    bool owns_runtime_dir_;
};

// "<base>-<pid>-<random>": a prefix no other process on this machine uses.
std::string unique_file_prefix(const std::string& base);

// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<unsigned> allowed_cpus();

} // namespace shadownet::dpdk
