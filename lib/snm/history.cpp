// The history store (include/shadownet/snm/history.hpp, docs/shadow-manager.md
// "History store").
//
// Who owns what:
// - owner thread (the control lcore): `cur_` (the batch being filled),
//   `sids_`/`names_` (client key <-> session id), `saved_`, `last_flush_`,
//   the read connection `rdb_` and its statements.
// - writer thread: the write connection `wdb_`, its statements, `client_ids_`
//   (session id -> clients.id), `wnames_`, `newest_t_`. Set up by the
//   constructor before the thread starts (the thread start orders it), then
//   touched by the writer only.
// - shared, under `mu_`: `queue_` (batches handed over), `spare_` (emptied
//   batches handed back so their vectors keep their capacity), the sequence
//   numbers, the error to report, the writer's counters.
#include "shadownet/snm/history.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

namespace shadownet::snm {

const char* name_of(history_level l) noexcept
{
    switch (l) {
    case history_level::tick: return "tick";
    case history_level::second: return "second";
    case history_level::minute: return "minute";
    case history_level::five_minutes: return "five_minutes";
    }
    return "?";
}

double width_of(history_level l) noexcept
{
    switch (l) {
    case history_level::tick: return 0;
    case history_level::second: return 1;
    case history_level::minute: return 60;
    case history_level::five_minutes: return 300;
    }
    return 0;
}

namespace {

constexpr int schema_version = 1;
constexpr const char* tables[history_levels] = {"points_tick", "points_second", "points_minute",
                                                "points_5min"};

struct db_close {
    void operator()(sqlite3* d) const noexcept { sqlite3_close_v2(d); } // v2: waits for unfinalized statements
};
struct stmt_finalize {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using db_ptr = std::unique_ptr<sqlite3, db_close>;
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalize>;

double wall_now() noexcept
{
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

[[noreturn]] void fail(const std::string& path, const std::string& what, sqlite3* db)
{
    throw std::runtime_error(fmt::format("history store {}: {}: {}", path, what,
                                         db ? sqlite3_errmsg(db) : "out of memory"));
}

// Resets a statement whatever happens, so that a failed step never leaves a
// read transaction open (which would pin the WAL).
struct reset_guard {
    sqlite3_stmt* s;
    ~reset_guard() { sqlite3_reset(s); }
};

// The tick level keeps the sample only; the consolidated levels keep the
// means, the count folded in and the maxima. Columns read back in this order.
std::string select_columns(history_level l)
{
    return l == history_level::tick ? "t, 1, pps, bps, cpu, mbufs, pps, bps"
                                    : "t, n, pps, bps, cpu, mbufs, max_pps, max_bps";
}

stored_point read_point(sqlite3_stmt* s)
{
    stored_point p;
    p.t = sqlite3_column_double(s, 0);
    p.count = static_cast<std::uint32_t>(sqlite3_column_int64(s, 1));
    p.pps = sqlite3_column_double(s, 2);
    p.bps = sqlite3_column_double(s, 3);
    p.cpu = sqlite3_column_double(s, 4);
    p.mbufs = sqlite3_column_double(s, 5);
    p.max_pps = sqlite3_column_double(s, 6);
    p.max_bps = sqlite3_column_double(s, 7);
    return p;
}

double field_of(const stored_point& p, history_field f) noexcept
{
    switch (f) {
    case history_field::pps: return p.pps;
    case history_field::bps: return p.bps;
    case history_field::cpu: return p.cpu;
    case history_field::mbufs: return p.mbufs;
    case history_field::max_pps: return p.max_pps;
    case history_field::max_bps: return p.max_bps;
    }
    return 0;
}

struct pending_point {
    std::uint32_t sid;
    history_point p;
};

struct batch {
    std::vector<std::pair<std::uint32_t, std::string>> new_keys; // first seen since the last flush
    std::vector<pending_point> points;
    std::vector<std::pair<std::uint32_t, stored_profile>> profiles;
    [[nodiscard]] bool empty() const noexcept { return new_keys.empty() && points.empty() && profiles.empty(); }
    void clear() noexcept
    {
        new_keys.clear();
        points.clear();
        profiles.clear();
    }
};

// One consolidation bucket being filled from a batch.
struct bucket_acc {
    std::uint32_t n = 0;
    double pps = 0, bps = 0, cpu = 0, mbufs = 0; // sums
    double max_pps = 0, max_bps = 0;
};

} // namespace

struct history_store::impl {
    std::string dir, path;
    history_options opts;
    int lock_fd = -1;

