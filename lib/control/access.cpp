#include "shadownet/control/access.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shadownet/core/error.hpp"

namespace shadownet::control {

namespace {

bool member(const peer_identity& p, std::optional<std::uint32_t> gid)
{
    return gid && (p.gid == *gid || std::find(p.groups.begin(), p.groups.end(), *gid) != p.groups.end());
}

std::string quoted(std::string_view s)
{
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += (c == '\n' || c == '\r') ? ' ' : c;
    }
    out += '"';
    return out;
}

} // namespace

access_decision decide_access(const access_policy& policy, const peer_identity& peer, command_access needed,
                              bool local_only)
{
    if (local_only)
        return {false, "this command reads files on the appliance host and is not run over the control socket "
                       "(shadownet-ctl -f FILE sends a file's commands itself)"};
    if (peer.uid == 0 || member(peer, policy.operator_gid))
        return {true, {}};
    if (member(peer, policy.monitor_gid)) {
        if (needed == command_access::read_only)
            return {true, {}};
        return {false, fmt::format("user {} is in the monitor group: read-only commands only", peer.user)};
    }
    return {false, fmt::format("user {} is neither root nor in the operator or monitor group", peer.user)};
}

access_setup resolve_access(const access_groups& named, std::uint32_t own_gid)
{
    access_setup out;
    out.socket_group = named.control.value_or(own_gid);
    out.policy.operator_gid = named.operators;
    out.policy.monitor_gid = named.monitor.value_or(out.socket_group);
    return out;
}

peer_identity identify_peer(std::uint32_t uid, std::uint32_t gid, std::int32_t pid)
{
    peer_identity p;
    p.uid = uid;
    p.gid = gid;
    p.pid = pid;
    p.user = std::to_string(uid);
    p.groups.push_back(gid);
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr)
        return p;
    p.user = pw.pw_name;
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
        groups.resize(static_cast<std::size_t>(n));
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0)
            n = 0;
    }
    for (int i = 0; i < n; ++i)
        p.groups.push_back(groups[static_cast<std::size_t>(i)]);
    return p;
}

std::uint32_t group_id(const std::string& name, std::string_view option)
{
    std::uint32_t id = 0;
    const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
    if (!name.empty() && ec == std::errc() && ptr == name.data() + name.size())
        return id;
    std::vector<char> buf(16384);
    group gr{};
    group* found = nullptr;
    if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr)
        throw config_error(fmt::format("{}: no group named '{}'", option, name));
    return gr.gr_gid;
}

std::string format_audit_line(std::chrono::system_clock::time_point at, const peer_identity& who,
                              std::string_view via, std::string_view command, std::string_view result)
{
    const auto t = std::chrono::system_clock::to_time_t(at);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z uid={} user={} pid={} via={} command={} result={}",
                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms, who.uid,
                       who.user, who.pid, via, quoted(command), quoted(result));
}

std::string audit_result(const reply& r)
{
    return r.ok ? std::string("ok") : fmt::format("error: {}", r.text);
}

audit_log::audit_log(const std::string& path)
{
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0)
        throw config_error(fmt::format("--audit-log: cannot open '{}' for appending", path));
}

audit_log::~audit_log()
{
    if (fd_ >= 0)
        ::close(fd_);
}

void audit_log::write(const std::string& line)
{
    const std::string l = fmt::format("{}\n", line);
    std::lock_guard lock(mutex_);
    // O_APPEND: one write per line keeps lines whole even with other writers.
    [[maybe_unused]] const auto n = ::write(fd_, l.data(), l.size());
}

} // namespace shadownet::control
