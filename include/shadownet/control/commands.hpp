// The command layer: one grammar, one parser and one action per command,
// shared by every front end — the rte_cmdline console, --cmdline-file
// scripts, `load`, the control socket and the tests. No front end holds logic
// of its own: each turns a line into a parsed_command here and runs it here.
//
// Threads. parse_command() is pure and runs on any thread (the socket thread
// parses to decide access before it queues anything). execute() calls the
// target; the appliance's target may only be used on the control lcore, so
// front ends on other threads hand parsed commands to the control loop through
// a command_queue and wait for the reply.
//
// Adding a command: one entry in the table in commands.cpp (words, arguments,
// help, access, action). When it needs data or a change the target does not
// offer yet, one virtual function in command_target and its appliance adapter.
//
// Output: a trailing `json` word on any command asks for its JSON form
// (docs/console.md); errors are always one line of text.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shadownet/control/stats.hpp"
#include "shadownet/dataplane/route.hpp"

namespace shadownet::control {

enum class output_format : std::uint8_t { text, json };

// Read-only commands may run while anyone watches (monitor group); changing
// ones need the operator group or root, and are audited.
enum class command_access : std::uint8_t { read_only, changing };

enum class token_kind : std::uint8_t {
    keyword,     // a fixed word
    choice,      // one of `choices`
    number,      // an unsigned integer in [min, max]
    port_or_all, // a port id in [min, max] or the word `all`
    path,        // a file name (one word)
    rest,        // the rest of the line, one or more words (last token only)
};

struct token_spec {
    token_kind kind = token_kind::keyword;
    std::string_view name;                  // keyword: the word itself; else the argument's name
    std::vector<std::string_view> choices;  // choice
    std::uint64_t min = 0, max = 0;         // number, port_or_all
    bool optional = false;                  // only trailing arguments may be optional
};

struct parsed_command;
struct exec_context;

// What a command answers. `text` is the reply body (text or JSON) or, when
// !ok, a one-line error that names the command and the reason.
struct reply {
    bool ok = true;
    std::string text;
    bool quit = false; // the command asked the appliance to stop
};

using command_action = reply (*)(exec_context&, const parsed_command&);

struct command_spec {
    std::string_view name; // the keywords, e.g. "show port stats": used in messages and the audit log
    std::vector<token_spec> tokens;
    std::string_view help;
    command_access access = command_access::read_only;
    bool local_only = false; // refused over the control socket (reads files on the appliance host)
    command_action action = nullptr;
};

// The grammar, in the order `help` lists it.
std::span<const command_spec> command_table();

// "show port stats <port|all> [json]" — built from the table.
std::string usage(const command_spec& spec);

struct arg_value {
    bool present = false;
    std::string word;                    // as typed
    std::optional<std::uint64_t> number; // number, and port_or_all when not `all`
};

struct parsed_command {
    const command_spec* spec = nullptr;
    std::vector<arg_value> args; // parallel to spec->tokens (keywords included)
    bool json = false;           // the trailing `json` word
    std::string line;            // the words joined by single spaces (for the audit log)

    [[nodiscard]] const arg_value& arg(std::string_view name) const; // throws std::logic_error for a name not in the spec
    [[nodiscard]] std::uint64_t number_or(std::string_view name, std::uint64_t fallback) const;
};

// A parsed command or a one-line error naming the command and the reason.
struct parse_result {
    std::optional<parsed_command> command;
    std::string error;
};

// One command line. Blank lines and `#` comments are errors here ("empty
// command"): scripts skip them before parsing.
parse_result parse_command(std::string_view line);

// True for a line that holds no command (blank or a `#` comment).
bool is_blank_line(std::string_view line);

// What commands act on. The appliance implements it through a thin adapter
// (appliance_target); tests implement it with a fake. Called on one thread only.
class command_target {
public:
    struct clients_page {
        std::size_t total = 0;
        std::vector<client_snapshot> clients; // in id order, from the requested start
        std::size_t next = 0;                 // where the next page starts; 0 at the end
    };
    struct route_change {
        std::uint32_t client = 0;
        dataplane::path via = dataplane::path::primary;
        std::uint16_t epoch = 0;
        bool changed = false; // false when the client was already on that path
    };

