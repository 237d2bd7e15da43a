// rte_cmdline front end.
//
// Why tokens are generated this way: rte_cmdline completes and lists choices
// per token of per-command "instances", but only calls back with its own
// parse result, and prints a bare "Bad arguments" for a line no instance
// matches. We want the grammar's own error messages and one parse path for
// every front end. So the instances generated from the grammar table (one
// per command and number of optional arguments, with and without the
// trailing `json`) drive completion and help only: their callback is NULL,
// which rte_cmdline's parser skips. The last instance is a catch-all whose
// single token takes the whole line; it is the only one with a callback, and
// hands the raw line to parse_command(). The catch-all is invisible to
// completion (it offers one choice whose text it refuses to give).
#include "shadownet/control/console.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cmdline.h>
#include <cmdline_parse.h>
#include <cmdline_parse_string.h>
#include <cmdline_socket.h>
#include <fmt/format.h>

namespace shadownet::control {

namespace {

// Layout-compatible with cmdline_token_string, so rte_cmdline's string
// parser can read it; `help` is ours.
struct word_token {
    cmdline_token_string tok;
    const char* help;
};

struct line_token {
    cmdline_token_hdr hdr;
    console::impl* owner;
};

int arg_complete_nb(cmdline_parse_token_hdr_t*)
{
    return 0;
}

int arg_help(cmdline_parse_token_hdr_t* tk, char* dst, unsigned size)
{
    std::snprintf(dst, size, "%s", reinterpret_cast<word_token*>(tk)->help);
    return 0;
}

int line_parse(cmdline_parse_token_hdr_t* tk, const char* buf, void* res, unsigned);
int line_complete_nb(cmdline_parse_token_hdr_t*)
{
    return 1;
}
int line_complete_elt(cmdline_parse_token_hdr_t*, int, char*, unsigned)
{
    return -1;
}
void on_line(void*, cmdline*, void* data);

cmdline_token_ops arg_ops = {cmdline_parse_string, arg_complete_nb, nullptr, arg_help};
cmdline_token_ops line_ops = {line_parse, line_complete_nb, line_complete_elt, nullptr};

} // namespace

struct console::impl {
    command_queue& queue;
    command_queue::audit_fn audit;
    std::deque<std::string> strings; // stable storage for token strings and help texts
    std::deque<word_token> words;
    line_token catch_all{};
    std::vector<void*> instances; // malloc'd cmdline_parse_inst_t
    std::vector<cmdline_parse_inst_t*> ctx;
    cmdline* cl = nullptr;
    std::string line; // the line the catch-all took, for on_line
    std::atomic<bool> stop{false};
    bool quit_sent = false;
    int wake[2] = {-1, -1};
    std::thread thread;

    impl(command_queue& q, command_queue::audit_fn a) : queue(q), audit(std::move(a)) {}
    ~impl()
    {
        for (void* p : instances)
            std::free(p);
    }

    const char* keep(std::string s) { return strings.emplace_back(std::move(s)).c_str(); }

    cmdline_parse_token_hdr_t* make_token(const token_spec& t)
    {
        word_token& w = words.emplace_back();
        w.tok.hdr.offset = 0; // results are not used: the catch-all re-parses the line
        switch (t.kind) {
        case token_kind::keyword:
            w.tok.hdr.ops = &cmdline_token_string_ops;
            w.tok.string_data.str = keep(std::string(t.name));
            break;
        case token_kind::choice: {
            std::string alts;
            for (const auto c : t.choices)
                alts += fmt::format("{}{}", alts.empty() ? "" : "#", c);
            w.tok.hdr.ops = &cmdline_token_string_ops;
            w.tok.string_data.str = keep(alts);
            break;
        }
        default:
            w.tok.hdr.ops = &arg_ops;
            w.tok.string_data.str = nullptr; // any word
            w.help = keep(t.kind == token_kind::port_or_all ? fmt::format("<{}|all>", t.name)
                                                             : fmt::format("<{}>", t.name));
            break;
        }
        return &w.tok.hdr;
    }

    void add_instance(const std::vector<cmdline_parse_token_hdr_t*>& tokens, const char* help,
                      void (*f)(void*, cmdline*, void*))
    {
        const std::size_t size = sizeof(cmdline_parse_inst_t) + (tokens.size() + 1) * sizeof(void*);
        void* mem = std::calloc(1, size);
        if (mem == nullptr)
            throw std::bad_alloc();
        instances.push_back(mem);
        auto* inst = static_cast<cmdline_parse_inst_t*>(mem);
        inst->f = f;
        inst->data = this;
        inst->help_str = help;
        for (std::size_t i = 0; i < tokens.size(); ++i)
            inst->tokens[i] = tokens[i];
        inst->tokens[tokens.size()] = nullptr;
        ctx.push_back(inst);
    }

