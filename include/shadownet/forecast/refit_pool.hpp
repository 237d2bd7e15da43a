// Refits off the caller's thread: a TBB arena whose threads are confined to
// a control cpuset (docs/forecasting.md, "Continuous learning").
//
// Two ways in:
//  - parallel_for(): blocking, the body for 0..n-1 in parallel inside the
//    arena (learner_group);
//  - submit() / take_finished(): background. submit() hands a refit_job
//    (series_learner::take_refit) to the arena and returns at once; the job
//    runs series_learner::run_refit on an arena thread; take_finished()
//    collects the outcomes that are ready, never waiting, for the owner to
//    give to series_learner::apply_refit. A job owns everything it reads, so
//    its learner may go away meanwhile: its outcome is then just dropped.
//
// Every thread that joins the arena is pinned to the cpuset (a TBB thread
// started from an lcore would otherwise inherit its single-CPU pinning, or
// none) and, when `nice` > 0, lowered to that nice value (one way: a TBB
// worker keeps it), so the control thread sharing those CPUs is preferred.
//
// Threads: submit(), take_finished(), parallel_for() and wait_idle() from one
// owner thread; the jobs run on the arena's threads. The destructor waits for
// the jobs in flight.
#pragma once

#include "shadownet/forecast/learner.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace shadownet::forecast {

class refit_pool {
public:
    // cpus: the control cpuset (empty: no pinning); threads: the arena's
    // concurrency (0: the cpuset's size, or TBB's default without one); nice:
    // the nice value of the arena's threads (0: left alone).
    explicit refit_pool(std::vector<int> cpus = {}, int threads = 0, int nice = 0);
    ~refit_pool();
    refit_pool(const refit_pool&) = delete;
    refit_pool& operator=(const refit_pool&) = delete;

    // Blocking: body(k) for k in [0, n), in parallel inside the arena.
    void parallel_for(std::size_t n, const std::function<void(std::size_t)>& body);

    // Background refits. tag: the owner's name for the job (given back).
    void submit(std::uint64_t tag, refit_job job);
    struct finished {
        std::uint64_t tag = 0;
        refit_outcome outcome;
    };
    // The outcomes ready now, in the order they finished; never waits.
    [[nodiscard]] std::vector<finished> take_finished();
    // Submitted and not yet taken (running, queued or ready).
    [[nodiscard]] std::size_t in_flight() const;
    // Blocks until every submitted job has finished (tests, shutdown).
    void wait_idle();
    [[nodiscard]] int concurrency() const noexcept;
    [[nodiscard]] const std::vector<int>& cpus() const noexcept { return cpus_; }

private:
    struct arena;
    std::vector<int> cpus_;
    std::unique_ptr<arena> arena_;
    mutable std::mutex mu_;
    std::condition_variable idle_;
    std::size_t running_ = 0;      // submitted, not finished
    std::vector<finished> done_;   // finished, not taken
};

} // namespace shadownet::forecast
