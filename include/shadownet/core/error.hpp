// Error types shared by every layer. Control plane only: the fast path never throws.
#pragma once

#include <stdexcept>
#include <string>

namespace shadownet {

// A bad command line, config file or option value. The message is one line
// meant for the operator, naming the option and what was wrong with it.
class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A DPDK call failed. Carries the negative errno-style code DPDK returned.
class dpdk_error : public std::runtime_error {
public:
    dpdk_error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
    [[nodiscard]] int code() const noexcept { return code_; }

private:
    int code_;
};

} // namespace shadownet
