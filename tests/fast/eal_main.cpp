// main() for the `fast` suite binaries: one EAL per binary, brought up by a
// gtest Environment before the first test and torn down after the last, with a
// unique file prefix whose runtime directory is removed at the end.
//
// Each binary says how many lcores it wants through SHADOWNET_TEST_LCORES
// (a compile definition), so that single-lcore behaviour is tested too.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <gtest/gtest.h>

#include "shadownet/core/config.hpp"
#include "shadownet/dpdk/eal.hpp"

#ifndef SHADOWNET_TEST_LCORES
#define SHADOWNET_TEST_LCORES 2
#endif

namespace {

class eal_environment : public ::testing::Environment {
public:
    void SetUp() override
    {
        auto args = shadownet::embedded_eal_args("shadownet-fast-test", shadownet::dpdk::allowed_cpus(),
                                                 shadownet::dpdk::unique_file_prefix("shadownet-test"),
                                                 SHADOWNET_TEST_LCORES);
        // More lcores than CPUs share the last CPU: slow, but enough to test
        // roles that need several lcores (pipeline) on a small machine.
        const auto cpus = shadownet::dpdk::allowed_cpus();
        std::vector<std::string> map;
        for (unsigned i = 0; i < SHADOWNET_TEST_LCORES; ++i)
            map.push_back(fmt::format("{}@{}", i, cpus[std::min<std::size_t>(i, cpus.size() - 1)]));
        const auto lcores = std::find(args.begin(), args.end(), "--lcores");
        if (lcores != args.end())
            *(lcores + 1) = fmt::format("{}", fmt::join(map, ","));
        eal_ = std::make_unique<shadownet::dpdk::eal_guard>(args, true);
    }
    void TearDown() override { eal_.reset(); }

private:
    std::unique_ptr<shadownet::dpdk::eal_guard> eal_;
};

} // namespace

int main(int argc, char** argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new eal_environment);
    return RUN_ALL_TESTS();
}
