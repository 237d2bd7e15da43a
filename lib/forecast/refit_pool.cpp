// Background and parallel refits on a pinned TBB arena (see refit_pool.hpp).
#include "shadownet/forecast/refit_pool.hpp"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

namespace shadownet::forecast {

struct refit_pool::arena {
    class pin_observer : public tbb::task_scheduler_observer {
    public:
        pin_observer(tbb::task_arena& a, std::vector<int> cpus, int nice)
            : tbb::task_scheduler_observer(a), cpus_(std::move(cpus)), nice_(nice) {
            observe(true);
        }
        ~pin_observer() override { observe(false); }
        void on_scheduler_entry(bool worker) override {
            if (!cpus_.empty()) {
                cpu_set_t set;
                CPU_ZERO(&set);
                for (int c : cpus_)
                    if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &set);
                (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
            }
            // Only TBB's own workers: the owner's thread (parallel_for) keeps
            // its priority. A worker's nice value is per thread on Linux.
            if (worker && nice_ > 0) {
                const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
                errno = 0;
                const int cur = getpriority(PRIO_PROCESS, tid);
                if (errno == 0 && cur < nice_) (void)setpriority(PRIO_PROCESS, tid, nice_);
            }
        }

    private:
        std::vector<int> cpus_;
        int nice_;
    };

    // No slot reserved for the owner: background jobs are run by workers
    // only (parallel_for's caller joins when a slot is free).
    arena(std::vector<int> cpus, int threads, int nice)
        : a(threads > 0 ? threads : tbb::task_arena::automatic, 0), obs(a, std::move(cpus), nice) {
        a.initialize();
    }
    tbb::task_arena a;
    pin_observer obs;
};

refit_pool::refit_pool(std::vector<int> cpus, int threads, int nice) : cpus_(std::move(cpus)) {
    if (threads <= 0 && !cpus_.empty()) threads = static_cast<int>(cpus_.size());
    arena_ = std::make_unique<arena>(cpus_, threads, nice);
}

refit_pool::~refit_pool() {
    // Jobs touch this object when they finish: wait for them all.
    wait_idle();
}

int refit_pool::concurrency() const noexcept {
    return arena_->a.max_concurrency();
}

void refit_pool::parallel_for(std::size_t n, const std::function<void(std::size_t)>& body) {
    if (n == 0) return;
    arena_->a.execute([&] { tbb::parallel_for(std::size_t{0}, n, [&](std::size_t k) { body(k); }); });
}

void refit_pool::submit(std::uint64_t tag, refit_job job) {
    {
        std::lock_guard lock(mu_);
        ++running_;
    }
    // TBB keeps the functor const: the job travels behind a pointer.
    auto owned = std::make_shared<refit_job>(std::move(job));
    arena_->a.enqueue([this, tag, owned] {
        finished f;
        f.tag = tag;
        const std::uint64_t id = owned->id, seen = owned->seen;
        try {
            f.outcome = series_learner::run_refit(std::move(*owned));
        } catch (...) {
            // run_refit keeps fit_error to itself; anything else (memory)
            // must not take the process down from a worker thread.
            f.outcome = refit_outcome{};
            f.outcome.id = id;
            f.outcome.seen = seen;
            f.outcome.failed = true;
        }
        std::lock_guard lock(mu_);
        done_.push_back(std::move(f));
        --running_;
        if (running_ == 0) idle_.notify_all();
    });
}

std::vector<refit_pool::finished> refit_pool::take_finished() {
    std::lock_guard lock(mu_);
    return std::exchange(done_, {});
}

std::size_t refit_pool::in_flight() const {
    std::lock_guard lock(mu_);
    return running_ + done_.size();
}

void refit_pool::wait_idle() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return running_ == 0; });
}

} // namespace shadownet::forecast
