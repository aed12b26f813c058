// The one way a number is read from an operator: the command line, the CLI and the configuration all
// come here, so `del sa 010` and `spi = 010` mean the same thing (ten).
//
// Decimal, or hexadecimal after 0x (or 0X). Never octal: leading zeros are decimal. No sign, no blanks,
// no suffix. The value must lie in [lo, hi]; overflow is out of range, never a wrapped value.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

namespace nemo {

// The value, or an error that quotes the text and says what was expected.
std::variant<uint64_t, std::string> read_number(std::string_view text, uint64_t lo = 0,
                                                uint64_t hi = std::numeric_limits<uint64_t>::max());

// For callers that write their own message: true and *out set, or false and *out untouched.
template <std::unsigned_integral T>
bool parse_number(std::string_view text, T& out, T lo = 0, T hi = std::numeric_limits<T>::max())
{
    const auto r = read_number(text, lo, hi);
    if (!std::holds_alternative<uint64_t>(r)) return false;
    out = static_cast<T>(std::get<uint64_t>(r));
    return true;
}

} // namespace nemo
