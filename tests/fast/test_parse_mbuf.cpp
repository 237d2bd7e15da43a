// The parser on real multi-segment mbufs from a pktmbuf pool (the unit suite
// builds mbufs by hand; this checks that real chains, built with DPDK's own
// append/chain calls, are read the same way). Every reference frame
// (tests/unit/data/parse_frames.txt) is cut into segments of 1, 7 and 64 bytes
// and must parse exactly as its contiguous bytes do; no mbuf is leaked.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "shadownet/dataplane/parse.hpp"
#include "shadownet/dpdk/mempool.hpp"

using namespace shadownet::dataplane;

namespace {

std::vector<std::vector<std::uint8_t>> reference_frames()
{
    std::string root;
    if (const char* r = std::getenv("SHADOWNET_SOURCE_ROOT"))
        root = r;
    std::ifstream in(root + "/tests/unit/data/parse_frames.txt");
    std::vector<std::vector<std::uint8_t>> out;
    std::string line;
    while (std::getline(in, line)) {
        const std::string hex = line.substr(line.rfind(' ') + 1);
        std::vector<std::uint8_t> f;
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
            f.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
        out.push_back(std::move(f));
    }
    return out;
}

// A chain of `seg`-byte segments holding `f`, or nullptr if the pool ran dry.
rte_mbuf* chain_of(rte_mempool* pool, const std::vector<std::uint8_t>& f, std::size_t seg)
{
    rte_mbuf* head = nullptr;
    for (std::size_t at = 0; at < f.size(); at += seg) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (m == nullptr) {
            rte_pktmbuf_free(head);
            return nullptr;
        }
        const std::size_t n = std::min(seg, f.size() - at);
        auto* p = rte_pktmbuf_append(m, static_cast<std::uint16_t>(n));
        EXPECT_NE(p, nullptr);
        std::memcpy(p, f.data() + at, n);
        if (head == nullptr) {
            head = m;
        } else if (rte_pktmbuf_chain(head, m) != 0) {
            rte_pktmbuf_free(m);
            rte_pktmbuf_free(head);
            return nullptr;
        }
    }
    return head;
}

} // namespace

TEST(parse_mbuf_real, segmented_chains_parse_as_contiguous_frames)
{
    // 64 bytes of data room per mbuf: a 64-byte segment is a full mbuf.
    auto pool = shadownet::dpdk::mempool::pktmbuf("t_parse_pool", 4095, 0, static_cast<int>(rte_socket_id()),
                                                 RTE_PKTMBUF_HEADROOM + 64);
    const auto frames = reference_frames();
    ASSERT_GE(frames.size(), 19u) << "tests/unit/data/parse_frames.txt missing (SHADOWNET_SOURCE_ROOT set?)";
    int multi = 0;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const auto& f = frames[i];
        packet_meta expect{};
        const parse_status s = parse_frame(f.data(), static_cast<std::uint32_t>(f.size()), expect);
        EXPECT_EQ(s, parse_ok) << "frame " << i;
        for (std::size_t seg : {1u, 7u, 64u}) {
            rte_mbuf* m = chain_of(pool.get(), f, seg);
            ASSERT_NE(m, nullptr) << "frame " << i << ", " << seg << "-byte segments";
            ASSERT_EQ(rte_pktmbuf_pkt_len(m), f.size());
            multi += m->nb_segs > 1;
            packet_meta got{};
            EXPECT_EQ(parse_mbuf(m, got), s) << "frame " << i << ", " << seg << "-byte segments";
            EXPECT_TRUE(got == expect) << "frame " << i << ", " << seg << "-byte segments";
            rte_pktmbuf_free(m);
        }
    }
    EXPECT_GT(multi, 0);
    EXPECT_EQ(pool.in_use(), 0u);
}
