// Client keys and routes: pure logic, no EAL.
#include <gtest/gtest.h>

#include "shadownet/dataplane/client_key.hpp"
#include "shadownet/dataplane/route.hpp"

using namespace shadownet::dataplane;

namespace {
const std::uint8_t v4[16] = {10, 1, 2, 3};
const std::uint8_t v4_other_host[16] = {10, 1, 2, 200};
const std::uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0xaa, 0xbb, 0, 0, 0, 0, 0, 1};
const std::uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x11};
} // namespace

TEST(client_key, source_address_is_the_default_client)
{
    client_key a;
    client_key b;
    make_client_key({}, 4, v4, 7, mac, a);
    make_client_key({}, 4, v4_other_host, 7, mac, b);
    EXPECT_FALSE(a == b);
    EXPECT_EQ(to_string(a), "10.1.2.3");
    make_client_key({}, 6, v6, 0, mac, a);
    EXPECT_EQ(a.kind, 6);
    EXPECT_EQ(to_string(a), "2001:db8::aabb:0:0:1");
}

TEST(client_key, prefixes_group_sources)
{
    client_key_config cfg;
    cfg.prefix_v4 = 24;
    cfg.prefix_v6 = 48;
    client_key a;
    client_key b;
    make_client_key(cfg, 4, v4, 0, mac, a);
    make_client_key(cfg, 4, v4_other_host, 0, mac, b);
    EXPECT_TRUE(a == b);
    EXPECT_EQ(to_string(a), "10.1.2.0/24");
    make_client_key(cfg, 6, v6, 0, mac, a);
    EXPECT_EQ(to_string(a), "2001:db8::/48");
    cfg.prefix_v4 = 13; // not on a byte boundary: 10.0.0.0/13 keeps 10.0-7.x.x
    make_client_key(cfg, 4, v4, 0, mac, a);
    EXPECT_EQ(to_string(a), "10.0.0.0/13");
}

TEST(client_key, vlan_and_mac_modes_ignore_addresses)
{
    client_key_config vlan;
    vlan.mode = client_key_mode::vlan;
    client_key a;
    client_key b;
    make_client_key(vlan, 4, v4, 100, mac, a);
    make_client_key(vlan, 6, v6, 100, mac, b);
    EXPECT_TRUE(a == b);
    EXPECT_EQ(to_string(a), "vlan 100");
    client_key_config by_mac;
    by_mac.mode = client_key_mode::src_mac;
    make_client_key(by_mac, 4, v4, 1, mac, a);
    make_client_key(by_mac, 4, v4_other_host, 2, mac, b);
    EXPECT_TRUE(a == b);
    EXPECT_EQ(to_string(a), "02:00:00:00:00:11");
}

TEST(route, packs_into_one_word_and_back)
{
    route r;
    r.client = 0xabcdef;
    r.epoch = 0xfffe;
    r.port = 7;
    r.queue = 0x55;
    r.via = path::shadow;
    const auto w = r.pack();
    EXPECT_EQ(route::unpack(w), r);
    route d;
    EXPECT_EQ(route::unpack(d.pack()).via, path::primary);
    EXPECT_EQ(route::unpack(d.pack()).port, route_default_port);
    // The queue field is 7 bits: the path bit is never clobbered.
    r.queue = 0xff;
    EXPECT_EQ(route::unpack(r.pack()).via, path::shadow);
    EXPECT_EQ(route::unpack(r.pack()).queue, 0x7f);
}
