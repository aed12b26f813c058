#include "stats.hpp"

namespace nemo::control {

namespace {
struct Info {
    std::string_view name;
    std::string_view help;
};
constexpr Info kInfo[] = {
#define NEMO_COUNTER_INFO(id, name, help) {name, help},
    NEMO_COUNTERS(NEMO_COUNTER_INFO)
#undef NEMO_COUNTER_INFO
};
} // namespace

std::string_view counter_name(Counter c) { return kInfo[static_cast<std::size_t>(c)].name; }
std::string_view counter_help(Counter c) { return kInfo[static_cast<std::size_t>(c)].help; }

Counter Stats::for_status(uint8_t status, uint8_t tunnel, uint8_t invalid_coa)
{
    if (status == tunnel) return Counter::status_tunnel;
    if (status == invalid_coa) return Counter::status_invalid_coa;
    switch (status) {
    case 128: return Counter::status_128;
    case 129: return Counter::status_129;
    case 130: return Counter::status_130;
    case 131: return Counter::status_131;
    case 132: return Counter::status_132;
    case 133: return Counter::status_133;
    case 134: return Counter::status_134;
    case 135: return Counter::status_135;
    case 139: return Counter::status_139;
    case 140: return Counter::status_140;
    case 141: return Counter::status_141;
    case 142: return Counter::status_142;
    case 143: return Counter::status_143;
    default: return Counter::status_other;
    }
}

} // namespace nemo::control