    // ---- owner thread
    batch cur;
    std::unordered_map<std::string, std::uint32_t> sids;
    std::vector<std::string> names;                 // sid -> key
    std::map<std::string, stored_profile> saved;    // saved this session
    double last_flush = 0;
    db_ptr rdb;
    stmt_ptr r_load[history_levels], r_recent[history_levels], r_client, r_profile, r_keys;

    // ---- writer thread
    db_ptr wdb;
    stmt_ptr w_begin, w_commit, w_rollback, w_client_insert, w_client_id, w_profile;
    stmt_ptr w_insert[history_levels], w_trim[history_levels];
    std::vector<sqlite3_int64> client_ids;          // sid -> clients.id, 0 = not resolved yet
    std::vector<std::string> wnames;                // sid -> key, the writer's copy
    double newest_t = -INFINITY;                    // newest sample written: the retention clock
    // (level, bucket start, client): upserted in key order, i.e. B-tree order.
    std::map<std::tuple<int, double, sqlite3_int64>, bucket_acc> buckets; // reused per batch

    // ---- shared, under mu
    std::mutex mu;
    std::condition_variable work_cv, done_cv;
    std::deque<batch> queue;
    std::vector<batch> spare;
    bool stop = false;
    std::uint64_t handed = 0, committed = 0;        // batches; committed counts failed ones too
    std::string error;                              // a failure not yet reported to the owner
    std::uint64_t n_batches = 0, n_points = 0, n_failed = 0;
    double last_write = 0, max_write = 0, total_write = 0;
    std::string last_error;

    std::thread writer;

    impl(std::string d, history_options o);
    ~impl();

    stmt_ptr prepare(sqlite3* db, const std::string& sql) const
    {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
            fail(path, fmt::format("preparing \"{}\"", sql), db);
        return stmt_ptr(s);
    }
    void exec(sqlite3* db, const char* sql) const
    {
        char* msg = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
            std::string m = msg ? msg : sqlite3_errmsg(db);
            sqlite3_free(msg);
            throw std::runtime_error(fmt::format("history store {}: {}: {}", path, sql, m));
        }
    }
    // Steps a statement that returns no rows, then resets it.
    void run(sqlite3* db, sqlite3_stmt* s) const
    {
        reset_guard g{s};
        if (sqlite3_step(s) != SQLITE_DONE)
            fail(path, sqlite3_sql(s), db);
    }
    db_ptr open(int flags) const
    {
        sqlite3* raw = nullptr;
        int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
        db_ptr db(raw);
        if (rc != SQLITE_OK)
            fail(path, "cannot open", db.get());
        sqlite3_extended_result_codes(db.get(), 1);
        // The writer holds the lock only for a commit or a checkpoint: a
        // reader that meets one (WAL recovery, a checkpoint resetting the log)
        // waits rather than failing.
        sqlite3_busy_timeout(db.get(), 5000);
        return db;
    }

    void create_schema();
    void prepare_writer();
    void prepare_reader();
    void writer_loop();
    void write(batch& b);
    sqlite3_int64 client_id(std::uint32_t sid);
    void hand_over(double now);
    void throw_pending_error();
    sqlite3_int64 reader_lookup(const std::string& key) const;
};

history_store::impl::impl(std::string d, history_options o) : dir(std::move(d)), opts(o)
{
    namespace fs = std::filesystem;
    path = (fs::path(dir) / "history.sqlite").string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir, ec))
        throw std::runtime_error(fmt::format("history store: cannot create the state directory {}: {}", dir,
                                             ec ? ec.message() : "not a directory"));

