#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "shadownet/core/error.hpp"
#include "shadownet/core/plan.hpp"

using namespace shadownet;

namespace {

std::string error_of(const app_config& cfg, std::vector<std::uint16_t> ports, unsigned main_lcore,
                     std::vector<unsigned> workers)
{
    try {
        make_forwarding_plan(cfg, ports, main_lcore, workers);
    } catch (const config_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no config_error";
    return {};
}

// Every (port, queue) is polled by exactly one lcore.
void expect_every_queue_once(const forwarding_plan& plan)
{
    std::multiset<std::pair<std::uint16_t, std::uint16_t>> seen;
    for (const auto& l : plan.rx_by_lcore)
        for (const auto& q : l)
            seen.insert({q.port, q.queue});
    EXPECT_EQ(seen.size(), plan.rx_ports.size() * plan.rxq);
    for (const auto p : plan.rx_ports)
        for (std::uint16_t q = 0; q < plan.rxq; ++q)
            EXPECT_EQ(seen.count({p, q}), 1U) << "port " << p << " queue " << q;
}

} // namespace

TEST(plan, one_lcore_means_the_main_lcore_forwards)
{
    const std::vector<std::uint16_t> ports{0, 1};
    const auto plan = make_forwarding_plan({}, ports, 0, {});
    EXPECT_TRUE(plan.main_forwards);
    EXPECT_EQ(plan.fwd_lcores, (std::vector<unsigned>{0}));
    EXPECT_EQ(plan.txq, 1);
    EXPECT_EQ(plan.rxq, 1);
    expect_every_queue_once(plan);
}

TEST(plan, two_lcores_one_forwarder_polls_every_port)
{
    const std::vector<std::uint16_t> ports{0, 1};
    const std::vector<unsigned> workers{1};
    const auto plan = make_forwarding_plan({}, ports, 0, workers);
    EXPECT_FALSE(plan.main_forwards);
    EXPECT_EQ(plan.fwd_lcores, (std::vector<unsigned>{1}));
    ASSERT_EQ(plan.rx_by_lcore.size(), 1U);
    EXPECT_EQ(plan.rx_by_lcore[0].size(), 2U);
    EXPECT_EQ(plan.peer_of(0), 1);
    EXPECT_EQ(plan.peer_of(1), 0);
}

TEST(plan, more_lcores_than_ports_get_more_rx_queues_and_own_tx_queues)
{
    const std::vector<std::uint16_t> ports{0, 1};
    const std::vector<unsigned> workers{1, 2, 3, 4, 5};
    app_config cfg;
    cfg.shadow_txq = 2;
    const auto plan = make_forwarding_plan(cfg, ports, 0, workers);
    EXPECT_EQ(plan.txq, 5);
    EXPECT_EQ(plan.shadow_txq(), 10); // 2 per transmitting lcore
    EXPECT_EQ(plan.rxq, 3);           // ceil(5 lcores / 2 ports)
    for (const auto& l : plan.rx_by_lcore)
        EXPECT_FALSE(l.empty());
    // No TX queue is owned by two lcores, and all fit in the port's queues.
    std::set<std::uint16_t> txqs;
    for (std::size_t i = 0; i < plan.tx_lcores.size(); ++i) {
        EXPECT_TRUE(txqs.insert(plan.primary_txq_of(i)).second);
        for (std::uint16_t k = 0; k < plan.shadow_per_lcore; ++k)
            EXPECT_TRUE(txqs.insert(static_cast<std::uint16_t>(plan.shadow_txq_base_of(i) + k)).second);
    }
    EXPECT_EQ(txqs.size(), 15U);
    EXPECT_EQ(*txqs.rbegin(), plan.txq + plan.shadow_txq() - 1);
    expect_every_queue_once(plan);
    const auto counts = planned_queue_counts(cfg, 2, 0, workers);
    EXPECT_EQ(counts.rxq, plan.rxq);
    EXPECT_EQ(counts.txq, plan.txq);
    EXPECT_EQ(counts.shadow_txq, plan.shadow_txq());
}

TEST(plan, default_pairs_are_consecutive_and_odd_counts_need_pairs)
{
    const std::vector<std::uint16_t> four{0, 1, 2, 3};
    const auto plan = make_forwarding_plan({}, four, 0, {});
    EXPECT_EQ(plan.pairs, (std::vector<port_pair>{{0, 1}, {2, 3}}));
    const std::vector<std::uint16_t> three{0, 1, 2};
    EXPECT_NE(error_of({}, three, 0, {}).find("--port-pairs"), std::string::npos);
    app_config cfg;
    cfg.port_pairs = {{0, 1}, {2, 2}};
    const auto self = make_forwarding_plan(cfg, three, 0, {});
    EXPECT_EQ(self.peer_of(2), 2);
}

TEST(plan, port_selection_errors)
{
    EXPECT_NE(error_of({}, {}, 0, {}).find("no ports"), std::string::npos);
    app_config cfg;
    cfg.ports = std::vector<std::uint16_t>{0, 7};
    EXPECT_NE(error_of(cfg, {0, 1}, 0, {}).find("port 7 does not exist"), std::string::npos);
    app_config pairs;
    pairs.port_pairs = {{0, 4}};
    EXPECT_NE(error_of(pairs, {0, 1}, 0, {}).find("not an appliance port"), std::string::npos);
    app_config unpaired;
    unpaired.port_pairs = {{0, 0}};
    EXPECT_NE(error_of(unpaired, {0, 1}, 0, {}).find("port 1 is not in any pair"), std::string::npos);
    EXPECT_NE(error_of({}, {0, 40}, 0, {}).find("at most"), std::string::npos);
}

TEST(plan, forwarding_lcores_must_be_eal_workers)
{
    app_config cfg;
    cfg.fwd_lcores = {3};
    EXPECT_NE(error_of(cfg, {0, 1}, 0, {1, 2}).find("lcore 3 is not enabled"), std::string::npos);
    cfg.fwd_lcores = {0};
    EXPECT_NE(error_of(cfg, {0, 1}, 0, {1, 2}).find("main (control) lcore"), std::string::npos);
    cfg.fwd_lcores = {2};
    const std::vector<std::uint16_t> ports{0, 1};
    const std::vector<unsigned> workers{1, 2};
    const auto plan = make_forwarding_plan(cfg, ports, 0, workers);
    EXPECT_EQ(plan.fwd_lcores, (std::vector<unsigned>{2}));
}

TEST(plan, pipeline_splits_forwarding_lcores_into_rx_and_workers)
{
    app_config cfg;
    cfg.mode = forwarding_mode::pipeline;
    const std::vector<std::uint16_t> ports{0, 1};
    const std::vector<unsigned> workers{1, 2, 3, 4};
    const auto plan = make_forwarding_plan(cfg, ports, 0, workers);
    EXPECT_EQ(plan.rx_lcores, (std::vector<unsigned>{1, 2}));
    EXPECT_EQ(plan.tx_lcores, (std::vector<unsigned>{3, 4}));
    EXPECT_EQ(plan.txq, 2); // only workers transmit
    EXPECT_EQ(plan.rxq, 1);
    expect_every_queue_once(plan);

    cfg.rx_lcores = {4};
    const auto chosen = make_forwarding_plan(cfg, ports, 0, workers);
    EXPECT_EQ(chosen.rx_lcores, (std::vector<unsigned>{4}));
    EXPECT_EQ(chosen.tx_lcores, (std::vector<unsigned>{1, 2, 3}));

    cfg.rx_lcores = {1, 2, 3, 4};
    EXPECT_NE(error_of(cfg, {0, 1}, 0, {1, 2, 3, 4}).find("no worker lcore"), std::string::npos);
    cfg.rx_lcores = {9};
    EXPECT_NE(error_of(cfg, {0, 1}, 0, {1, 2, 3, 4}).find("lcore 9 is not a forwarding lcore"), std::string::npos);
    cfg.rx_lcores.clear();
    EXPECT_NE(error_of(cfg, {0, 1}, 0, {1}).find("at least 2 forwarding lcores"), std::string::npos);
}

TEST(plan, shadow_ports_transmit_but_are_not_polled_or_paired)
{
    app_config cfg;
    cfg.shadow_ports = {{1, 3}, {0, 2}};
    const std::vector<std::uint16_t> ports{0, 1, 2, 3};
    const auto plan = make_forwarding_plan(cfg, ports, 0, {});
    EXPECT_EQ(plan.rx_ports, (std::vector<std::uint16_t>{0, 1}));
    EXPECT_EQ(plan.pairs, (std::vector<port_pair>{{0, 1}}));
    EXPECT_EQ(plan.peer_of(0), 1);
    EXPECT_EQ(plan.shadow_peer_of(0), 3); // leaves on 1 normally, on 3 via the shadow
    EXPECT_EQ(plan.shadow_peer_of(1), 2);
    expect_every_queue_once(plan); // only the polled ports have RX assignments
    app_config bad;
    bad.shadow_ports = {{0, 7}};
    EXPECT_NE(error_of(bad, {0, 1}, 0, {}).find("port 7 is not an appliance port"), std::string::npos);
    app_config chained;
    chained.shadow_ports = {{0, 2}, {2, 3}};
    EXPECT_NE(error_of(chained, {0, 1, 2, 3}, 0, {}).find("shadow port and cannot have one"), std::string::npos);
}
