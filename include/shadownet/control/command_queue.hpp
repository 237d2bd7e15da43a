// Hands commands from front-end threads (the console, the control socket) to
// the control loop — the only thread that may run them, since the appliance is
// single-threaded — and their replies back.
//
// Threads. submit() and close() from any thread; drain() from the control
// loop only. A mutex guards the queue: this is the control plane, a few
// commands a second at most. The control loop drains every iteration, so a
// command waits at most one iteration (~200 us when idle) before it runs.
#pragma once

#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <utility>

#include "shadownet/control/commands.hpp"

namespace shadownet::control {

class command_queue {
public:
    using audit_fn = std::function<void(const parsed_command&, const reply&)>;

    // The future is ready once the control loop has run the command, or at
    // once with an error reply when the queue is closed.
    std::future<reply> submit(parsed_command cmd, output_format format, audit_fn audit = {})
    {
        request r{std::move(cmd), format, std::move(audit), {}};
        auto f = r.done.get_future();
        std::lock_guard lock(mutex_);
        if (closed_) {
            r.done.set_value(closed_reply());
            return f;
        }
        pending_.push_back(std::move(r));
        return f;
    }

    // Control loop: runs what is queued now with `target`; returns how many
    // ran. `wait` is what the `wait` command does on this thread.
    std::size_t drain(command_target& target, const std::function<bool(double)>& wait = {})
    {
        std::deque<request> batch;
        {
            std::lock_guard lock(mutex_);
            batch.swap(pending_);
        }
        for (auto& r : batch) {
            exec_context ctx{target, r.format, 0, r.audit, {}, wait};
            r.done.set_value(execute(ctx, r.cmd));
        }
        return batch.size();
    }

    // The control loop is leaving: what is queued, and whatever comes later,
    // is answered with an error instead of waiting forever.
    void close()
    {
        std::deque<request> batch;
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
            batch.swap(pending_);
        }
        for (auto& r : batch)
            r.done.set_value(closed_reply());
    }

private:
    struct request {
        parsed_command cmd;
        output_format format;
        audit_fn audit;
        std::promise<reply> done;
    };
    static reply closed_reply() { return {false, "shadownet is stopping: command not run", false}; }

    std::mutex mutex_;
    std::deque<request> pending_; // guarded by mutex_
    bool closed_ = false;         // guarded by mutex_
};

} // namespace shadownet::control
