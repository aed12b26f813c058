// Packet capture of nemo-ha's ports by dpdk-dumpcap / dpdk-pdump: the capture framework (librte_pdump)
// in the daemon, which those tools, DPDK secondary processes, ask over EAL's multi-process channel to
// copy a port's packets to them. It needs EAL's shared configuration (control::capture_unavailable
// says which EAL arguments take it away).
#pragma once

#include <string>
#include <vector>

#include "config.hpp"

namespace nemo::dp {

class Capture {
public:
    // After rte_eal_init. Initialises the framework when `mode` and the EAL arguments allow it (auto:
    // when they do; yes: the configuration check has made sure they do), and says which on stdout.
    // False (with `err`) only when the framework is wanted and cannot start.
    bool start(control::CaptureMode mode, const std::vector<std::string>& eal_args, std::string* err);
    // Unregisters from EAL's channel (ends captures in progress); before rte_eal_cleanup.
    void stop();
    ~Capture() { stop(); }
    bool running() const { return running_; }

private:
    bool running_ = false;
};

} // namespace nemo::dp
