#include "dp_counters.hpp"

namespace nemo::dp {

namespace {
struct Info {
    const char* name;
    const char* help;
};
constexpr Info kInfo[] = {
#define NEMO_DP_INFO(id, help) {#id, help},
    NEMO_DP_COUNTERS(NEMO_DP_INFO)
#undef NEMO_DP_INFO
};
} // namespace

const char* dp_counter_name(DpCounter c) { return kInfo[static_cast<std::size_t>(c)].name; }

} // namespace nemo::dp
