// EAL for the control-plane benchmarks: the arguments from NEMO_EAL_ARGS (default --no-huge, one lcore),
// split on spaces, with EAL's own log kept to errors.
#pragma once

#include <rte_eal.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace nemo::bench {

inline bool init_eal_from_env(const char* program)
{
    std::vector<std::string> args = {program};
    const char* env = std::getenv("NEMO_EAL_ARGS");
    std::string spec = env ? env : "--no-huge -m 4096 --no-pci --no-shconf -l 0";
    spec += " --log-level=lib.eal:error";
    for (std::size_t i = 0; i < spec.size();) {
        const auto j = spec.find(' ', i);
        const std::string w = spec.substr(i, j == std::string::npos ? std::string::npos : j - i);
        if (!w.empty()) args.push_back(w);
        if (j == std::string::npos) break;
        i = j + 1;
    }
    std::vector<char*> eal;
    for (auto& a : args) eal.push_back(a.data());
    return rte_eal_init(static_cast<int>(eal.size()), eal.data()) >= 0;
}

} // namespace nemo::bench
