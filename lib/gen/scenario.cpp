#include "shadownet/gen/scenario.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "shadownet/core/error.hpp"

namespace shadownet::gen {

namespace {

std::string trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

struct where {
    const std::string& origin;
    unsigned line;
    [[noreturn]] void fail(const std::string& what) const
    {
        throw config_error(line ? fmt::format("scenario {} line {}: {}", origin, line, what)
                                : fmt::format("scenario {}: {}", origin, what));
    }
};

double number(const where& w, const std::string& key, const std::string& v, double lo, double hi)
{
    double x = 0;
    const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || !std::isfinite(x))
        w.fail(fmt::format("{} = '{}' is not a number", key, v));
    if (x < lo || x > hi)
        w.fail(fmt::format("{} = {} is not in {}-{}", key, v, lo, hi));
    return x;
}

std::uint32_t whole(const where& w, const std::string& key, const std::string& v, double lo, double hi)
{
    const double x = number(w, key, v, lo, hi);
    if (x != std::floor(x))
        w.fail(fmt::format("{} = {} is not a whole number", key, v));
    return static_cast<std::uint32_t>(x);
}

std::uint32_t ipv4(const where& w, const std::string& key, const std::string& v)
{
    in_addr a{};
    if (inet_pton(AF_INET, v.c_str(), &a) != 1)
        w.fail(fmt::format("{} = '{}' is not an IPv4 address", key, v));
    return ntohl(a.s_addr);
}

// An IPv4 or IPv6 address; IPv6 when it has a colon.
void address(const where& w, const std::string& key, const std::string& v, std::uint32_t& v4,
             std::array<std::uint8_t, 16>& v6, bool& is_v6)
{
    is_v6 = v.find(':') != std::string::npos;
    if (!is_v6) {
        v4 = ipv4(w, key, v);
        return;
    }
    if (inet_pton(AF_INET6, v.c_str(), v6.data()) != 1)
        w.fail(fmt::format("{} = '{}' is not an IPv6 address", key, v));
}

bool yes_no(const where& w, const std::string& key, const std::string& v)
{
    if (v == "true" || v == "yes" || v == "1")
        return true;
    if (v == "false" || v == "no" || v == "0")
        return false;
    w.fail(fmt::format("{} = '{}' is not yes or no", key, v));
}

std::uint64_t low64(const std::array<std::uint8_t, 16>& a)
{
    std::uint64_t x = 0;
    for (std::size_t i = 8; i < 16; ++i)
        x = (x << 8) | a[i];
    return x;
}

void set_general(scenario& s, const where& w, const std::string& key, const std::string& v)
{
    if (key == "duration")
        s.duration = number(w, key, v, 0, 1e7);
    else if (key == "tick")
        s.tick = number(w, key, v, 0.001, 60);
    else if (key == "catch_up") {
        s.catch_up = number(w, key, v, 0, 1000);
        if (s.catch_up > 0 && s.catch_up <= 1)
            w.fail("catch_up must be 0 (off) or above 1: at 1 or less a stalled generator never catches up");
    } else
        w.fail(fmt::format("unknown setting '{}' (general settings: duration, tick, catch_up)", key));
}

void set_group(client_group& g, const where& w, const std::string& key, const std::string& v,
               const std::filesystem::path& base_dir)
{
    auto& d = g.demand;
    if (key == "clients")
        g.clients = whole(w, key, v, 1, 1'000'000);
    else if (key == "src")
        address(w, key, v, g.src, g.src6, g.ipv6);
    else if (key == "dst") {
        bool v6 = false;
        address(w, key, v, g.dst, g.dst6, v6);
        g.dst_version = v6 ? 6 : 4;
    }
    else if (key == "proto") {
        if (v == "udp")
            g.proto = l4_kind::udp;
        else if (v == "tcp")
            g.proto = l4_kind::tcp;
        else if (v == "syn")
            g.proto = l4_kind::syn;
        else
            w.fail(fmt::format("proto = '{}' is not udp, tcp or syn", v));
    } else if (key == "sport")
        g.sport = static_cast<std::uint16_t>(whole(w, key, v, 1, 65535));
    else if (key == "dport")
        g.dport = static_cast<std::uint16_t>(whole(w, key, v, 1, 65535));
    else if (key == "flows")
        g.flows = whole(w, key, v, 1, 65535);
    else if (key == "size")
        g.size = v == "imix" ? 0 : static_cast<std::uint16_t>(whole(w, key, v, 60, 1518));
    else if (key == "spoof")
        g.spoof = whole(w, key, v, 0, 16'000'000);
    else if (key == "profile") {
        try {
            d.kind = profile_kind_from_name(v);
        } catch (const config_error& e) {
            w.fail(e.what());
        }
    } else if (key == "rate")
        d.rate = number(w, key, v, 0, 1e9);
    else if (key == "base")
        d.base = number(w, key, v, 0, 1e9);
    else if (key == "at")
        d.at = number(w, key, v, 0, 1e7);
    else if (key == "until")
        d.until = number(w, key, v, 0, 1e7);
    else if (key == "period")
        d.period = number(w, key, v, 0.001, 1e7);
    else if (key == "phase")
        d.phase = number(w, key, v, -1e7, 1e7);
    else if (key == "factor")
        d.factor = number(w, key, v, 0, 1e6);
    else if (key == "rise")
        d.rise = number(w, key, v, 0, 1e7);
    else if (key == "decay")
        d.decay = number(w, key, v, 0.001, 1e7);
    else if (key == "slot")
        d.slot = number(w, key, v, 0.0001, 1e7);
    else if (key == "loop")
        d.loop = yes_no(w, key, v);
    else if (key == "pcap") {
        const std::filesystem::path p(v);
        try {
            g.pcap = read_pcap((p.is_absolute() ? p : base_dir / p).string());
        } catch (const config_error& e) {
            w.fail(e.what());
        }
    } else if (key == "timing") {
        if (v == "original")
            g.timing = replay_timing::original;
        else if (v == "profile")
            g.timing = replay_timing::profile;
        else
            w.fail(fmt::format("timing = '{}' is not original or profile", v));
    } else if (key == "speed")
        g.speed = number(w, key, v, 0.000001, 1e6);
    else if (key == "trace") {
        const std::filesystem::path p(v);
        try {
            d.trace = read_trace_csv((p.is_absolute() ? p : base_dir / p).string());
        } catch (const config_error& e) {
            w.fail(e.what());
        }
    } else
        w.fail(fmt::format("unknown setting '{}' in group '{}'", key, g.name));
}

void check(const scenario& s, const std::string& origin)
{
    const where w{origin, 0};
    if (s.groups.empty())
        w.fail("no [group NAME] sections: nothing to send");
    for (const auto& g : s.groups) {
        if (g.demand.kind == profile_kind::trace && g.demand.trace.empty())
            w.fail(fmt::format("group '{}': profile = trace needs trace = FILE", g.name));
        if ((g.demand.kind == profile_kind::ramp || g.demand.kind == profile_kind::dos) &&
            g.demand.until <= g.demand.at)
            w.fail(fmt::format("group '{}': a ramp needs until > at", g.name));
        if (g.ipv6) {
            if (g.dst_version == 4)
                w.fail(fmt::format("group '{}': src is IPv6 but dst is IPv4", g.name));
            // Clients count up in the low 64 bits (the interface identifier).
            if (low64(g.src6) > ~std::uint64_t{0} - g.clients - g.spoof)
                w.fail(fmt::format("group '{}': source addresses run past the end of the /64", g.name));
        } else {
            if (g.dst_version == 6)
                w.fail(fmt::format("group '{}': src is IPv4 but dst is IPv6 (an IPv6 group needs an IPv6 src)",
                                   g.name));
            if (std::uint64_t{g.src} + g.clients + g.spoof > 0xffffffffULL)
                w.fail(fmt::format("group '{}': source addresses run past 255.255.255.255", g.name));
        }
        if (g.pcap && g.clients != 1)
            w.fail(fmt::format("group '{}': a pcap group is one client (clients = {})", g.name, g.clients));
    }
}

} // namespace