    virtual ~command_target() = default;
    [[nodiscard]] virtual std::vector<std::uint16_t> port_ids() const = 0;
    // Counters since the last clear: the lcores' counters minus a baseline the
    // caller's thread keeps. Every port.
    [[nodiscard]] virtual std::vector<port_snapshot> port_stats() = 0;
    [[nodiscard]] virtual std::vector<std::pair<std::string, std::uint64_t>> port_xstats(std::uint16_t port) = 0;
    // nullopt: every port. Throws std::out_of_range for an unknown port.
    virtual void clear_port_stats(std::optional<std::uint16_t> port) = 0;
    [[nodiscard]] virtual std::vector<lcore_snapshot> lcores() = 0;
    [[nodiscard]] virtual clients_page clients(std::size_t start, std::size_t count) = 0;
    // Throws std::out_of_range for an unknown client.
    [[nodiscard]] virtual client_detail client(std::uint32_t id) = 0;
    [[nodiscard]] virtual shadow_view shadow() = 0;
    // Throws std::out_of_range (unknown client) or config_error (no shadow path).
    virtual route_change set_client_route(std::uint32_t id, dataplane::path via) = 0;
    [[nodiscard]] virtual snm_snapshot snm() = 0;
    virtual void set_policy(snm_policy p) = 0;
    // The client's priority for shadow reservations (higher first). Throws
    // std::out_of_range for an unknown client.
    virtual void set_client_priority(std::uint32_t id, int priority) = 0;
    // Failover (docs/resilience.md): roles, port health, events.
    [[nodiscard]] virtual failover_snapshot failover() = 0;
    // Throws std::out_of_range (unknown port) or std::runtime_error (the driver cannot).
    virtual void set_port_link(std::uint16_t port, bool up) = 0;
    // Throws std::out_of_range for an unknown port.
    virtual void set_port_fault(std::uint16_t port, bool on) = 0;
    // Throws std::invalid_argument with the reason it cannot.
    virtual void switchover(std::uint16_t port) = 0;
    [[nodiscard]] virtual bool forwarding() const = 0;
    // Returns whether forwarding was on before.
    virtual bool set_forwarding(bool on) = 0;
    virtual void request_quit() = 0;
};

// Everything an action may use besides its arguments.
struct exec_context {
    command_target& target;
    output_format format = output_format::text; // the `json` word overrides it
    unsigned depth = 0;                          // `load` nesting
    // Called after every changing command (the audit log); may be empty.
    std::function<void(const parsed_command&, const reply&)> audit;
    // Where `load` writes the replies of the commands it runs; empty: into its own reply.
    std::function<void(const reply&)> out;
    // `wait`: keeps the appliance running for that long (the control loop
    // passes one that runs its own turns); returns false when it ended early
    // because the appliance is stopping. Empty: the calling thread sleeps.
    std::function<bool(double seconds)> wait;
};

reply execute(exec_context& ctx, const parsed_command& cmd);
// Parse, then execute; a parse error is an error reply.
reply execute_line(exec_context& ctx, std::string_view line);
// The plain form: text (or the command's `json` word), no audit.
reply execute(command_target& target, const parsed_command& cmd, output_format format = output_format::text);

// A script: one command per line, `#` comments and blank lines skipped.
// on_reply sees every reply; a failed one's text is "FILE:LINE: COMMAND: REASON".
struct script_result {
    std::size_t ran = 0;
    std::size_t failed = 0;
    bool quit = false;    // the script ran `quit`, or a `wait` ended because the appliance is stopping
    bool stopped = false; // stopped at an error (stop_on_error)
    std::vector<std::string> errors; // "FILE:LINE: COMMAND: REASON"
};
script_result run_script(exec_context& ctx, std::istream& in, std::string_view name, bool stop_on_error,
                         const std::function<void(const reply&)>& on_reply);
// Opens `path` first; a file that cannot be opened is one error.
script_result run_script_file(exec_context& ctx, const std::string& path, bool stop_on_error,
                              const std::function<void(const reply&)>& on_reply);

inline constexpr unsigned max_load_depth = 8;

} // namespace shadownet::control
