// The control socket: a unix stream socket accepting the console's commands
// from shadownet-ctl (wire format in core/control_protocol.hpp, access model
// in access.hpp, both documented in docs/console.md).
//
// Threads. One accept thread and one thread per connection, none of them an
// EAL thread; they never touch the appliance. A connection thread reads a
// request, parses it, decides access from the peer's credentials, and hands
// the command to the control loop through the command_queue, waiting for the
// reply — so a slow or stuck peer only ever holds its own thread. The
// destructor stops and joins them all; close the queue first, so that no
// thread waits for a control loop that has left.
#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "shadownet/control/access.hpp"
#include "shadownet/control/command_queue.hpp"

namespace shadownet::control {

struct control_socket_config {
    std::string path;
    std::optional<std::uint32_t> group; // the socket file's group (mode 0660); unset: whatever bind() gave it
    access_policy policy;
};

class control_socket {
public:
    // Creates the socket (replacing a stale one, refusing one another process
    // still listens on) and starts accepting. Throws config_error.
    control_socket(const control_socket_config& cfg, command_queue& queue, audit_log* audit);
    ~control_socket();
    control_socket(const control_socket&) = delete;
    control_socket& operator=(const control_socket&) = delete;

    [[nodiscard]] const std::string& path() const noexcept { return cfg_.path; }

    static constexpr unsigned max_connections = 16;

private:
    struct connection {
        int fd = -1;
        std::thread thread;
        std::atomic<bool> done{false};
    };
    void accept_loop();
    void serve(connection& c);
    void reap(bool all);

    control_socket_config cfg_;
    command_queue& queue_;
    audit_log* audit_;
    int listen_fd_ = -1;
    int wake_[2] = {-1, -1}; // a pipe: the destructor writes, the accept thread polls
    std::atomic<bool> stopping_{false};
    std::mutex conns_mutex_;
    std::list<connection> conns_; // guarded by conns_mutex_; joined by the accept thread and the destructor
    std::thread acceptor_;
};

} // namespace shadownet::control
