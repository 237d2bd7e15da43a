// The interactive console (`shadownet ... -- -i`) on DPDK's rte_cmdline:
// prompt, tab completion and choice listing from the grammar, history.
//
// Threads. The console runs on its own std::thread (not an EAL thread) and
// never touches the appliance: each validated line is parsed by the command
// layer and handed to the control loop through the command_queue; the thread
// waits for the reply and prints it. It reads stdin itself (poll on stdin and
// a wake pipe) and feeds rte_cmdline, so the destructor can stop it at any
// time. `quit`, Ctrl-D on an empty line and the end of stdin all send `quit`.
#pragma once

#include <memory>

#include "shadownet/control/command_queue.hpp"

namespace shadownet::control {

class console {
public:
    // Starts reading stdin. `audit` is called (on the control loop) for
    // every changing command.
    console(command_queue& queue, command_queue::audit_fn audit);
    ~console(); // stops reading, restores the terminal, joins
    console(const console&) = delete;
    console& operator=(const console&) = delete;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

} // namespace shadownet::control
