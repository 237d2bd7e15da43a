// Parser kernel benchmark: ns and TSC cycles per packet for a burst of 32
// mbufs (parse_burst, the fast path's entry point), per traffic case, against
// DPDK's own software packet-type parser (rte_net_get_ptype with
// RTE_PTYPE_ALL_MASK) on the same mbufs in the same run. The peer reads the
// same headers but checks no lengths and fills no addresses or ports, so it is
// a floor, not a competitor; the ratio is what our validation costs.
//
// No EAL: the mbufs are built by hand over local buffers (one 2 KiB buffer per
// mbuf, 128 bytes of headroom), which is all parse_mbuf and rte_net_get_ptype
// read. Run: build/bench/kernels/bench_parse [--benchmark_repetitions=5 ...]
// It prints Google Benchmark's table, then a summary with the ratios.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_net.h>

#include "shadownet/dataplane/parse.hpp"

namespace sd = shadownet::dataplane;

namespace {

constexpr std::size_t burst = 32;
constexpr std::uint16_t headroom = RTE_PKTMBUF_HEADROOM;

using bytes = std::vector<std::uint8_t>;

void add(bytes& b, std::initializer_list<int> v)
{
    for (int x : v)
        b.push_back(static_cast<std::uint8_t>(x));
}
void add16(bytes& b, unsigned v) { add(b, {static_cast<int>(v >> 8 & 0xff), static_cast<int>(v & 0xff)}); }

bytes ether(unsigned type, int vlan = -1)
{
    bytes b;
    add(b, {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1});
    if (vlan >= 0) {
        add16(b, 0x8100);
        add16(b, static_cast<unsigned>(vlan));
    }
    add16(b, type);
    return b;
}
void ipv4(bytes& b, int proto, unsigned l4_bytes)
{
    add(b, {0x45, 0});
    add16(b, 20 + l4_bytes);
    add(b, {0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2});
}
void ipv6(bytes& b, int next, unsigned payload)
{
    add(b, {0x60, 0, 0, 0});
    add16(b, payload);
    add(b, {next, 64});
    for (int i = 0; i < 32; ++i)
        b.push_back(static_cast<std::uint8_t>(i));
}
void udp(bytes& b, unsigned payload)
{
    add(b, {0x30, 0x39, 0x00, 0x35});
    add16(b, 8 + payload);
    add(b, {0, 0});
    b.insert(b.end(), payload, 0xab);
}
void tcp(bytes& b, unsigned payload)
{
    add(b, {0xc3, 0x50, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0x20, 0, 0, 0, 0, 0});
    b.insert(b.end(), payload, 0xab);
}
void pad60(bytes& b)
{
    if (b.size() < 60)
        b.resize(60, 0);
}

bytes ipv4_udp()
{
    bytes b = ether(0x0800);
    ipv4(b, 17, 8 + 18);
    udp(b, 18);
    return b; // 60 bytes: a 64-byte frame on the wire
}
bytes ipv4_tcp()
{
    bytes b = ether(0x0800);
    ipv4(b, 6, 20 + 6);
    tcp(b, 6);
    return b;
}
bytes vlan_ipv4_udp()
{
    bytes b = ether(0x0800, 100);
    ipv4(b, 17, 8 + 18);
    udp(b, 18);
    return b;
}
bytes ipv6_tcp()
{
    bytes b = ether(0x86dd);
    ipv6(b, 6, 20 + 14);
    tcp(b, 14);
    return b;
}
bytes ipv6_2ext_udp() // hop-by-hop (8) + destination options (16) + UDP
{
    bytes b = ether(0x86dd);
    ipv6(b, 0, 8 + 16 + 8 + 14);
    add(b, {60, 0, 1, 4, 0, 0, 0, 0});
    add(b, {17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    udp(b, 14);
    pad60(b);
    return b;
}

// 32 mbufs over local buffers, holding `frames` in turn.
struct mbuf_burst {
    struct alignas(RTE_CACHE_LINE_SIZE) buffer {
        std::uint8_t b[2048];
    };
    std::unique_ptr<rte_mbuf[]> mbufs = std::make_unique<rte_mbuf[]>(burst);
    std::unique_ptr<buffer[]> bufs = std::make_unique<buffer[]>(burst);
    rte_mbuf* pkts[burst];

    explicit mbuf_burst(const std::vector<bytes>& frames)
    {
        for (std::size_t i = 0; i < burst; ++i) {
            const bytes& f = frames[i % frames.size()];
            rte_mbuf& m = mbufs[i];
            std::memset(&m, 0, sizeof m);
            std::memcpy(bufs[i].b + headroom, f.data(), f.size());
            m.buf_addr = bufs[i].b;
            m.buf_len = sizeof bufs[i].b;
            m.data_off = headroom;
            m.data_len = static_cast<std::uint16_t>(f.size());
            m.pkt_len = static_cast<std::uint32_t>(f.size());
            m.nb_segs = 1;
            pkts[i] = &m;
        }
    }
};

std::vector<bytes> frames_of(const std::string& name)
{
    if (name == "ipv4_udp")
        return {ipv4_udp()};
    if (name == "ipv4_tcp")
        return {ipv4_tcp()};
    if (name == "vlan_ipv4_udp")
        return {vlan_ipv4_udp()};
    if (name == "ipv6_tcp")
        return {ipv6_tcp()};
    if (name == "ipv6_2ext_udp")
        return {ipv6_2ext_udp()};
    // mixed: the five cases in a fixed pseudo-random order over the burst, so
    // that the branch predictor sees a 32-packet pattern rather than one case.
    std::vector<bytes> all = {ipv4_udp(), ipv4_tcp(), vlan_ipv4_udp(), ipv6_tcp(), ipv6_2ext_udp()};
    std::vector<bytes> mixed;
    std::mt19937 rng(42);
    for (std::size_t i = 0; i < burst; ++i)
        mixed.push_back(all[rng() % all.size()]);
    return mixed;
}

// Per packet, from CPU time (not wall time: the machine is shared, and a
// preempted thread would be charged for someone else's work).
void set_per_packet(benchmark::State& state)
{
    const double packets = static_cast<double>(state.iterations()) * burst;
    state.SetItemsProcessed(static_cast<std::int64_t>(packets));
    state.counters["ns_per_pkt"] =
        benchmark::Counter(packets, benchmark::Counter::kIsRate | benchmark::Counter::kInvert); // seconds per packet
}

// TSC ticks per nanosecond, measured against the steady clock (without EAL
// there is no rte_get_tsc_hz): cycles per packet = ns per packet * this.
double tsc_per_ns()
{
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t c0 = rte_rdtsc();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(100)) {
    }
    const std::uint64_t c1 = rte_rdtsc();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
    return static_cast<double>(c1 - c0) / static_cast<double>(ns.count());
}

void bm_parse(benchmark::State& state, const std::string& name)
{
    mbuf_burst b(frames_of(name));
    alignas(RTE_CACHE_LINE_SIZE) sd::packet_meta meta[burst];
    sd::parse_status status[burst];
    // Every frame must parse, or the benchmark measures the error path.
    sd::parse_burst(b.pkts, meta, status);
    if (std::any_of(status, status + burst, [](auto s) { return s != sd::parse_ok; })) {
        state.SkipWithError("a benchmark frame does not parse");
        return;
    }
    for (auto _ : state) {
        sd::parse_burst(b.pkts, meta, status);
        benchmark::DoNotOptimize(meta);
        benchmark::DoNotOptimize(status);
        benchmark::ClobberMemory();
    }
    set_per_packet(state);
}

void bm_ptype(benchmark::State& state, const std::string& name)
{
    mbuf_burst b(frames_of(name));
    std::uint32_t ptype[burst];
    rte_net_hdr_lens lens[burst];
    for (auto _ : state) {
        for (std::size_t i = 0; i < burst; ++i)
            ptype[i] = rte_net_get_ptype(b.pkts[i], &lens[i], RTE_PTYPE_ALL_MASK);
        benchmark::DoNotOptimize(ptype);
        benchmark::DoNotOptimize(lens);
        benchmark::ClobberMemory();
    }
    set_per_packet(state);
}

// Google Benchmark's console table, then one line per case: ours, the peer's, the ratio.
class summary_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override
    {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) {
            if (r.error_occurred)
                continue;
            const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
            const bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
            if (!median && !single)
                continue;
            const auto ns = r.counters.find("ns_per_pkt");
            if (ns != r.counters.end())
                results[r.run_name.function_name] = ns->second.value * 1e9;
        }
    }
    std::map<std::string, double> results; // ns per packet by benchmark name
};

