#include "shadownet/core/control_protocol.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include <unistd.h>

#include <fmt/format.h>

namespace shadownet::ctl {

std::string_view status_name(status s)
{
    switch (s) {
    case status::ok: return "ok";
    case status::error: return "error";
    case status::refused: return "refused";
    }
    return "error";
}

std::string encode_reply(status s, std::string_view body)
{
    return fmt::format("{} {}\n{}", status_name(s), body.size(), body);
}

std::optional<decoded_reply> decode_reply(std::string& buffer)
{
    const auto nl = buffer.find('\n');
    if (nl == std::string::npos) {
        if (buffer.size() > 64)
            throw std::runtime_error("malformed reply header");
        return std::nullopt;
    }
    const std::string_view header(buffer.data(), nl);
    const auto sp = header.find(' ');
    if (sp == std::string_view::npos)
        throw std::runtime_error(fmt::format("malformed reply header '{}'", header));
    const auto word = header.substr(0, sp);
    const auto digits = header.substr(sp + 1);
    decoded_reply r;
    if (word == "ok")
        r.st = status::ok;
    else if (word == "error")
        r.st = status::error;
    else if (word == "refused")
        r.st = status::refused;
    else
        throw std::runtime_error(fmt::format("unknown reply status '{}'", word));
    std::size_t len = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size())
        throw std::runtime_error(fmt::format("malformed reply length '{}'", digits));
    if (buffer.size() < nl + 1 + len)
        return std::nullopt;
    r.body = buffer.substr(nl + 1, len);
    buffer.erase(0, nl + 1 + len);
    return r;
}

std::string runtime_dir(std::string_view file_prefix, bool root, const char* xdg_runtime_dir)
{
    const std::string base = root ? std::string("/var/run") : xdg_runtime_dir ? std::string(xdg_runtime_dir) : std::string("/tmp");
    return fmt::format("{}/dpdk/{}", base, file_prefix);
}

std::string default_socket_path(std::string_view file_prefix)
{
    return fmt::format("{}/{}", runtime_dir(file_prefix, ::getuid() == 0, std::getenv("XDG_RUNTIME_DIR")), socket_name);
}

} // namespace shadownet::ctl