    // One appliance per state directory: two writers would each trim and
    // consolidate the other's rows. flock() is released by the kernel when
    // the process dies, so a kill -9 leaves no stale lock behind.
    std::string lock_path = (fs::path(dir) / "history.lock").string();
    lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0)
        throw std::runtime_error(fmt::format("history store: cannot create {}: {}", lock_path,
                                             std::system_category().message(errno)));
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ::close(lock_fd);
        lock_fd = -1;
        throw std::runtime_error(fmt::format("history store: {} is in use by another history store ({})", dir,
                                             std::system_category().message(e)));
    }
    try {
        // NOMUTEX: each connection is used by one thread at a time (see the
        // ownership note above), so SQLite's per-connection mutex is not needed.
        wdb = open(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
        create_schema();
        prepare_writer();
        rdb = open(SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
        exec(rdb.get(), "PRAGMA query_only = 1");
        prepare_reader();
    } catch (...) {
        rdb.reset();
        wdb.reset();
        ::close(lock_fd);
        throw;
    }
    last_flush = wall_now();
    writer = std::thread([this] { writer_loop(); });
}

history_store::impl::~impl()
{
    {
        std::lock_guard lk(mu);
        stop = true;
    }
    work_cv.notify_all();
    if (writer.joinable())
        writer.join(); // the writer drains the queue first
    for (auto& s : r_load) s.reset();
    for (auto& s : r_recent) s.reset();
    r_client.reset();
    r_profile.reset();
    r_keys.reset();
    rdb.reset();
    wdb.reset(); // the last connection to close checkpoints and removes the -wal
    if (lock_fd >= 0)
        ::close(lock_fd);
}

void history_store::impl::create_schema()
{
    sqlite3* db = wdb.get();
    // The first statement that reads the file: a file that is not a database
    // fails here ("file is not a database").
    {
        stmt_ptr s = prepare(db, "PRAGMA journal_mode = WAL");
        reset_guard g{s.get()};
        if (sqlite3_step(s.get()) != SQLITE_ROW)
            fail(path, "setting WAL mode", db);
        std::string mode = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0));
        if (mode != "wal")
            throw std::runtime_error(fmt::format("history store {}: cannot use WAL mode (journal_mode is {})",
                                                 path, mode));
    }
    // synchronous = NORMAL: in WAL mode a commit appends to the -wal file
    // without fsync; the fsync happens at checkpoints. A process that dies
    // (kill -9, a crash) loses nothing it committed, because its writes are
    // in the kernel's page cache, which is the issue's contract ("a kill -9
    // loses at most the last flush interval"). A power cut may lose the
    // commits since the last checkpoint (at most ~4 MB of log, a few seconds
    // at 1 000 clients) but never corrupts the file: history is a
    // forecaster's prior, and FULL would put an fsync in every flush.
    exec(db, "PRAGMA synchronous = NORMAL");
    // The tick table of 1 000 clients is spread over many pages: a 64 MiB
    // cache keeps the rightmost leaf of each client's range hot.
    exec(db, "PRAGMA cache_size = -65536");
    // After a checkpoint, truncate the log back to 64 MiB if a long read
    // ever let it grow.
    exec(db, "PRAGMA journal_size_limit = 67108864");

    int version = 0;
    {
        stmt_ptr s = prepare(db, "PRAGMA user_version");
        reset_guard g{s.get()};
        if (sqlite3_step(s.get()) != SQLITE_ROW)
            fail(path, "reading the schema version", db);
        version = sqlite3_column_int(s.get(), 0);
    }
    if (version > schema_version)
        throw std::runtime_error(fmt::format(
            "history store {}: schema version {} is newer than this shadownet's ({})", path, version,
            schema_version));

    exec(db, "BEGIN IMMEDIATE");
    try {
        exec(db, "CREATE TABLE IF NOT EXISTS clients ("
                 " id INTEGER PRIMARY KEY,"
                 " key TEXT NOT NULL UNIQUE)");
        exec(db, "CREATE TABLE IF NOT EXISTS profiles ("
                 " client INTEGER PRIMARY KEY REFERENCES clients(id),"
                 " kind TEXT NOT NULL, observed_s REAL, mean_pps REAL, peak_pps REAL, p95_pps REAL,"
                 " mean_bps REAL, peak_bps REAL, cv REAL, mean_packet_bytes REAL, updated REAL)");
        // Time-major: every level is WITHOUT ROWID keyed (t, client), so a
        // flush appends at the right edge of each B-tree (the rows of one
        // flush share pages), the open buckets of all clients sit side by side
        // (their per-flush upserts dirty a few pages, not one per client), and
        // the retention trim deletes from the left edge. Keyed (client, t)
        // instead, each flush dirtied at least one page per client and level:
        // by count ~6 000 pages (~24 MB of log) per flush at 1 000 clients,
        // and 166 ms per transaction measured; see docs/shadow-manager.md.
        exec(db, "CREATE TABLE IF NOT EXISTS points_tick ("
                 " t REAL NOT NULL, client INTEGER NOT NULL,"
                 " pps REAL NOT NULL, bps REAL NOT NULL, cpu REAL NOT NULL, mbufs REAL NOT NULL,"
                 " PRIMARY KEY (t, client)) WITHOUT ROWID");
        for (std::size_t l = 1; l < history_levels; ++l)
            exec(db, fmt::format("CREATE TABLE IF NOT EXISTS {} ("
                                 " t REAL NOT NULL, client INTEGER NOT NULL, n INTEGER NOT NULL,"
                                 " pps REAL NOT NULL, bps REAL NOT NULL, cpu REAL NOT NULL, mbufs REAL NOT NULL,"
                                 " max_pps REAL NOT NULL, max_bps REAL NOT NULL,"
                                 " PRIMARY KEY (t, client)) WITHOUT ROWID",
                                 tables[l])
                         .c_str());
        // The long levels are read per client (warm start, daily phase) over
        // days: they get a (client, t) index. It changes only when a bucket
        // row is created (once per client and bucket width), never on the
        // per-flush updates of an open bucket. The tick and second levels
        // (minutes to hours) are read by scanning their time window instead.
        for (std::size_t l = 2; l < history_levels; ++l)
            exec(db, fmt::format("CREATE INDEX IF NOT EXISTS {0}_client ON {0}(client, t)", tables[l]).c_str());
        exec(db, fmt::format("PRAGMA user_version = {}", schema_version).c_str());
        exec(db, "COMMIT");
    } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

