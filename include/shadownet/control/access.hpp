// Who may run what over the control socket, and the audit log of changes.
// Pure POSIX, no DPDK: the decision and the audit line are unit-tested.
//
// The model (docs/console.md): the socket file is mode 0660, group
// --control-group (default: the appliance's effective group), so only its
// owner and that group can connect at all. A peer is identified by
// SO_PEERCRED (uid, gid, pid) and the groups of its uid's passwd entry
// (getgrouplist). Root and members of --operator-group may run every command;
// members of --monitor-group (default: the control group) read-only commands;
// everyone else is refused, with the reason in the reply.
// Commands that read files on the appliance host (`load`) are never run for a
// socket peer: shadownet-ctl -f sends a file's lines itself. Every changing
// command, allowed or refused, is written to the audit log.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shadownet/control/commands.hpp"

namespace shadownet::control {

struct peer_identity {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0; // from SO_PEERCRED: the peer's effective gid
    std::int32_t pid = 0;
    std::string user;                 // the passwd name, or the uid in digits when there is none
    std::vector<std::uint32_t> groups; // gid and the passwd entry's groups
};

struct access_policy {
    std::optional<std::uint32_t> operator_gid;
    std::optional<std::uint32_t> monitor_gid;
};

struct access_decision {
    bool allowed = false;
    std::string reason; // why not (empty when allowed)
};

access_decision decide_access(const access_policy& policy, const peer_identity& peer, command_access needed,
                              bool local_only);

// The groups named by --control-group, --monitor-group and --operator-group
// (as gids); unset when not given.
struct access_groups {
    std::optional<std::uint32_t> control;
    std::optional<std::uint32_t> monitor;
    std::optional<std::uint32_t> operators;
};

struct access_setup {
    std::uint32_t socket_group = 0; // the socket file's group (mode 0660): who may connect
    access_policy policy;
};

// Fills in the defaults: the control group is the appliance's own effective
// gid when none is named, and the monitor group the control group, so whoever
// may connect may at least read. Operators have no default (root only).
access_setup resolve_access(const access_groups& named, std::uint32_t own_gid);

// Looks the uid up (getpwuid_r, getgrouplist); a uid with no passwd entry keeps only `gid`.
peer_identity identify_peer(std::uint32_t uid, std::uint32_t gid, std::int32_t pid);
// The gid of a group name (or a number); throws config_error naming `option`.
std::uint32_t group_id(const std::string& name, std::string_view option);

// One line: "2024-05-01T12:00:00.123Z uid=0 user=root pid=42 via=socket command="..." result="..."".
// Quotes and backslashes in the command and the result are escaped; newlines become spaces.
std::string format_audit_line(std::chrono::system_clock::time_point at, const peer_identity& who,
                              std::string_view via, std::string_view command, std::string_view result);
// "ok", "error: <reason>" or "refused: <reason>".
std::string audit_result(const reply& r);

// Appends lines to a file; any thread (a mutex keeps lines whole).
class audit_log {
public:
    // Throws config_error when the file cannot be opened for appending.
    explicit audit_log(const std::string& path);
    ~audit_log();
    audit_log(const audit_log&) = delete;
    audit_log& operator=(const audit_log&) = delete;
    void write(const std::string& line);

private:
    std::mutex mutex_;
    int fd_ = -1;
};

} // namespace shadownet::control
