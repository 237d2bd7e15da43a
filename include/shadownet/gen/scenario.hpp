// Scenario files for the generator: groups of clients, each with addresses,
// protocol, packet size and a demand profile. Pure (no DPDK).
//
// Format (INI-like, one setting per line; `#` or `;` starts a comment):
//
//     duration = 30              # seconds (0: until stopped)
//     tick = 0.1                 # seconds between rate updates and time-series rows
//
//     [group web]                # a group of clients
//     clients = 8                # how many; client i sends from src + i
//     src = 10.1.0.1
//     dst = 198.18.0.1
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
// Errors name the file, the line and the setting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shadownet/gen/profile.hpp"

namespace shadownet::gen {

enum class l4_kind : std::uint8_t { udp, tcp, syn };

struct client_group {
    std::string name;
    std::uint32_t clients = 1;
    std::uint32_t src = (10U << 24) | 1;          // host order
    std::uint32_t dst = (198U << 24) | (18U << 16) | 1;
    l4_kind proto = l4_kind::udp;
    std::uint16_t sport = 1024;
    std::uint16_t dport = 5001;
    std::uint32_t flows = 1;
    std::uint16_t size = 64;                      // 0: IMIX
    std::uint32_t spoof = 0;
    profile_params demand;
};

struct scenario {
    double duration = 10;
    double tick = 0.1;
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
