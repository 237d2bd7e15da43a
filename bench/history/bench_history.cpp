// The history store's flush cost at the appliance's scale (docs/shadow-manager.md
// "History store"): C clients x T ticks per flush, F flushes, 0.1 s ticks.
// Reports, per flush, what the owner (the control lcore) pays for append() and
// flush(), what the writer thread's transaction costs (which is what a
// synchronous flush would stall the owner for), and the bytes written to
// storage. Each flush waits for the writer to go idle first (untimed), as it
// is at one flush a second. Not a test: run it by hand.
//
//   bench_history [clients=1000] [ticks_per_flush=10] [flushes=300] [tick_retention_s=600] [dir]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "shadownet/snm/history.hpp"

using namespace shadownet::snm;
using clk = std::chrono::steady_clock;

static double pct(std::vector<double> v, double q)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, std::size_t(q * double(v.size())))];
}

// Bytes this process caused to be written to storage (Linux).
static std::uint64_t write_bytes()
{
    std::FILE* f = std::fopen("/proc/self/io", "r");
    if (!f)
        return 0;
    char line[128];
    unsigned long long v = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "write_bytes: %llu", &v) == 1)
            break;
    std::fclose(f);
    return v;
}

int main(int argc, char** argv)
{
    int clients = argc > 1 ? std::atoi(argv[1]) : 1000;
    int ticks = argc > 2 ? std::atoi(argv[2]) : 10;
    int flushes = argc > 3 ? std::atoi(argv[3]) : 300;
    double tick_ret = argc > 4 ? std::atof(argv[4]) : 600;
    std::string dir = argc > 5 ? argv[5] : (std::filesystem::temp_directory_path() / "shadownet-bench-history").string();
    std::filesystem::remove_all(dir);

    std::vector<std::string> keys;
    for (int c = 0; c < clients; ++c)
        keys.push_back(fmt::format("10.{}.{}.{}", c >> 16, (c >> 8) & 255, c & 255));
    history_options o;
    o.retention_s[0] = tick_ret;
    std::vector<double> owner_async, owner_append, writer_sync;
    double t = 1'700'000'100.0;
    std::uint64_t io0 = write_bytes();
    {
        history_store h(dir, o);
        for (int f = 0; f < flushes; ++f) {
            auto a0 = clk::now();
            for (int k = 0; k < ticks; ++k, t += 0.1)
                for (int c = 0; c < clients; ++c)
                    h.append(keys[c], history_point{t, float(1000 + c + k), float(8e6 + c), 0.01f, 32});
            auto a1 = clk::now();
            h.flush(t); // what the control lcore pays: the hand-over
            auto a2 = clk::now();
            h.sync();   // untimed: so that each hand-over meets an idle writer, as it does at 1 flush/s
            owner_append.push_back(std::chrono::duration<double>(a1 - a0).count() / (ticks * clients));
            owner_async.push_back(std::chrono::duration<double>(a2 - a1).count());
            writer_sync.push_back(h.stats().last_write_s);
        }
        // The owner's reads, for one client in the middle: what a warm start
        // or a console view costs (the tick and second levels scan their time
        // window, the minute and 5-minute levels seek the client index).
        const std::string& k = keys[clients / 2];
        auto timed = [](auto&& f) {
            auto a = clk::now();
            std::size_t n = f();
            return fmt::format("{:.2f} ms ({} values)", 1e3 * std::chrono::duration<double>(clk::now() - a).count(), n);
        };
        fmt::print("reads: load(tick, last 10 s) {}; load(second, all) {}; recent_series(second, 60) {}; "
                   "load(minute, all) {}; recent_series(five_minutes, 288) {}\n",
                   timed([&] { return h.load(k, history_level::tick, t - 10).size(); }),
                   timed([&] { return h.load(k, history_level::second, 0).size(); }),
                   timed([&] { return h.recent_series(k, history_level::second, 60).size(); }),
                   timed([&] { return h.load(k, history_level::minute, 0).size(); }),
                   timed([&] { return h.recent_series(k, history_level::five_minutes, 288).size(); }));
        auto st = h.stats();
        fmt::print("clients {} x ticks/flush {} x flushes {}, tick retention {} s\n", clients, ticks,
                   flushes, tick_ret);
        fmt::print("owner: append {:.0f} ns/point (p50), flush() p50 {:.1f} us p99 {:.1f} us max {:.1f} us\n",
                   1e9 * pct(owner_append, 0.5), 1e6 * pct(owner_async, 0.5), 1e6 * pct(owner_async, 0.99),
                   1e6 * pct(owner_async, 1.0));
        fmt::print("writer transaction ({} rows + buckets + trims): p50 {:.1f} ms p99 {:.1f} ms max {:.1f} ms\n",
                   clients * ticks, 1e3 * pct(writer_sync, 0.5), 1e3 * pct(writer_sync, 0.99),
                   1e3 * pct(writer_sync, 1.0));
        fmt::print("rows: tick {} second {} minute {} five_minutes {}; file {:.1f} MiB\n", st.rows[0], st.rows[1],
                   st.rows[2], st.rows[3], double(st.file_bytes) / (1 << 20));
    }
    fmt::print("written to disk: {:.1f} MiB per flush (/proc/self/io write_bytes)\n",
               double(write_bytes() - io0) / (1 << 20) / flushes);
    std::filesystem::remove_all(dir);
}
