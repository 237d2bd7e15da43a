// Access decisions, audit lines and the control socket's framing, without a socket.
#include <chrono>

#include <gtest/gtest.h>

#include "shadownet/control/access.hpp"
#include "shadownet/core/control_protocol.hpp"
#include "shadownet/core/error.hpp"

using namespace shadownet;
using namespace shadownet::control;

namespace {

peer_identity peer(std::uint32_t uid, std::uint32_t gid, std::vector<std::uint32_t> groups, std::string user)
{
    peer_identity p;
    p.uid = uid;
    p.gid = gid;
    p.pid = 4242;
    p.groups = std::move(groups);
    p.user = std::move(user);
    return p;
}

constexpr std::uint32_t operators = 1001, monitors = 1002;

} // namespace

TEST(access, root_and_operators_may_change_monitors_may_read_others_nothing)
{
    const access_policy policy{operators, monitors};
    const auto ro = command_access::read_only;
    const auto rw = command_access::changing;
    const auto root = peer(0, 0, {0}, "root");
    EXPECT_TRUE(decide_access(policy, root, rw, false).allowed);
    EXPECT_TRUE(decide_access(access_policy{}, root, rw, false).allowed); // root needs no group

    const auto op = peer(1000, 100, {100, operators}, "alice"); // operator through a supplementary group
    EXPECT_TRUE(decide_access(policy, op, rw, false).allowed);
    EXPECT_TRUE(decide_access(policy, op, ro, false).allowed);
    const auto op_primary = peer(1003, operators, {operators}, "bob"); // ... or the primary one
    EXPECT_TRUE(decide_access(policy, op_primary, rw, false).allowed);

    const auto mon = peer(1004, 100, {100, monitors}, "carol");
    EXPECT_TRUE(decide_access(policy, mon, ro, false).allowed);
    const auto refused = decide_access(policy, mon, rw, false);
    EXPECT_FALSE(refused.allowed);
    EXPECT_NE(refused.reason.find("carol is in the monitor group: read-only"), std::string::npos) << refused.reason;

    const auto nobody = peer(65534, 65534, {65534}, "nobody");
    for (const auto a : {ro, rw}) {
        const auto d = decide_access(policy, nobody, a, false);
        EXPECT_FALSE(d.allowed);
        EXPECT_NE(d.reason.find("nobody is neither root nor in the operator or monitor group"), std::string::npos)
            << d.reason;
    }
    // No groups configured: only root.
    EXPECT_FALSE(decide_access(access_policy{}, op, ro, false).allowed);
    // Files on the appliance host are read for nobody over the socket, not even root.
    const auto local = decide_access(policy, root, rw, true);
    EXPECT_FALSE(local.allowed);
    EXPECT_NE(local.reason.find("shadownet-ctl -f"), std::string::npos);
}

TEST(access, groups_default_to_the_appliances_own_group)
{
    const auto ro = command_access::read_only;
    const auto rw = command_access::changing;
    constexpr std::uint32_t own = 1005, control = 2000, elsewhere = 3000;

    // Nothing named: the socket's group and the monitors are the appliance's own
    // group, so a member who can connect may read (and only read); others may not.
    const auto none = resolve_access({}, own);
    EXPECT_EQ(none.socket_group, own);
    EXPECT_EQ(none.policy.monitor_gid, std::optional<std::uint32_t>(own));
    EXPECT_FALSE(none.policy.operator_gid);
    const auto member = peer(1100, own, {own}, "dave");                  // own group as primary
    const auto supplementary = peer(1101, 100, {100, own}, "erin");      // ... or supplementary
    const auto stranger = peer(1102, elsewhere, {elsewhere}, "frank");
    for (const auto& p : {member, supplementary}) {
        EXPECT_TRUE(decide_access(none.policy, p, ro, false).allowed) << p.user;
        const auto d = decide_access(none.policy, p, rw, false);
        EXPECT_FALSE(d.allowed) << p.user;
        EXPECT_NE(d.reason.find("is in the monitor group: read-only"), std::string::npos) << d.reason;
    }
    EXPECT_FALSE(decide_access(none.policy, stranger, ro, false).allowed);
    EXPECT_TRUE(decide_access(none.policy, peer(0, 0, {0}, "root"), rw, false).allowed);

    // A named control group is both the socket's group and the monitors' default.
    const auto ctl = resolve_access({control, std::nullopt, std::nullopt}, own);
    EXPECT_EQ(ctl.socket_group, control);
    EXPECT_EQ(ctl.policy.monitor_gid, std::optional<std::uint32_t>(control));
    EXPECT_FALSE(decide_access(ctl.policy, member, ro, false).allowed); // our group no longer counts
    EXPECT_TRUE(decide_access(ctl.policy, peer(1103, control, {control}, "gina"), ro, false).allowed);

    // Named groups win over the defaults; operators are never defaulted.
    const auto all = resolve_access({control, elsewhere, operators}, own);
    EXPECT_EQ(all.socket_group, control);
    EXPECT_EQ(all.policy.monitor_gid, std::optional<std::uint32_t>(elsewhere));
    EXPECT_EQ(all.policy.operator_gid, std::optional<std::uint32_t>(operators));
    EXPECT_TRUE(decide_access(all.policy, stranger, ro, false).allowed);
    EXPECT_FALSE(decide_access(all.policy, stranger, rw, false).allowed);
    const auto mon_only = resolve_access({std::nullopt, elsewhere, std::nullopt}, own);
    EXPECT_EQ(mon_only.socket_group, own);
    EXPECT_EQ(mon_only.policy.monitor_gid, std::optional<std::uint32_t>(elsewhere));
}

