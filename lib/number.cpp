#include "number.hpp"

#include <charconv>

namespace nemo {

std::variant<uint64_t, std::string> read_number(std::string_view text, uint64_t lo, uint64_t hi)
{
    std::string_view digits = text;
    int base = 10;
    if (digits.starts_with("0x") || digits.starts_with("0X")) {
        digits.remove_prefix(2);
        base = 16;
    }
    // from_chars alone would take a leading '-' for unsigned types on some libraries and stop at the
    // first non-digit; both are refused here by asking for every character to be a digit.
    auto is_digit = [base](char c) {
        return (c >= '0' && c <= '9') || (base == 16 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
    };
    bool all_digits = !digits.empty();
    for (char c : digits) all_digits = all_digits && is_digit(c);
    const std::string range = " (" + std::to_string(lo) + " to " + std::to_string(hi) + ")";
    // No 64-bit number takes more than 20 characters (0x and 16 digits, or 20 decimal ones). Longer text is
    // not echoed: on the command line it may be a key typed in the wrong place.
    const std::string shown = text.size() <= 20 ? "'" + std::string(text) + "'"
                                                : "a word of " + std::to_string(text.size()) + " characters";
    if (!all_digits) return shown + " is not a number (decimal, or hexadecimal after 0x)";
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
    if (ec != std::errc{} && ec != std::errc::result_out_of_range)
        return shown + " is not a number (decimal, or hexadecimal after 0x)";
    if (ec == std::errc::result_out_of_range || end != digits.data() + digits.size() || v < lo || v > hi)
        return shown + " is out of range" + range;
    return v;
}

} // namespace nemo
