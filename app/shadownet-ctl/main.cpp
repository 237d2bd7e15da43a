// shadownet-ctl: sends console commands to a running shadownet over its
// control socket (protocol: core/control_protocol.hpp, docs/console.md).
// No EAL: a plain unix-socket client.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shadownet/core/control_protocol.hpp"

namespace {

using namespace shadownet;

constexpr const char* usage_text =
    "usage: shadownet-ctl [-s SOCKET | --file-prefix P] [-j] [-e] [-f FILE] [COMMAND ...]\n"
    "  -s, --socket SOCKET  the appliance's control socket\n"
    "      --file-prefix P  find it from the appliance's EAL --file-prefix (default: rte)\n"
    "  -j, --json           JSON output (adds the word json to every command)\n"
    "  -f, --file FILE      run the commands in FILE (one per line, # comments)\n"
    "  -e, --stop-on-error  stop at the first failing command\n"
    "  COMMAND ...          one command, e.g. show port stats all; none and no -f: read commands from stdin\n"
    "Exit status: 0 every command succeeded, 1 a command failed or was refused, or the\n"
    "appliance is unreachable, 2 bad usage.\n";

struct usage_error {
    std::string what;
};

struct options {
    std::string socket;
    std::string prefix = "rte";
    bool json = false;
    bool stop_on_error = false;
    std::string file;
    std::vector<std::string> command;
};

options parse(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw usage_error{fmt::format("{} needs a value", a)};
            return argv[++i];
        };
        if (!o.command.empty()) {
            o.command.push_back(a);
        } else if (a == "-s" || a == "--socket") {
            o.socket = value();
        } else if (a == "--file-prefix") {
            o.prefix = value();
        } else if (a == "-j" || a == "--json") {
            o.json = true;
        } else if (a == "-e" || a == "--stop-on-error") {
            o.stop_on_error = true;
        } else if (a == "-f" || a == "--file") {
            o.file = value();
        } else if (a == "-h" || a == "--help") {
            std::fputs(usage_text, stdout);
            std::exit(0);
        } else if (a == "--") {
            for (++i; i < argc; ++i)
                o.command.emplace_back(argv[i]);
        } else if (a.size() > 1 && a[0] == '-') {
            throw usage_error{fmt::format("unknown option '{}'", a)};
        } else {
            o.command.push_back(a);
        }
    }
    if (!o.file.empty() && !o.command.empty())
        throw usage_error{"give a command or -f FILE, not both"};
    if (o.socket.empty())
        o.socket = ctl::default_socket_path(o.prefix);
    return o;
}

class connection {
public:
    explicit connection(const std::string& path)
    {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (path.size() >= sizeof(a.sun_path))
            throw std::runtime_error(fmt::format("socket path '{}' is too long", path));
        std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
            const int err = errno;
            throw std::runtime_error(
                err == ENOENT ? fmt::format("no control socket at '{}': is shadownet running (and with this "
                                            "--file-prefix or -s)?", path)
                              : fmt::format("cannot connect to '{}': {}", path, std::strerror(err)));
        }
    }
    ~connection()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    ctl::decoded_reply exchange(const std::string& line)
    {
        std::string out = fmt::format("{}\n", line);
        std::string_view rest(out);
        while (!rest.empty()) {
            const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                throw std::runtime_error("the appliance closed the connection");
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
        char buf[4096];
        for (;;) {
            if (auto r = ctl::decode_reply(in_))
                return *r;
            const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                throw std::runtime_error("the appliance closed the connection");
            in_.append(buf, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_ = -1;
    std::string in_;
};

bool blank(const std::string& line)
{
    const auto p = line.find_first_not_of(" \t\r");
    return p == std::string::npos || line[p] == '#';
}

// Returns false when the command failed or was refused.
bool run_one(connection& c, std::string line, bool json)
{
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
        line.pop_back();
    if (json && !(line.size() >= 5 && line.compare(line.size() - 5, 5, " json") == 0))
        line += " json";
    const auto r = c.exchange(line);
    if (r.st == ctl::status::ok) {
        std::fputs(r.body.c_str(), stdout);
        if (!r.body.empty() && r.body.back() != '\n')
            std::fputc('\n', stdout);
        std::fflush(stdout);
        return true;
    }
    std::fprintf(stderr, "shadownet-ctl: %s: %s\n", r.st == ctl::status::refused ? "refused" : "error", r.body.c_str());
    return false;
}

} // namespace

int main(int argc, char** argv)
{
    options o;
    try {
        o = parse(argc, argv);
    } catch (const usage_error& e) {
        std::fprintf(stderr, "shadownet-ctl: error: %s\n%s", e.what.c_str(), usage_text);
        return 2;
    }
    try {
        std::ifstream file;
        if (!o.file.empty()) {
            file.open(o.file);
            if (!file) {
                std::fprintf(stderr, "shadownet-ctl: error: cannot open '%s'\n", o.file.c_str());
                return 2;
            }
        }
        connection c(o.socket);
        if (!o.command.empty()) {
            std::string line;
            for (const auto& w : o.command)
                line += fmt::format("{}{}", line.empty() ? "" : " ", w);
            return run_one(c, line, o.json) ? 0 : 1;
        }
        std::istream& in = o.file.empty() ? std::cin : file;
        const bool prompt = o.file.empty() && ::isatty(STDIN_FILENO);
        bool all_ok = true;
        std::string line;
        std::size_t n = 0;
        for (;;) {
            if (prompt) {
                std::fputs("shadownet> ", stdout);
                std::fflush(stdout);
            }
            if (!std::getline(in, line))
                break;
            ++n;
            if (blank(line))
                continue;
            if (!run_one(c, line, o.json)) {
                all_ok = false;
                if (!o.file.empty())
                    std::fprintf(stderr, "shadownet-ctl: at %s:%zu\n", o.file.c_str(), n);
                if (o.stop_on_error)
                    break;
            }
        }
        return all_ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "shadownet-ctl: error: %s\n", e.what());
        return 1;
    }
}