void history_store::impl::prepare_writer()
{
    sqlite3* db = wdb.get();
    w_begin = prepare(db, "BEGIN IMMEDIATE");
    w_commit = prepare(db, "COMMIT");
    w_rollback = prepare(db, "ROLLBACK");
    w_client_insert = prepare(db, "INSERT INTO clients(key) VALUES (?1) ON CONFLICT(key) DO NOTHING");
    w_client_id = prepare(db, "SELECT id FROM clients WHERE key = ?1");
    w_profile = prepare(db, "INSERT OR REPLACE INTO profiles(client, kind, observed_s, mean_pps, peak_pps,"
                            " p95_pps, mean_bps, peak_bps, cv, mean_packet_bytes, updated)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    // A repeated tick replaces the row (the consolidated levels would count
    // it twice: points of a client come in increasing t, as the header says).
    w_insert[0] = prepare(db, "INSERT OR REPLACE INTO points_tick(client, t, pps, bps, cpu, mbufs)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    // A bucket that spans two flushes: the second flush merges its part as a
    // count-weighted mean (SET expressions see the row as it was, so `n` on
    // the right is the old count).
    for (std::size_t l = 1; l < history_levels; ++l)
        w_insert[l] = prepare(
            db, fmt::format("INSERT INTO {}(client, t, n, pps, bps, cpu, mbufs, max_pps, max_bps)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                            " ON CONFLICT(t, client) DO UPDATE SET"
                            " pps = (pps * n + excluded.pps * excluded.n) / (n + excluded.n),"
                            " bps = (bps * n + excluded.bps * excluded.n) / (n + excluded.n),"
                            " cpu = (cpu * n + excluded.cpu * excluded.n) / (n + excluded.n),"
                            " mbufs = (mbufs * n + excluded.mbufs * excluded.n) / (n + excluded.n),"
                            " max_pps = max(max_pps, excluded.max_pps),"
                            " max_bps = max(max_bps, excluded.max_bps),"
                            " n = n + excluded.n",
                            tables[l]));
    for (std::size_t l = 0; l < history_levels; ++l)
        w_trim[l] = prepare(db, fmt::format("DELETE FROM {} WHERE t < ?1", tables[l]));
}

void history_store::impl::prepare_reader()
{
    sqlite3* db = rdb.get();
    for (std::size_t l = 0; l < history_levels; ++l) {
        auto lv = static_cast<history_level>(l);
        r_load[l] = prepare(db, fmt::format("SELECT {} FROM {} WHERE client = ?1 AND t >= ?2 ORDER BY t",
                                            select_columns(lv), tables[l]));
        r_recent[l] = prepare(db, fmt::format("SELECT {} FROM {} WHERE client = ?1 ORDER BY t DESC LIMIT ?2",
                                              select_columns(lv), tables[l]));
    }
    r_profile = prepare(db, "SELECT kind, observed_s, mean_pps, peak_pps, p95_pps, mean_bps, peak_bps, cv,"
                            " mean_packet_bytes, updated FROM profiles WHERE client = ?1");
    r_keys = prepare(db, "SELECT key FROM clients ORDER BY key");
    r_client = prepare(db, "SELECT id FROM clients WHERE key = ?1");
}

// ---------------------------------------------------------------- writer

void history_store::impl::writer_loop()
{
    if (opts.writer_nice != 0) // best effort: a failure leaves the writer at the owner's priority
        (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), opts.writer_nice);
    for (;;) {
        batch b;
        {
            std::unique_lock lk(mu);
            work_cv.wait(lk, [&] { return stop || !queue.empty(); });
            if (queue.empty())
                return; // stop, and everything handed over is written
            b = std::move(queue.front());
            queue.pop_front();
        }
        auto t0 = std::chrono::steady_clock::now();
        std::string err;
        try {
            write(b);
        } catch (const std::exception& e) {
            err = e.what();
            sqlite3_reset(w_rollback.get());
            sqlite3_step(w_rollback.get()); // fails harmlessly if SQLite already rolled back
            sqlite3_reset(w_rollback.get());
            // Client rows inserted by the rolled-back transaction are gone:
            // resolve every id again on next use.
            std::fill(client_ids.begin(), client_ids.end(), 0);
        }
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::size_t points = b.points.size();
        b.clear();
        {
            std::lock_guard lk(mu);
            ++committed;
            if (err.empty()) {
                ++n_batches;
                n_points += points;
            } else {
                ++n_failed;
                last_error = err;
                error = err;
            }
            last_write = dt;
            max_write = std::max(max_write, dt);
            total_write += dt;
            if (spare.size() < 2)
                spare.push_back(std::move(b));
        }
        done_cv.notify_all();
    }
}

sqlite3_int64 history_store::impl::client_id(std::uint32_t sid)
{
    if (client_ids[sid] != 0)
        return client_ids[sid];
    const std::string& key = wnames[sid];
    sqlite3_bind_text(w_client_insert.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    run(wdb.get(), w_client_insert.get());
    sqlite3_stmt* s = w_client_id.get();
    reset_guard g{s};
    sqlite3_bind_text(s, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW)
        fail(path, fmt::format("looking up client {}", key), wdb.get());
    return client_ids[sid] = sqlite3_column_int64(s, 0);
}

void history_store::impl::write(batch& b)
{
    sqlite3* db = wdb.get();
    for (auto& [sid, key] : b.new_keys) {
        if (sid >= wnames.size()) {
            wnames.resize(sid + 1);
            client_ids.resize(sid + 1, 0);
        }
        wnames[sid] = std::move(key);
    }
    run(db, w_begin.get());

    // Tick rows, and the batch's share of each consolidated bucket.
    buckets.clear();
    double newest = newest_t;
    sqlite3_stmt* ins = w_insert[0].get();
    for (const auto& [sid, p] : b.points) {
        sqlite3_int64 id = client_id(sid);
        sqlite3_bind_int64(ins, 1, id);
        sqlite3_bind_double(ins, 2, p.t);
        sqlite3_bind_double(ins, 3, p.pps);
        sqlite3_bind_double(ins, 4, p.bps);
        sqlite3_bind_double(ins, 5, p.cpu);
        sqlite3_bind_double(ins, 6, p.mbufs);
        run(db, ins);
        newest = std::max(newest, p.t);
        for (std::size_t l = 1; l < history_levels; ++l) {
            double w = width_of(static_cast<history_level>(l));
            bucket_acc& a = buckets[{static_cast<int>(l), std::floor(p.t / w) * w, id}];
            ++a.n;
            a.pps += p.pps;
            a.bps += p.bps;
            a.cpu += p.cpu;
            a.mbufs += p.mbufs;
            a.max_pps = a.n == 1 ? p.pps : std::max<double>(a.max_pps, p.pps);
            a.max_bps = a.n == 1 ? p.bps : std::max<double>(a.max_bps, p.bps);
        }
    }
    for (const auto& [k, a] : buckets) {
        const auto& [l, t, id] = k;
        sqlite3_stmt* s = w_insert[static_cast<std::size_t>(l)].get();
        double n = a.n;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_double(s, 2, t);
        sqlite3_bind_int64(s, 3, a.n);
        sqlite3_bind_double(s, 4, a.pps / n);
        sqlite3_bind_double(s, 5, a.bps / n);
        sqlite3_bind_double(s, 6, a.cpu / n);
        sqlite3_bind_double(s, 7, a.mbufs / n);
        sqlite3_bind_double(s, 8, a.max_pps);
        sqlite3_bind_double(s, 9, a.max_bps);
        run(db, s);
    }

    for (const auto& [sid, p] : b.profiles) {
        sqlite3_stmt* s = w_profile.get();
        sqlite3_bind_int64(s, 1, client_id(sid));
        sqlite3_bind_text(s, 2, p.kind.data(), static_cast<int>(p.kind.size()), SQLITE_STATIC);
        const double v[] = {p.observed_s, p.mean_pps, p.peak_pps, p.p95_pps, p.mean_bps,
                            p.peak_bps,   p.cv,       p.mean_packet_bytes, p.updated};
        for (int i = 0; i < 9; ++i)
            sqlite3_bind_double(s, 3 + i, v[i]);
        run(db, s);
    }

    // Retention, by data time: every level keeps what is newer than the
    // newest sample minus its retention; a bucket goes when its start does.
    if (std::isfinite(newest)) {
        for (std::size_t l = 0; l < history_levels; ++l) {
            sqlite3_bind_double(w_trim[l].get(), 1, newest - opts.retention_s[l]);
            run(db, w_trim[l].get());
        }
    }
    run(db, w_commit.get());
    newest_t = newest; // only once committed: a rolled-back batch did not advance it
}

// ---------------------------------------------------------------- owner

void history_store::impl::hand_over(double now)
{
    last_flush = now;
    if (cur.empty())
        return;
    {
        std::unique_lock lk(mu);
        // Backpressure: a disk that cannot keep up slows the owner instead
        // of growing the queue without bound.
        done_cv.wait(lk, [&] { return queue.size() < std::max<std::size_t>(opts.max_queued_batches, 1); });
        queue.push_back(std::move(cur));
        ++handed;
        if (!spare.empty()) {
            cur = std::move(spare.back()); // emptied, capacity kept: append() stays allocation-free
            spare.pop_back();
        } else {
            cur = batch{};
        }
    }
    work_cv.notify_one();
}

void history_store::impl::throw_pending_error()
{
    std::string e;
    {
        std::lock_guard lk(mu);
        e.swap(error);
    }
    if (!e.empty())
        throw std::runtime_error(fmt::format("history store {}: a batch was not written: {}", path, e));
}

sqlite3_int64 history_store::impl::reader_lookup(const std::string& key) const
{
    sqlite3_stmt* s = r_client.get();
    reset_guard g{s};
    sqlite3_bind_text(s, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return sqlite3_column_int64(s, 0);
    if (rc != SQLITE_DONE)
        fail(path, "looking up a client", rdb.get());
    return 0;
}

// ---------------------------------------------------------------- public

history_store::history_store(std::string dir, history_options opts)
    : d_(std::make_unique<impl>(std::move(dir), opts))
{
}

history_store::~history_store()
{
    try {
        d_->hand_over(wall_now());
    } catch (...) {
        // Destruction never throws; the writer still drains what it has.
    }
}

void history_store::append(const std::string& client_key, const history_point& p)
{
    auto& d = *d_;
    auto [it, fresh] = d.sids.try_emplace(client_key, static_cast<std::uint32_t>(d.names.size()));
    if (fresh) {
        d.names.push_back(client_key);
        d.cur.new_keys.emplace_back(it->second, client_key);
    }
    d.cur.points.push_back({it->second, p});
}

void history_store::save_profile(const std::string& client_key, const stored_profile& p)
{
    auto& d = *d_;
    auto [it, fresh] = d.sids.try_emplace(client_key, static_cast<std::uint32_t>(d.names.size()));
    if (fresh) {
        d.names.push_back(client_key);
        d.cur.new_keys.emplace_back(it->second, client_key);
    }
    d.cur.profiles.emplace_back(it->second, p);
    d.saved[client_key] = p;
}

void history_store::flush(double now)
{
    d_->hand_over(now);
    d_->throw_pending_error();
}

void history_store::flush() { flush(wall_now()); }

bool history_store::flush_due(double now) const noexcept
{
    return now - d_->last_flush >= d_->opts.flush_interval_s;
}

void history_store::sync()
{
    auto& d = *d_;
    d.hand_over(wall_now());
    {
        std::unique_lock lk(d.mu);
        std::uint64_t target = d.handed;
        d.done_cv.wait(lk, [&] { return d.committed >= target; });
    }
    d.throw_pending_error();
}

std::vector<stored_point> history_store::load(const std::string& client_key, history_level l, double since) const
{
    auto& d = *d_;
    std::vector<stored_point> out;
    sqlite3_int64 id = d.reader_lookup(client_key);
    if (id == 0)
        return out;
    sqlite3_stmt* s = d.r_load[static_cast<std::size_t>(l)].get();
    reset_guard g{s};
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_double(s, 2, since);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        out.push_back(read_point(s));
    if (rc != SQLITE_DONE)
        fail(d.path, "loading history", d.rdb.get());
    return out;
}

std::vector<double> history_store::recent_series(const std::string& client_key, history_level l, std::size_t n,
                                                 history_field f) const
{
    auto& d = *d_;
    std::vector<double> out;
    sqlite3_int64 id = d.reader_lookup(client_key);
    if (id == 0 || n == 0)
        return out;
    sqlite3_stmt* s = d.r_recent[static_cast<std::size_t>(l)].get();
    reset_guard g{s};
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(n));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        out.push_back(field_of(read_point(s), f));
    if (rc != SQLITE_DONE)
        fail(d.path, "loading a recent series", d.rdb.get());
    std::reverse(out.begin(), out.end());
    return out;
}

std::optional<stored_profile> history_store::load_profile(const std::string& client_key) const
{
    auto& d = *d_;
    if (auto it = d.saved.find(client_key); it != d.saved.end())
        return it->second;
    sqlite3_int64 id = d.reader_lookup(client_key);
    if (id == 0)
        return std::nullopt;
    sqlite3_stmt* s = d.r_profile.get();
    reset_guard g{s};
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return std::nullopt;
    if (rc != SQLITE_ROW)
        fail(d.path, "loading a profile", d.rdb.get());
    stored_profile p;
    p.kind = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    double* v[] = {&p.observed_s, &p.mean_pps, &p.peak_pps, &p.p95_pps, &p.mean_bps,
                   &p.peak_bps,   &p.cv,       &p.mean_packet_bytes, &p.updated};
    for (int i = 0; i < 9; ++i)
        *v[i] = sqlite3_column_double(s, 1 + i);
    return p;
}

std::vector<std::string> history_store::keys() const
{
    auto& d = *d_;
    std::vector<std::string> out = d.names;
    sqlite3_stmt* s = d.r_keys.get();
    reset_guard g{s};
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_blob(s, 0)),
                         static_cast<std::size_t>(sqlite3_column_bytes(s, 0)));
    if (rc != SQLITE_DONE)
        fail(d.path, "listing clients", d.rdb.get());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

history_stats history_store::stats() const
{
    auto& d = *d_;
    history_stats st;
    auto count = [&](const std::string& table) -> std::uint64_t {
        stmt_ptr s = d.prepare(d.rdb.get(), fmt::format("SELECT count(*) FROM {}", table));
        if (sqlite3_step(s.get()) != SQLITE_ROW)
            fail(d.path, fmt::format("counting {}", table), d.rdb.get());
        return static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    };
    for (std::size_t l = 0; l < history_levels; ++l)
        st.rows[l] = count(tables[l]);
    st.clients = count("clients");
    st.profiles = count("profiles");
    std::error_code ec;
    for (const char* suffix : {"", "-wal"}) {
        auto n = std::filesystem::file_size(d.path + suffix, ec);
        if (!ec)
            st.file_bytes += n;
    }
    std::lock_guard lk(d.mu);
    st.batches = d.n_batches;
    st.points = d.n_points;
    st.failed_batches = d.n_failed;
    st.last_write_s = d.last_write;
    st.max_write_s = d.max_write;
    st.total_write_s = d.total_write;
    st.queued_batches = d.queue.size();
    st.last_error = d.last_error;
    return st;
}

std::string history_store::integrity_check() const
{
    auto& d = *d_;
    stmt_ptr s = d.prepare(d.rdb.get(), "PRAGMA integrity_check");
    std::string out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
        if (!out.empty())
            out += '\n';
        out += reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0));
    }
    if (rc != SQLITE_DONE)
        fail(d.path, "integrity check", d.rdb.get());
    return out;
}

const std::string& history_store::path() const noexcept { return d_->path; }
const history_options& history_store::options() const noexcept { return d_->opts; }

} // namespace shadownet::snm
