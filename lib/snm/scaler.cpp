#include "shadownet/snm/scaler.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shadownet/core/json.hpp"

extern char** environ;

namespace shadownet::snm {

namespace {

rate_spec capacity_in(const std::vector<port_capacity>& list, std::uint16_t port) noexcept
{
    const port_capacity* all = nullptr;
    for (const auto& c : list) {
        if (c.port == port)
            return c.rate;
        if (!c.port)
            all = &c;
    }
    return all ? all->rate : rate_spec{};
}

bool unlimited(const rate_spec& r) noexcept
{
    return r.pps <= 0 && r.bps <= 0;
}

std::string wall_clock_iso()
{
    const auto now = std::chrono::system_clock::now();
    const auto secs = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

// The number after `"name"` and a colon, if the text has one.
std::optional<double> member_number(const std::string& text, const char* name)
{
    const std::string key = fmt::format("\"{}\"", name);
    const auto at = text.find(key);
    if (at == std::string::npos)
        return std::nullopt;
    auto colon = text.find(':', at + key.size());
    if (colon == std::string::npos)
        return std::nullopt;
    const char* start = text.c_str() + colon + 1;
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(start, &end);
    if (end == start || errno != 0 || !(v >= 0))
        return std::nullopt;
    return v;
}

} // namespace

std::optional<rate_spec> parse_hook_answer(const std::string& text)
{
    const auto first = text.find_first_not_of(" \t\r\n");
    const auto last = text.find_last_not_of(" \t\r\n");
    if (first == std::string::npos || text[first] != '{' || text[last] != '}')
        return std::nullopt;
    rate_spec r;
    const bool has_pps = text.find("\"granted_pps\"") != std::string::npos;
    const bool has_bps = text.find("\"granted_bps\"") != std::string::npos;
    if (has_pps) {
        const auto v = member_number(text, "granted_pps");
        if (!v)
            return std::nullopt;
        r.pps = *v;
    }
    if (has_bps) {
        const auto v = member_number(text, "granted_bps");
        if (!v)
            return std::nullopt;
        r.bps = *v;
    }
    return r;
}

rate_spec port_scaling::capacity(unsigned steps) const noexcept
{
    if (unlimited(base))
        return {};
    const double share = reserve_steps_total > 0 ? double(steps) / double(reserve_steps_total) : 0;
    return {base.pps > 0 ? base.pps + reserve.pps * share + granted.pps : 0,
            base.bps > 0 ? base.bps + reserve.bps * share + granted.bps : 0};
}

scaler::scaler(scaling_config cfg) : cfg_(std::move(cfg))
{
    if (cfg_.reserve_steps == 0)
        cfg_.reserve_steps = 1;
}

scaler::~scaler()
{
    if (hook_) {
        ::kill(hook_->pid, SIGKILL);
        ::waitpid(hook_->pid, nullptr, 0);
        if (hook_->in_fd >= 0)
            ::close(hook_->in_fd);
        if (hook_->out_fd >= 0)
            ::close(hook_->out_fd);
    }
}

scaler::port_state& scaler::state(std::uint16_t port)
{
    auto it = ports_.find(port);
    if (it == ports_.end()) {
        port_state ps;
        ps.view.port = port;
        ps.view.base = capacity_in(cfg_.base, port);
        ps.view.reserve = capacity_in(cfg_.reserve, port);
        ps.view.reserve_steps_total = cfg_.reserve_steps;
        it = ports_.emplace(port, ps).first;
    }
    return it->second;
}

rate_spec scaler::capacity(std::uint16_t port) const
{
    const auto it = ports_.find(port);
    if (it == ports_.end())
        return capacity_in(cfg_.base, port);
    return it->second.view.capacity(it->second.view.steps_active);
}

std::vector<port_scaling> scaler::ports() const
{
    std::vector<port_scaling> out;
    for (const auto& [port, ps] : ports_) {
        out.push_back(ps.view);
        out.back().hook_running = hook_ && hook_->port == port;
    }
    return out;
}

std::vector<scale_event> scaler::tick(double now_s, const std::vector<shadow_load>& loads)
{
    std::vector<scale_event> out;
    poll_hook(now_s, out);
    for (const auto& load : loads) {
        port_state& ps = state(load.port);
        port_scaling& v = ps.view;
        const rate_spec cap = v.capacity(v.steps_active);
        if (unlimited(cap) || cap.pps <= 0)
            continue; // an unlimited shadow never needs scaling (bit-rate scaling: not yet)
        const bool over = load.wanted_pps > cap.pps || load.drop_pps > 0;
        // Under: what is wanted would fit in the capacity without the last
        // increment with room to spare.
        const rate_spec smaller = v.granted.pps > 0 ? rate_spec{cap.pps - v.granted.pps, 0}
                                                    : v.capacity(v.steps_active > 0 ? v.steps_active - 1 : 0);
        const bool can_shrink = v.granted.pps > 0 || v.steps_active > 0;
        const bool under = can_shrink && load.wanted_pps < cfg_.low_mark * smaller.pps;
        ps.over_since = over ? (ps.over_since < 0 ? now_s : ps.over_since) : -1;
        ps.under_since = under ? (ps.under_since < 0 ? now_s : ps.under_since) : -1;

        if (over && now_s - ps.over_since >= cfg_.up_after_s) {
            if (v.steps_active < cfg_.reserve_steps && v.reserve.pps > 0) {
                ++v.steps_active;
                scale_event e;
                e.t = now_s;
                e.port = load.port;
                e.action = "reserve-up";
                e.result = fmt::format("ok: step {} of {}", v.steps_active, cfg_.reserve_steps);
                e.capacity_pps = v.capacity(v.steps_active).pps;
                out.push_back(e);
                ps.over_since = now_s; // give the step a chance before the next
            } else if (!cfg_.hook.empty() && !hook_) {
                start_hook(ps, true, load, now_s, out);
                ps.over_since = now_s;
            }
        } else if (under && now_s - ps.under_since >= cfg_.down_after_s) {
            if (v.granted.pps > 0 && !cfg_.hook.empty()) {
                if (!hook_)
                    start_hook(ps, false, load, now_s, out);
            } else if (v.steps_active > 0) {
                --v.steps_active;
                scale_event e;
                e.t = now_s;
                e.port = load.port;
                e.action = "reserve-down";
                e.result = fmt::format("ok: step {} of {}", v.steps_active, cfg_.reserve_steps);
                e.capacity_pps = v.capacity(v.steps_active).pps;
                out.push_back(e);
            }
            ps.under_since = now_s;
        }
    }
    for (const auto& e : out)
        events_.push_back(e);
    return out;
}

void scaler::start_hook(port_state& ps, bool up, const shadow_load& load, double now_s,
                        std::vector<scale_event>& out)
{
    const port_scaling& v = ps.view;
    const rate_spec cap = v.capacity(v.steps_active);
    json_writer w(false); // one line: a hook may read it with `read`
    w.begin_object();
    w.member("event", up ? "scale_up" : "scale_down");
    w.member("time", wall_clock_iso());
    w.member("port", unsigned{load.port});
    w.member("shadow_capacity_pps", cap.pps);
    w.member("shadow_wanted_pps", load.wanted_pps);
    w.member("shadow_used_pps", load.used_pps);
    w.member("shadow_drop_pps", load.drop_pps);
    w.member("reserve_steps_active", v.steps_active);
    w.member("reserve_steps", cfg_.reserve_steps);
    w.member("granted_pps", v.granted.pps);
    // Up: what it takes to carry what is wanted, with the same headroom the
    // reservations have; down: what may be given back.
    w.member(up ? "requested_pps" : "release_pps", up ? load.wanted_pps - cap.pps : v.granted.pps);
    w.end_object();

    scale_event e;
    e.t = now_s;
    e.port = load.port;
    e.action = up ? "hook-up" : "hook-down";
    e.request = w.str();

    int in_pipe[2] = {-1, -1};
    int out_pipe[2] = {-1, -1};
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
        e.result = fmt::format("failed: pipe: {}", std::strerror(errno));
        for (const int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]})
            if (fd >= 0)
                ::close(fd);
        out.push_back(e);
        return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    const std::string arg1 = up ? "scale-up" : "scale-down";
    char* argv[] = {const_cast<char*>(cfg_.hook.c_str()), const_cast<char*>(arg1.c_str()), nullptr};
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, cfg_.hook.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (rc != 0) {
        ::close(in_pipe[1]);
        ::close(out_pipe[0]);
        e.result = fmt::format("failed: cannot run {}: {}", cfg_.hook, std::strerror(rc));
        out.push_back(e);
        return;
    }
    ::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    ::fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
    running_hook h;
    h.pid = pid;
    h.in_fd = in_pipe[1];
    h.out_fd = out_pipe[0];
    h.request = e.request + "\n";
    h.started_s = now_s;
    h.port = load.port;
    h.up = up;
    hook_ = std::move(h);
    // The start is not an event of its own: the event is the answer (or the
    // failure), with the request and how long it took.
}