    void build()
    {
        for (const auto& spec : command_table()) {
            std::vector<cmdline_parse_token_hdr_t*> toks;
            std::size_t required = 0;
            for (const auto& t : spec.tokens) {
                toks.push_back(make_token(t));
                if (!t.optional)
                    required = toks.size();
            }
            const char* help = keep(fmt::format("{}", spec.help));
            cmdline_parse_token_hdr_t* json = make_token({token_kind::keyword, "json", {}, 0, 0, false});
            for (std::size_t n = required; n <= toks.size(); ++n) {
                std::vector<cmdline_parse_token_hdr_t*> v(toks.begin(), toks.begin() + static_cast<std::ptrdiff_t>(n));
                add_instance(v, help, nullptr);
                v.push_back(json);
                add_instance(v, help, nullptr);
            }
        }
        catch_all.hdr.ops = &line_ops;
        catch_all.hdr.offset = 0;
        catch_all.owner = this;
        add_instance({&catch_all.hdr}, "any command", on_line);
        ctx.push_back(nullptr);
    }

    void print(std::string_view s) const
    {
        while (!s.empty()) {
            const ssize_t n = ::write(STDOUT_FILENO, s.data(), s.size());
            if (n <= 0)
                return;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    // On the console thread, inside cmdline_in().
    void run_line(const std::string& text)
    {
        if (is_blank_line(text))
            return;
        auto p = parse_command(text);
        if (!p.command) {
            print(fmt::format("error: {}\n", p.error));
            return;
        }
        const bool is_quit = p.command->spec->name == "quit";
        const reply r = queue.submit(std::move(*p.command), output_format::text, audit).get();
        if (!r.ok)
            print(fmt::format("error: {}\n", r.text));
        else if (!r.text.empty())
            print(r.text.back() == '\n' ? r.text : fmt::format("{}\n", r.text));
        if (r.quit || is_quit) {
            quit_sent = true;
            cmdline_quit(cl);
        }
    }

    void send_quit()
    {
        if (quit_sent)
            return;
        quit_sent = true;
        auto p = parse_command("quit");
        print("quit\n");
        queue.submit(std::move(*p.command), output_format::text, audit).get();
    }

    void loop()
    {
        cl = cmdline_stdin_new(ctx.data(), "shadownet> ");
        if (cl == nullptr) {
            print("shadownet: error: cannot start the console\n");
            return;
        }
        char buf[256];
        while (!stop.load() && !quit_sent) {
            pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0)
                continue;
            if (stop.load())
                break;
            if (!(fds[0].revents & (POLLIN | POLLHUP)))
                continue;
            const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
            if (n <= 0) { // end of input: stop the appliance as quit does
                send_quit();
                break;
            }
            if (cmdline_in(cl, buf, static_cast<int>(n)) < 0 && !quit_sent) { // Ctrl-D on an empty line
                send_quit();
                break;
            }
        }
        cmdline_stdin_exit(cl);
        cl = nullptr;
    }
};

namespace {

int line_parse(cmdline_parse_token_hdr_t* tk, const char* buf, void* res, unsigned)
{
    if (res == nullptr) // completion probes: the catch-all completes nothing
        return -1;
    std::size_t n = 0;
    while (buf[n] != '\0' && buf[n] != '\n' && buf[n] != '\r')
        ++n;
    reinterpret_cast<line_token*>(tk)->owner->line.assign(buf, n);
    return static_cast<int>(n);
}

void on_line(void*, cmdline*, void* data)
{
    auto* self = static_cast<console::impl*>(data);
    self->run_line(self->line);
}

} // namespace

console::console(command_queue& queue, command_queue::audit_fn audit)
    : impl_(std::make_unique<impl>(queue, std::move(audit)))
{
    impl_->build();
    if (::pipe2(impl_->wake, O_CLOEXEC) != 0)
        throw std::runtime_error("cannot create the console's wake pipe");
    impl_->thread = std::thread([this] { impl_->loop(); });
}

console::~console()
{
    impl_->stop.store(true);
    [[maybe_unused]] const auto n = ::write(impl_->wake[1], "x", 1);
    impl_->thread.join();
    ::close(impl_->wake[0]);
    ::close(impl_->wake[1]);
}

} // namespace shadownet::control