TEST(access, identify_peer_and_group_names)
{
    const auto root = identify_peer(0, 0, 1);
    EXPECT_EQ(root.user, "root");
    EXPECT_NE(std::find(root.groups.begin(), root.groups.end(), 0U), root.groups.end());
    const auto ghost = identify_peer(4000123, 4000123, 7); // no passwd entry
    EXPECT_EQ(ghost.user, "4000123");
    EXPECT_EQ(ghost.groups, std::vector<std::uint32_t>{4000123});
    EXPECT_EQ(group_id("root", "--operator-group"), 0U);
    EXPECT_EQ(group_id("1234", "--operator-group"), 1234U);
    try {
        group_id("no-such-group-here", "--monitor-group");
        FAIL() << "an unknown group must be a config error";
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(), "--monitor-group: no group named 'no-such-group-here'");
    }
}

TEST(access, audit_lines)
{
    const auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1714564800123LL)); // 2024-05-01T12:00:00.123Z
    const auto who = peer(1000, 100, {100}, "alice");
    EXPECT_EQ(format_audit_line(at, who, "socket", "set client 3 route shadow", "ok"),
              "2024-05-01T12:00:00.123Z uid=1000 user=alice pid=4242 via=socket command=\"set client 3 route shadow\" "
              "result=\"ok\"");
    const auto line = format_audit_line(at, who, "console", "load \"x\"\\y", "error: bad\nthing");
    EXPECT_NE(line.find("command=\"load \\\"x\\\"\\\\y\""), std::string::npos) << line;
    EXPECT_NE(line.find("result=\"error: bad thing\""), std::string::npos) << line;
    EXPECT_EQ(audit_result(reply{true, "done", false}), "ok");
    EXPECT_EQ(audit_result(reply{false, "set client: client 9 does not exist", false}),
              "error: set client: client 9 does not exist");
}

TEST(control_protocol, replies_frame_and_unframe)
{
    std::string wire = ctl::encode_reply(ctl::status::ok, "line one\nline two\n") +
                       ctl::encode_reply(ctl::status::refused, "no") + ctl::encode_reply(ctl::status::error, "");
    EXPECT_EQ(wire.substr(0, 6), "ok 18\n");
    std::string partial = wire.substr(0, 10);
    EXPECT_FALSE(ctl::decode_reply(partial)); // incomplete: nothing taken
    EXPECT_EQ(partial.size(), 10U);
    auto a = ctl::decode_reply(wire);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->st, ctl::status::ok);
    EXPECT_EQ(a->body, "line one\nline two\n");
    auto b = ctl::decode_reply(wire);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->st, ctl::status::refused);
    EXPECT_EQ(b->body, "no");
    auto c = ctl::decode_reply(wire);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->st, ctl::status::error);
    EXPECT_TRUE(wire.empty());
    std::string bad = "maybe 3\nabc";
    EXPECT_THROW(ctl::decode_reply(bad), std::runtime_error);
    std::string bad_len = "ok x\n";
    EXPECT_THROW(ctl::decode_reply(bad_len), std::runtime_error);
}

TEST(control_protocol, default_socket_follows_eal_runtime_dir)
{
    EXPECT_EQ(ctl::runtime_dir("sn", true, "/run/user/1000"), "/var/run/dpdk/sn");
    EXPECT_EQ(ctl::runtime_dir("sn", false, "/run/user/1000"), "/run/user/1000/dpdk/sn");
    EXPECT_EQ(ctl::runtime_dir("rte", false, nullptr), "/tmp/dpdk/rte");
}
