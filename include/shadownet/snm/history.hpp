// The shadow manager's per-client history store (issue 7, "History store";
// docs/shadow-manager.md): each client's per-tick samples and its profile,
// kept across restarts in `<state dir>/history.sqlite` (SQLite, WAL mode) with
// RRD-style consolidation tick -> 1 s -> 1 min -> 5 min, each level trimmed
// to its retention so the file stays bounded. This is the seed's
// LOAD_HISTORICAL_DATA.
//
// Pure C++ (no DPDK; SQLite stays inside lib/snm/history.cpp).
//
// Threads and ownership:
// - Every public member is called by ONE thread, the owner (the control
//   lcore in the appliance). append() and save_profile() only buffer in
//   memory; flush() hands the buffer over and returns.
// - A private writer thread, started by the constructor and joined by the
//   destructor, owns the write connection: it runs each handed-over batch as
//   one transaction (tick rows, consolidation upserts, profiles, retention
//   trims). So a checkpoint's fsync or a slow disk never stalls the control
//   tick (docs/shadow-manager.md gives the measured costs).
// - The owner's reads (load, recent_series, load_profile, keys, stats) use a
//   second, read-only-by-use connection: they see what the writer has
//   committed. sync() first when a read must include everything appended.
// - The destructor hands over what is buffered, waits for the writer to
//   commit it, and joins.
//
// Durability: a batch is committed whole or not at all. After a kill -9 the
// file holds every batch the writer committed: everything appended before
// the previous flush() (given the writer keeps up, which stats() shows), and
// everything before the last sync().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shadownet::snm {

// One tick of one client, as the control lcore aggregates it
// (control::client_sample), but stamped with wall-clock time so that history
// survives restarts.
struct history_point {
    double t = 0;                 // wall clock, seconds since the epoch
    float pps = 0, bps = 0, cpu = 0, mbufs = 0;
};

// A row read back. For the tick level `count` is 1 and the maxima equal the
// value; for a consolidated level t is the bucket's start, the four values are
// the means of the ticks folded in, and max_pps/max_bps their maxima.
struct stored_point {
    double t = 0;
    std::uint32_t count = 0;
    double pps = 0, bps = 0, cpu = 0, mbufs = 0;
    double max_pps = 0, max_bps = 0;
};

// What the manager learnt of a client (snm::profile, with the class by name).
struct stored_profile {
    std::string kind;
    double observed_s = 0;
    double mean_pps = 0, peak_pps = 0, p95_pps = 0;
    double mean_bps = 0, peak_bps = 0;
    double cv = 0;
    double mean_packet_bytes = 0;
    double updated = 0;           // wall clock of the save
};

enum class history_level : std::uint8_t { tick, second, minute, five_minutes };
inline constexpr std::size_t history_levels = 4;
const char* name_of(history_level l) noexcept;
// Bucket width in seconds: 0 for tick (rows are the samples themselves).
double width_of(history_level l) noexcept;

enum class history_field : std::uint8_t { pps, bps, cpu, mbufs, max_pps, max_bps };

struct history_options {
    // The owner calls flush() when flush_due(); this is also the kill -9 loss
    // bound (what was appended since the last flush).
    double flush_interval_s = 1;
    // Retention per level, seconds, measured back from the newest sample
    // written (data time, not the wall clock, so a stopped appliance does not
    // lose its history by being stopped).
    std::array<double, history_levels> retention_s{600, 7200, 2 * 86400.0, 60 * 86400.0};
    // flush() blocks when this many batches are waiting for the writer: a
    // disk that cannot keep up slows the owner rather than growing memory
    // without bound, and the kill -9 loss stays within (this + 1) flush
    // intervals even then. A transaction takes tens of milliseconds at 1 000
    // clients, so at one flush a second this never blocks on a healthy disk.
    std::size_t max_queued_batches = 2;
    // The writer thread's nice value (Linux, per thread). It inherits the
    // owner's CPU affinity (the control lcore's core); at a lower priority it
    // takes the idle gaps of the owner's loop rather than preempting it when
    // a flush wakes it. 0 leaves it as it is.
    int writer_nice = 10;
};

struct history_stats {
    std::array<std::uint64_t, history_levels> rows{}; // counted now (a scan: console use, not per tick)
    std::uint64_t clients = 0, profiles = 0;
    std::uint64_t file_bytes = 0;            // history.sqlite plus its -wal
    // The writer's own counts.
    std::uint64_t batches = 0, points = 0, failed_batches = 0;
    double last_write_s = 0, max_write_s = 0, total_write_s = 0; // transaction times
    std::size_t queued_batches = 0;
    std::string last_error;
};

class history_store {
public:
    // Creates `dir` if missing and opens or creates `dir`/history.sqlite.
    // Throws std::runtime_error naming the path when it cannot (a file in the
    // way, no permission, not a database, a newer schema, or another process
    // holding the state directory).
    history_store(std::string dir, history_options opts = {});
    ~history_store();
    history_store(const history_store&) = delete;
    history_store& operator=(const history_store&) = delete;

    // Buffers one tick of a client; no I/O. Points of one client must come
    // in increasing t. Throws only std::bad_alloc.
    void append(const std::string& client_key, const history_point& p);
    // Buffers a client's profile; written (replacing the stored one) at the
    // next flush. load_profile() sees it at once.
    void save_profile(const std::string& client_key, const stored_profile& p);

    // Hands what is buffered to the writer as one batch (one transaction)
    // and returns; `now` (wall clock) restarts the flush_due() clock. Throws
    // std::runtime_error if an earlier batch failed to commit (once per
    // failure; that batch is lost, later ones are still written).
    void flush(double now);
    void flush();                      // now = the wall clock
    [[nodiscard]] bool flush_due(double now) const noexcept;
    // flush(), then waits until the writer has committed everything.
    void sync();

    [[nodiscard]] std::vector<stored_point> load(const std::string& client_key, history_level l,
                                                 double since) const;
    // The last n values of one field at one level, oldest first (fewer when
    // there is less history): the manager's warm start for a forecast.
    [[nodiscard]] std::vector<double> recent_series(const std::string& client_key, history_level l,
                                                    std::size_t n, history_field f = history_field::pps) const;
    [[nodiscard]] std::optional<stored_profile> load_profile(const std::string& client_key) const;
    // Every client the file knows, plus those appended since it was opened; sorted.
    [[nodiscard]] std::vector<std::string> keys() const;
    [[nodiscard]] history_stats stats() const;
    // PRAGMA integrity_check: "ok", or SQLite's list of problems.
    [[nodiscard]] std::string integrity_check() const;

    [[nodiscard]] const std::string& path() const noexcept;
    [[nodiscard]] const history_options& options() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> d_;
};

} // namespace shadownet::snm