const char* const cases[] = {"ipv4_udp", "ipv4_tcp", "vlan_ipv4_udp", "ipv6_tcp", "ipv6_2ext_udp", "mixed"};

} // namespace

int main(int argc, char** argv)
{
    for (const char* c : cases) {
        benchmark::RegisterBenchmark((std::string("parse/") + c).c_str(), bm_parse, std::string(c));
        benchmark::RegisterBenchmark((std::string("ptype/") + c).c_str(), bm_ptype, std::string(c));
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    const double tsc = tsc_per_ns();
    summary_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();

    std::printf("\n%-16s %12s %12s %12s %12s %8s\n", "case (burst 32)", "parse ns/pkt", "parse cyc/pkt",
                "ptype ns/pkt", "ptype cyc/pkt", "ratio");
    for (const char* c : cases) {
        const auto p = reporter.results.find(std::string("parse/") + c);
        const auto t = reporter.results.find(std::string("ptype/") + c);
        if (p == reporter.results.end() || t == reporter.results.end())
            continue;
        std::printf("%-16s %12.2f %12.1f %12.2f %12.1f %7.2fx\n", c, p->second, p->second * tsc, t->second,
                    t->second * tsc, p->second / t->second);
    }
    std::printf("(median of the repetitions when --benchmark_repetitions is given; TSC %.3f GHz; "
                "ratio = parse / ptype)\n", tsc);
    return 0;
}
