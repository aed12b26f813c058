// One number syntax for the command line, the CLI and the configuration (issue 10: `del sa 010` read
// octal in the CLI while the configuration read it as decimal).
#include <gtest/gtest.h>

#include "number.hpp"

using namespace nemo;

namespace {
std::string error_of(std::string_view s, uint64_t lo = 0, uint64_t hi = UINT64_MAX)
{
    auto r = read_number(s, lo, hi);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}
uint64_t value_of(std::string_view s)
{
    auto r = read_number(s);
    EXPECT_TRUE(std::holds_alternative<uint64_t>(r)) << s << ": " << std::get<std::string>(r);
    return std::holds_alternative<uint64_t>(r) ? std::get<uint64_t>(r) : ~0ull;
}
} // namespace

TEST(Number, DecimalAndHexAfter0x)
{
    EXPECT_EQ(value_of("0"), 0u);
    EXPECT_EQ(value_of("4191"), 4191u);
    EXPECT_EQ(value_of("0x1001"), 0x1001u);
    EXPECT_EQ(value_of("0X1001"), 0x1001u);
    EXPECT_EQ(value_of("0xCafe"), 0xcafeu);
    EXPECT_EQ(value_of("18446744073709551615"), UINT64_MAX);
    EXPECT_EQ(value_of("0xffffffffffffffff"), UINT64_MAX);
}

TEST(Number, LeadingZerosAreDecimalNeverOctal)
{
    EXPECT_EQ(value_of("010"), 10u);
    EXPECT_EQ(value_of("0010"), 10u);
    EXPECT_EQ(value_of("08"), 8u) << "not an invalid octal digit";
    EXPECT_EQ(value_of("0x010"), 0x10u);
    EXPECT_EQ(value_of("00"), 0u);
}

TEST(Number, RefusesWhatIsNotANumber)
{
    for (const char* s : {"", "0x", "0X", "x10", "-1", "+1", " 1", "1 ", "1k", "abc", "1e3", "0b101", "0x1g", "10.0",
                          "0xx1", "１"}) {
        const std::string e = error_of(s);
        EXPECT_NE(e.find("is not a number (decimal, or hexadecimal after 0x)"), std::string::npos) << "'" << s << "': " << e;
        EXPECT_NE(e.find(std::string("'") + s + "'"), std::string::npos) << "the error quotes the text";
    }
}

TEST(Number, RangeCheckedWithoutWrapping)
{
    EXPECT_EQ(error_of("18446744073709551616"), "'18446744073709551616' is out of range (0 to 18446744073709551615)");
    EXPECT_NE(error_of("0x10000000000000000").find("out of range"), std::string::npos);
    EXPECT_EQ(error_of("255", 0, 255), "");
    EXPECT_EQ(error_of("256", 0, 255), "'256' is out of range (0 to 255)");
    EXPECT_EQ(error_of("3", 4, 10), "'3' is out of range (4 to 10)");
    EXPECT_EQ(error_of("0x100", 256, 0xffffffff), "");
}

TEST(Number, TypedParseLeavesOutputAloneOnError)
{
    uint8_t b = 7;
    EXPECT_FALSE(parse_number<uint8_t>("256", b));
    EXPECT_EQ(b, 7u);
    EXPECT_TRUE(parse_number<uint8_t>("0xff", b));
    EXPECT_EQ(b, 255u);
    uint16_t port = 0;
    EXPECT_FALSE(parse_number<uint16_t>("0", port, 1, 65535));
    EXPECT_TRUE(parse_number<uint16_t>("04191", port, 1, 65535));
    EXPECT_EQ(port, 4191u);
    uint32_t spi = 0;
    EXPECT_FALSE(parse_number(std::string_view("4294967296"), spi)) << "the type's own maximum bounds it";
}

// A word longer than any number is not echoed: on the command line it may be a key in the wrong place
// (`del sa <key>`); keys are never printed.
TEST(Number, LongWordsNotEchoed)
{
    const std::string key = "0102030405060708090a0b0c0d0e0f10cafebabe";
    const std::string e = error_of(key);
    EXPECT_EQ(e.find("0102030405"), std::string::npos) << e;
    EXPECT_EQ(e, "a word of 40 characters is not a number (decimal, or hexadecimal after 0x)");
    EXPECT_EQ(error_of("0x" + key).find("cafebabe"), std::string::npos);
}
