#include "capture.hpp"

#include <rte_errno.h>
#include <rte_pdump.h>

#include <cstdio>
#include "log.hpp"

namespace nemo::dp {

bool Capture::start(control::CaptureMode mode, const std::vector<std::string>& eal_args, std::string* err)
{
    if (mode == control::CaptureMode::off) {
        log::printf(log::Level::info, "nemo-ha: capture: off (capture.enabled = no)");
        return true;
    }
    if (auto why = control::capture_unavailable(eal_args)) {
        // With yes, the configuration check refused this already; auto says why there is no capture.
        log::printf(log::Level::info, "nemo-ha: capture: unavailable: %s", why->c_str());
        return true;
    }
    if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
        const char* why = "nemo-ha is not EAL's primary process (--proc-type), and dumpcap attaches to the primary";
        if (mode == control::CaptureMode::on) {
            *err = std::string("capture.enabled = yes, but ") + why;
            return false;
        }
        log::printf(log::Level::info, "nemo-ha: capture: unavailable: %s", why);
        return true;
    }
    if (rte_pdump_init() != 0) {
        *err = std::string("capture: rte_pdump_init failed: ") + rte_strerror(rte_errno);
        return false;
    }
    running_ = true;
    const std::string prefix = control::eal_file_prefix(eal_args);
    log::printf(log::Level::info, "nemo-ha: capture: ready (dpdk-dumpcap%s%s -i PORT)", prefix.empty() ? "" : " --file-prefix=",
                prefix.c_str());
    return true;
}

void Capture::stop()
{
    if (!running_) return;
    running_ = false;
    rte_pdump_uninit();
}

} // namespace nemo::dp
