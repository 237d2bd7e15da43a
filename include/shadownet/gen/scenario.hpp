// Scenario files for the generator: groups of clients, each with addresses,
// protocol, packet size and a demand profile. Pure (no DPDK).
//
// Format (INI-like, one setting per line; `#` or `;` starts a comment):
//
//     duration = 30              # seconds (0: until stopped)
//     tick = 0.1                 # seconds between rate updates and time-series rows
//     catch_up = 0               # > 1: after a stall, send what fell behind at most at
//                                #   this multiple of the rate (0: all at once, as soon as possible)
//
//     [group web]                # a group of clients
//     clients = 8                # how many; client i sends from src + i
//     src = 10.1.0.1             # an IPv6 address (2001:db8::1) makes the group IPv6;
//     dst = 198.18.0.1           #   dst must then be IPv6 too (default 2001:2::1)
//     proto = udp                # udp | tcp | syn (TCP SYNs: a SYN flood)
//     sport = 1024               # flows use sport .. sport + flows - 1
//     dport = 5001
//     flows = 4                  # per client
//     size = 64                  # frame bytes without FCS, 60-1518, or imix (7:4:1 of 64, 594, 1518)
//     profile = diurnal          # constant | step | ramp | diurnal | flash | dos | trace
//     rate = 20000               # pps per client: the level, or the peak of a shaped profile
//     base = 2000                # pps before a step/ramp/surge, the trough of a cycle
//     at = 5                     # s: step time, surge or ramp start
//     until = 15                 # s: ramp end
//     period = 20                # s: diurnal cycle
//     phase = 0                  # s: diurnal shift
//     factor = 10                # flash: surge to base * factor when rate is not set
//     rise = 1                   # s: flash rise
//     decay = 5                  # s: flash decay time constant
//     trace = inet_eu_5min.csv   # trace: a t,value CSV, relative to the scenario file
//     slot = 0.1                 # trace: seconds per CSV row (time compression)
//     spoof = 0                  # dos: packets come from this many sources after src (0: the client's own)
//
//     [group replay]             # a pcap group: one client that sends the file's frames
//     pcap = capture.pcap        # relative to the scenario file; read whole at start
//     timing = original          # original (the capture's timestamps) | profile (at the profile's rate)
//     speed = 1                  # original timing: 2 plays twice as fast
//     loop = yes                 # start again at the end (also trace profiles); no: play once
//
// Errors name the file, the line and the setting.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shadownet/gen/profile.hpp"

namespace shadownet::gen {

enum class l4_kind : std::uint8_t { udp, tcp, syn };

// A capture read whole at start (libpcap, Ethernet link type): the frames as
// captured (caplen bytes) and their times relative to the first.
struct pcap_frame {
    std::vector<std::uint8_t> bytes;
    double t = 0;
};
struct pcap_trace {
    std::string path;
    std::vector<pcap_frame> frames;
    double span = 0; // one pass: last frame's time plus the mean gap, so that a loop keeps the rhythm
};
// Throws config_error naming the file (cannot open, not Ethernet, empty, a frame over max_bytes).
std::shared_ptr<const pcap_trace> read_pcap(const std::string& path, std::size_t max_bytes = 2048);

enum class replay_timing : std::uint8_t { original, profile };

struct client_group {
    std::string name;
    std::uint32_t clients = 1;
    std::uint32_t src = (10U << 24) | 1;          // host order (IPv4 groups)
    std::uint32_t dst = (198U << 24) | (18U << 16) | 1;
    bool ipv6 = false;                            // src was written as an IPv6 address
    std::uint8_t dst_version = 0;                 // 4 or 6 when dst was written, 0 for the default
    std::array<std::uint8_t, 16> src6{};          // network order (IPv6 groups); client i: src6 + i
    std::array<std::uint8_t, 16> dst6{0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}; // 2001:2::1
    l4_kind proto = l4_kind::udp;
    std::uint16_t sport = 1024;
    std::uint16_t dport = 5001;
    std::uint32_t flows = 1;
    std::uint16_t size = 64;                      // 0: IMIX
    std::uint32_t spoof = 0;
    profile_params demand;
    std::shared_ptr<const pcap_trace> pcap;       // a pcap group: one client replaying these frames
    replay_timing timing = replay_timing::original;
    double speed = 1;
};

struct scenario {
    double duration = 10;
    double tick = 0.1;
    // A generator thread that was descheduled is behind its schedule. 0:
    // it sends the backlog at once (line rate), which stalls every client
    // it stands for together and hands the device under test a burst no set
    // of independent sources would make; c > 1: at most c x the rate until
    // it is back on schedule (what is still behind at the end of a tick is
    // owed to the next, at most a tick's worth, as always).
    double catch_up = 0;
    std::vector<client_group> groups;

    [[nodiscard]] std::uint64_t client_count() const noexcept;
};

// Parses scenario text; `origin` names it in errors and anchors relative trace paths.
scenario parse_scenario(const std::string& text, const std::string& origin);
scenario load_scenario(const std::string& path);

// Applies "key=value" (general) or "group.key=value" overrides from the command line.
void apply_override(scenario& s, const std::string& assignment);

// A one-group scenario from the basics, for quick runs without a file.
scenario simple_scenario(std::uint32_t clients, double rate_pps, double duration_s);

} // namespace shadownet::gen