std::uint64_t scenario::client_count() const noexcept
{
    std::uint64_t n = 0;
    for (const auto& g : groups)
        n += g.clients;
    return n;
}

scenario parse_scenario(const std::string& text, const std::string& origin)
{
    scenario s;
    const auto base_dir = std::filesystem::path(origin).parent_path();
    std::istringstream in(text);
    std::string raw;
    unsigned lineno = 0;
    client_group* group = nullptr;
    while (std::getline(in, raw)) {
        ++lineno;
        const where w{origin, lineno};
        const auto hash = raw.find_first_of("#;");
        const std::string line = trim(hash == std::string::npos ? raw : raw.substr(0, hash));
        if (line.empty())
            continue;
        if (line.front() == '[') {
            if (line.back() != ']')
                w.fail(fmt::format("'{}' is not a [group NAME] section", line));
            const std::string inside = trim(line.substr(1, line.size() - 2));
            if (inside.rfind("group", 0) != 0 || trim(inside.substr(5)).empty())
                w.fail(fmt::format("'{}' is not a [group NAME] section", line));
            client_group g;
            g.name = trim(inside.substr(5));
            for (const auto& other : s.groups)
                if (other.name == g.name)
                    w.fail(fmt::format("group '{}' appears twice", g.name));
            s.groups.push_back(std::move(g));
            group = &s.groups.back();
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string::npos)
            w.fail(fmt::format("'{}' is not 'name = value'", line));
        const std::string key = trim(line.substr(0, eq));
        const std::string value = trim(line.substr(eq + 1));
        if (group)
            set_group(*group, w, key, value, base_dir);
        else
            set_general(s, w, key, value);
    }
    check(s, origin);
    return s;
}

scenario load_scenario(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        throw config_error(fmt::format("scenario {}: cannot open", path));
    std::ostringstream text;
    text << in.rdbuf();
    return parse_scenario(text.str(), path);
}

void apply_override(scenario& s, const std::string& assignment)
{
    const where w{"(command line)", 0};
    const auto eq = assignment.find('=');
    if (eq == std::string::npos)
        w.fail(fmt::format("'{}' is not key=value or group.key=value", assignment));
    const std::string key = trim(assignment.substr(0, eq));
    const std::string value = trim(assignment.substr(eq + 1));
    const auto dot = key.find('.');
    if (dot == std::string::npos) {
        set_general(s, w, key, value);
        return;
    }
    const std::string name = key.substr(0, dot);
    for (auto& g : s.groups)
        if (g.name == name) {
            set_group(g, w, key.substr(dot + 1), value, std::filesystem::current_path());
            check(s, "(command line)");
            return;
        }
    w.fail(fmt::format("no group '{}' to set '{}' in", name, key.substr(dot + 1)));
}

scenario simple_scenario(std::uint32_t clients, double rate_pps, double duration_s)
{
    scenario s;
    s.duration = duration_s;
    client_group g;
    g.name = "default";
    g.clients = clients;
    g.flows = 4;
    g.demand.kind = profile_kind::constant;
    g.demand.rate = clients ? rate_pps / clients : 0;
    s.groups.push_back(g);
    return s;
}

} // namespace shadownet::gen
