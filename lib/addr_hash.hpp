// Hashes for address types in standard unordered containers.
#pragma once

#include <cstdint>
#include <cstring>

#include "addr.hpp"

namespace nemo {

struct Ipv6Hash {
    std::size_t operator()(const Ipv6Addr& a) const noexcept
    {
        uint64_t w[2];
        std::memcpy(w, a.bytes.data(), 16);
        uint64_t h = w[0] * 0x9E3779B97F4A7C15ull ^ (w[1] + 0x632BE59BD9B4E019ull);
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        return static_cast<std::size_t>(h ^ (h >> 32));
    }
};

} // namespace nemo
