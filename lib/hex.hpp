// Hexadecimal byte strings, as operators write keys and as the scapy fixtures store packets.
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>
#include <vector>

namespace nemo {

// "0a1b..." (an optional "0x" first) into bytes. False, with `out` unspecified, for an odd count of
// digits, an empty string or a character that is not a hexadecimal digit.
template <class Alloc>
bool parse_hex(std::string_view s, std::vector<uint8_t, Alloc>& out)
{
    if (s.starts_with("0x")) s.remove_prefix(2);
    if (s.empty() || s.size() % 2) return false;
    out.clear();
    out.reserve(s.size() / 2);
    for (std::size_t i = 0; i < s.size(); i += 2) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(s.data() + i, s.data() + i + 2, v, 16);
        if (ec != std::errc{} || p != s.data() + i + 2) return false;
        out.push_back(static_cast<uint8_t>(v));
    }
    return true;
}

} // namespace nemo