void scaler::poll_hook(double now_s, std::vector<scale_event>& out)
{
    if (!hook_)
        return;
    running_hook& h = *hook_;
    // Feed the request (a pipe takes it in one write unless the hook is odd).
    if (h.in_fd >= 0) {
        while (h.written < h.request.size()) {
            const ssize_t n = ::write(h.in_fd, h.request.data() + h.written, h.request.size() - h.written);
            if (n <= 0)
                break;
            h.written += static_cast<std::size_t>(n);
        }
        if (h.written == h.request.size() || (errno != EAGAIN && errno != EINTR)) {
            ::close(h.in_fd);
            h.in_fd = -1;
        }
    }
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(h.out_fd, buf, sizeof buf);
        if (n <= 0)
            break;
        h.out.append(buf, static_cast<std::size_t>(n));
        if (h.out.size() > 65536)
            break; // an answer is one small object; do not let a hook fill memory
    }
    int status = 0;
    const pid_t done = ::waitpid(h.pid, &status, WNOHANG);
    if (done == h.pid) {
        // Whatever is left in the pipe after the exit.
        for (;;) {
            const ssize_t n = ::read(h.out_fd, buf, sizeof buf);
            if (n <= 0)
                break;
            h.out.append(buf, static_cast<std::size_t>(n));
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            finish_hook(now_s, "ok", out);
        else if (WIFEXITED(status))
            finish_hook(now_s, fmt::format("failed: exit status {}", WEXITSTATUS(status)), out);
        else
            finish_hook(now_s, fmt::format("failed: killed by signal {}", WTERMSIG(status)), out);
        return;
    }
    if (now_s - h.started_s >= cfg_.hook_timeout_s) {
        ::kill(h.pid, SIGKILL);
        ::waitpid(h.pid, nullptr, 0);
        finish_hook(now_s, fmt::format("timed out after {:.1f} s (killed)", cfg_.hook_timeout_s), out);
    }
}

void scaler::finish_hook(double now_s, const std::string& result, std::vector<scale_event>& out)
{
    running_hook h = std::move(*hook_);
    hook_.reset();
    if (h.in_fd >= 0)
        ::close(h.in_fd);
    ::close(h.out_fd);
    port_state& ps = state(h.port);
    scale_event e;
    e.t = now_s;
    e.port = h.port;
    e.action = h.up ? "hook-up" : "hook-down";
    e.request = h.request.substr(0, h.request.size() - 1);
    e.answer = h.out;
    e.duration_s = now_s - h.started_s;
    e.result = result;
    if (result == "ok") {
        const auto granted = parse_hook_answer(h.out);
        if (!granted) {
            e.result = "failed: the answer is not {\"granted_pps\": N, \"granted_bps\": M}";
        } else if (h.up) {
            ps.view.granted.pps += granted->pps;
            ps.view.granted.bps += granted->bps;
            e.result = fmt::format("ok: granted {:.0f} pps", granted->pps);
        } else {
            ps.view.granted = {};
            e.result = "ok: released";
        }
    }
    e.capacity_pps = ps.view.capacity(ps.view.steps_active).pps;
    out.push_back(e);
}

} // namespace shadownet::snm
