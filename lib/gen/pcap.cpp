// Reads a capture for pcap replay groups, once, in the control plane.
#include <pcap/pcap.h>

#include <algorithm>
#include <array>
#include <memory>

#include <fmt/format.h>

#include "shadownet/core/error.hpp"
#include "shadownet/gen/scenario.hpp"

namespace shadownet::gen {

std::shared_ptr<const pcap_trace> read_pcap(const std::string& path, std::size_t max_bytes)
{
    std::array<char, PCAP_ERRBUF_SIZE> err{};
    const std::unique_ptr<pcap_t, decltype(&pcap_close)> in(pcap_open_offline(path.c_str(), err.data()), &pcap_close);
    if (!in)
        throw config_error(fmt::format("pcap '{}': cannot open: {}", path, err.data()));
    if (pcap_datalink(in.get()) != DLT_EN10MB)
        throw config_error(fmt::format("pcap '{}': link type {} is not Ethernet", path, pcap_datalink(in.get())));
    auto out = std::make_shared<pcap_trace>();
    out->path = path;
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    double first = -1;
    int rc = 0;
    while ((rc = pcap_next_ex(in.get(), &h, &data)) == 1) {
        const double t = static_cast<double>(h->ts.tv_sec) + static_cast<double>(h->ts.tv_usec) * 1e-6;
        if (first < 0)
            first = t;
        if (h->caplen > max_bytes)
            throw config_error(fmt::format("pcap '{}': frame {} has {} bytes, more than an mbuf holds ({})", path,
                                           out->frames.size() + 1, h->caplen, max_bytes));
        // Timestamps that go backwards (merged captures) keep the frame order, at the previous time.
        const double rel = std::max(t - first, out->frames.empty() ? 0.0 : out->frames.back().t);
        out->frames.push_back({std::vector<std::uint8_t>(data, data + h->caplen), rel});
    }
    if (rc == PCAP_ERROR)
        throw config_error(fmt::format("pcap '{}': {}", path, pcap_geterr(in.get())));
    if (out->frames.empty())
        throw config_error(fmt::format("pcap '{}': no frames", path));
    const auto n = out->frames.size();
    const double last = out->frames.back().t;
    out->span = n > 1 ? last + last / static_cast<double>(n - 1) : 0;
    return out;
}

} // namespace shadownet::gen
