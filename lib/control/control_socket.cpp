#include "shadownet/control/control_socket.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shadownet/core/control_protocol.hpp"
#include "shadownet/core/error.hpp"

namespace shadownet::control {

namespace {

sockaddr_un address_of(const std::string& path)
{
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof(a.sun_path))
        throw config_error(fmt::format("--control-socket: '{}' is too long for a unix socket path", path));
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

bool send_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

} // namespace

control_socket::control_socket(const control_socket_config& cfg, command_queue& queue, audit_log* audit)
    : cfg_(cfg), queue_(queue), audit_(audit)
{
    const sockaddr_un addr = address_of(cfg_.path);
    struct stat st {};
    if (::lstat(cfg_.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw config_error(fmt::format("--control-socket: '{}' exists and is not a socket", cfg_.path));
        // A socket nobody answers on is left over from a process that died: replace it.
        const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const bool live = probe >= 0 && ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
        if (probe >= 0)
            ::close(probe);
        if (live)
            throw config_error(fmt::format("--control-socket: another process listens on '{}'", cfg_.path));
        ::unlink(cfg_.path.c_str());
    }
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0)
        throw config_error(fmt::format("--control-socket: cannot create a socket: {}", std::strerror(errno)));
    // Created 0600 and only then opened to the group: no window in which others may connect.
    const mode_t old_mask = ::umask(0177);
    const int rc = ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    const int bind_errno = errno;
    ::umask(old_mask);
    if (rc != 0) {
        ::close(listen_fd_);
        throw config_error(fmt::format("--control-socket: cannot bind '{}': {}", cfg_.path, std::strerror(bind_errno)));
    }
    if ((cfg_.group && ::chown(cfg_.path.c_str(), static_cast<uid_t>(-1), *cfg_.group) != 0) ||
        ::chmod(cfg_.path.c_str(), 0660) != 0 || ::listen(listen_fd_, 16) != 0 || ::pipe2(wake_, O_CLOEXEC) != 0) {
        const int err = errno;
        ::close(listen_fd_);
        ::unlink(cfg_.path.c_str());
        throw config_error(fmt::format("--control-socket: cannot set up '{}': {}", cfg_.path, std::strerror(err)));
    }
    acceptor_ = std::thread([this] { accept_loop(); });
}

control_socket::~control_socket()
{
    stopping_.store(true);
    [[maybe_unused]] const auto n = ::write(wake_[1], "x", 1);
    acceptor_.join();
    reap(true);
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
    ::unlink(cfg_.path.c_str());
}

void control_socket::reap(bool all)
{
    std::list<connection> finished;
    {
        std::lock_guard lock(conns_mutex_);
        for (auto it = conns_.begin(); it != conns_.end();) {
            // Wakes a thread blocked in recv; one that is about to send the
            // reply of the command that ended the run (`quit`) still sends it.
            if (all)
                ::shutdown(it->fd, SHUT_RD);
            if (all || it->done.load()) {
                auto next = std::next(it);
                finished.splice(finished.end(), conns_, it);
                it = next;
            } else {
                ++it;
            }
        }
    }
    for (auto& c : finished) {
        c.thread.join();
        ::close(c.fd);
    }
}

void control_socket::accept_loop()
{
    while (!stopping_.load()) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, 1000) < 0 && errno != EINTR)
            break;
        reap(false);
        if (stopping_.load() || !(fds[0].revents & POLLIN))
            continue;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        std::lock_guard lock(conns_mutex_);
        if (conns_.size() >= max_connections) {
            send_all(fd, ctl::encode_reply(ctl::status::error, "too many control connections, try again later"));
            ::close(fd);
            continue;
        }
        auto& c = conns_.emplace_back();
        c.fd = fd;
        c.thread = std::thread([this, &c] { serve(c); });
    }
}

void control_socket::serve(connection& c)
{
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(c.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        c.done.store(true);
        return;
    }
    const peer_identity peer = identify_peer(cred.uid, cred.gid, cred.pid);
    const auto audit = [this, &peer](std::string_view command, const std::string& result) {
        if (audit_)
            audit_->write(format_audit_line(std::chrono::system_clock::now(), peer, "socket", command, result));
    };
    std::string in;
    char buf[1024];
    while (!stopping_.load()) {
        const auto nl = in.find('\n');
        if (nl == std::string::npos) {
            if (in.size() > ctl::max_request) {
                send_all(c.fd, ctl::encode_reply(ctl::status::error, "request longer than 4096 bytes"));
                break;
            }
            const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            in.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        const std::string line = in.substr(0, nl);
        in.erase(0, nl + 1);
        auto parsed = parse_command(line);
        std::string out;
        if (!parsed.command) {
            out = ctl::encode_reply(ctl::status::error, parsed.error);
        } else {
            const command_spec& spec = *parsed.command->spec;
            const auto d = decide_access(cfg_.policy, peer, spec.access, spec.local_only);
            if (!d.allowed) {
                if (spec.access == command_access::changing)
                    audit(parsed.command->line, fmt::format("refused: {}", d.reason));
                out = ctl::encode_reply(ctl::status::refused, fmt::format("{}: refused: {}", spec.name, d.reason));
            } else {
                // The audit entry is written by the control loop once the command ran.
                auto done = queue_.submit(std::move(*parsed.command), output_format::text,
                                          [audit](const parsed_command& cmd, const reply& r) {
                                              audit(cmd.line, audit_result(r));
                                          });
                const reply r = done.get();
                out = ctl::encode_reply(r.ok ? ctl::status::ok : ctl::status::error, r.text);
            }
        }
        if (!send_all(c.fd, out))
            break;
    }
    c.done.store(true);
}

} // namespace shadownet::control
