// DPDK's own log (EAL, drivers, libraries) through nemo-ha's (control/log.hpp): one line per message
// with the severity DPDK gave it, to the same target. Set up before rte_eal_init, so that EAL's first
// messages already go there (rte_openlog_stream only records the stream; EAL's own default, stdout and
// syslog, is used only while none is set).
#pragma once

#include "log.hpp"

namespace nemo::dp {

// DPDK's rte_log level (RTE_LOG_EMERG 1 .. RTE_LOG_DEBUG 8; anything else: info) as a syslog level.
log::Level dpdk_level(int rte_level);

// Points DPDK's log stream at the logger. False when the stream cannot be made (DPDK keeps its own).
bool route_dpdk_log();

} // namespace nemo::dp
