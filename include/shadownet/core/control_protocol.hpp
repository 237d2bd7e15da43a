// The control socket's wire format, shared by the appliance and shadownet-ctl.
// Pure C++ (no DPDK): shadownet-ctl does not link EAL.
//
// A connection carries any number of exchanges, one at a time:
//   request:  one command line, UTF-8, ending with '\n' (at most 4096 bytes)
//   reply:    "<status> <length>\n" then exactly <length> bytes of body,
//             status = ok | error | refused; the body is the command's output
//             (text or JSON) or a one-line reason.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace shadownet::ctl {

inline constexpr std::size_t max_request = 4096;
inline constexpr std::string_view socket_name = "shadownet.sock";

enum class status { ok, error, refused };

std::string_view status_name(status s);
std::string encode_reply(status s, std::string_view body);

struct decoded_reply {
    status st = status::ok;
    std::string body;
};
// Takes one complete reply off the front of `buffer`; nullopt while incomplete.
// Throws std::runtime_error for a malformed header.
std::optional<decoded_reply> decode_reply(std::string& buffer);

// Where EAL puts a file prefix's runtime directory: /var/run/dpdk/P as root,
// else $XDG_RUNTIME_DIR/dpdk/P, else /tmp/dpdk/P (as rte_eal_init does).
std::string runtime_dir(std::string_view file_prefix, bool root, const char* xdg_runtime_dir);
// The appliance's default socket for a file prefix ("rte" when EAL got none).
std::string default_socket_path(std::string_view file_prefix);

} // namespace shadownet::ctl
