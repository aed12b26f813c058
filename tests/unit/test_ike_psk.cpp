// ike.psk_file: the routers' pre-shared keys, and what a bad file is told (never the secret).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "ike_psk.hpp"

using namespace nemo;
using namespace nemo::ike;

namespace {
std::string error_of(const std::string& text)
{
    auto r = parse_psk_text(text, "psk");
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}
} // namespace

TEST(IkePsk, LinesCommentsAndHex)
{
    auto r = parse_psk_text("# routers\n\nr1.example  correct-horse-battery\nemail:r2@example.net 0x000102030405060708090a0b0c0d0e0f\n", "psk");
    ASSERT_TRUE(std::holds_alternative<PskMap>(r)) << std::get<std::string>(r);
    const PskMap& m = std::get<PskMap>(r);
    ASSERT_EQ(m.size(), 2u);
    const std::string text = "correct-horse-battery";
    EXPECT_TRUE(m.at("fqdn:r1.example") == KeyBytes(text.begin(), text.end()));
    ASSERT_EQ(m.at("email:r2@example.net").size(), 16u);
    EXPECT_EQ(m.at("email:r2@example.net")[15], 0x0f);
}

TEST(IkePsk, BadLinesNameTheLineNotTheSecret)
{
    const std::string secret = "s3cret-s3cret-s3cret";
    for (const std::string& bad : std::vector<std::string>{"r1.example\n", "r1.example " + secret + " extra\n", "bad:id " + secret + "\n",
                                   "r1.example short\n", "r1.example 0xzz" + secret + "\n",
                                   "r1.example " + secret + "\nr1.example " + secret + "-2\n"}) {
        const std::string e = error_of(bad);
        EXPECT_FALSE(e.empty()) << "accepted a bad file";
        EXPECT_EQ(e.find("s3cret"), std::string::npos) << "the secret is quoted in: " << e.substr(0, 8);
        EXPECT_EQ(e.find("short\n"), std::string::npos);
        EXPECT_EQ(e.rfind("psk:", 0), 0u) << e;
    }
    EXPECT_NE(error_of("r1.example tooshort\n").find("shorter than 16"), std::string::npos);
    EXPECT_NE(error_of("a.example 0123456789abcdef0\na.example 0123456789abcdef1\n").find("twice"), std::string::npos);
    EXPECT_NE(error_of("x\ny z w\n").find("psk:1:"), std::string::npos);
}

TEST(IkePsk, FileMustBePrivate)
{
    char path[] = "/tmp/nemo_psk_XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    const std::string line = "r1.example correct-horse-battery\n";
    ASSERT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    close(fd);
    chmod(path, 0644);
    auto open = load_psk_file(path);
    ASSERT_TRUE(std::holds_alternative<std::string>(open));
    EXPECT_NE(std::get<std::string>(open).find("chmod 600"), std::string::npos) << std::get<std::string>(open);
    chmod(path, 0600);
    auto ok = load_psk_file(path);
    ASSERT_TRUE(std::holds_alternative<PskMap>(ok)) << std::get<std::string>(ok);
    EXPECT_EQ(std::get<PskMap>(ok).size(), 1u);
    unlink(path);
    EXPECT_TRUE(std::holds_alternative<std::string>(load_psk_file(path)));
}
