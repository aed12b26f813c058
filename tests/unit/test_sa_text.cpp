#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "key_material.hpp"
#include "sa_text.hpp"

using namespace nemo;

namespace {
const std::string kGcmKey = "0102030405060708090a0b0c0d0e0f10cafebabe";
const std::string kCbcKey = "0102030405060708090a0b0c0d0e0f10";
const std::string kAuth = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";

std::string error_of(const std::string& line)
{
    auto r = parse_sa(line);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}
} // namespace

TEST(SaText, ParsesAndHidesKeys)
{
    auto r = parse_sa("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey + " esn window=2048");
    ASSERT_TRUE(std::holds_alternative<SaConfig>(r)) << std::get<std::string>(r);
    const SaConfig& sa = std::get<SaConfig>(r);
    EXPECT_TRUE(sa.inbound);
    EXPECT_EQ(sa.spi, 0x1001u);
    EXPECT_EQ(sa.enc_key.size(), 20u);
    EXPECT_TRUE(sa.esn);
    EXPECT_EQ(sa.window, 2048u);
    const std::string shown = format_sa(sa);
    EXPECT_EQ(shown, "in 0x1001 2001:db8:1::100 aes-gcm-128 enc=<hidden> esn window=2048");
    EXPECT_EQ(shown.find("cafebabe"), std::string::npos);

    auto cbc = parse_sa("out 4098 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=" + kCbcKey + " auth=" + kAuth);
    ASSERT_TRUE(std::holds_alternative<SaConfig>(cbc)) << std::get<std::string>(cbc);
    EXPECT_FALSE(std::get<SaConfig>(cbc).inbound);
    EXPECT_EQ(format_sa(std::get<SaConfig>(cbc)).find("4041"), std::string::npos);
}

TEST(SaText, ErrorsNeverEchoKeys)
{
    EXPECT_NE(error_of("sideways 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey).find("in or out"), std::string::npos);
    EXPECT_NE(error_of("in 7 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey).find("reserved"), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 fe80::1 aes-gcm-128 enc=" + kGcmKey).find("home address"), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 des enc=" + kGcmKey).find("algorithm"), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=0102").find("20 enc="), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 auth=" + kAuth).find("required"), std::string::npos);
    const auto bad = error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey + " secret=" + kGcmKey);
    EXPECT_NE(bad.find("'secret'"), std::string::npos);
    EXPECT_EQ(bad.find("cafebabe"), std::string::npos) << bad;
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=zz" + kGcmKey).find("hexadecimal"), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey + " window=64").find("1024"), std::string::npos);
}

namespace {
// A file with `text` and `mode`, removed with the object.
struct TempFile {
    std::string path;
    TempFile(const std::string& text, mode_t mode)
    {
        char p[] = "/tmp/nemo-key-XXXXXX";
        const int fd = mkstemp(p);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
        ::close(fd);
        EXPECT_EQ(::chmod(p, mode), 0);
        path = p;
    }
    ~TempFile() { std::remove(path.c_str()); }
};

std::string error_of(const std::string& line, SaKeySource keys)
{
    auto r = parse_sa(line, keys);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}
} // namespace

// A key typed where another word belongs (or without its '=') is not quoted back.
TEST(SaText, MisplacedKeysAreNotEchoed)
{
    for (const std::string& line : {"in 0x1001 2001:db8:1::100 aes-gcm-128 enc " + kGcmKey,
                                    "in 0x1001 2001:db8:1::100 " + kGcmKey + " enc=" + kGcmKey,
                                    "in 0x" + kGcmKey + " 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey,
                                    "in 0x1001 " + kGcmKey + " aes-gcm-128 enc=" + kGcmKey,
                                    kGcmKey + " 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey}) {
        const auto e = error_of(line);
        EXPECT_NE(e, "") << line;
        EXPECT_EQ(e.find("0102030405"), std::string::npos) << e;
        EXPECT_EQ(e.find("cafebabe"), std::string::npos) << e;
    }
    EXPECT_EQ(hide_keys("ad sa in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey + " auth=@/k " + kCbcKey),
              "ad sa in 0x1001 2001:db8:1::100 aes-gcm-128 enc=<hidden> auth=<hidden> <hidden>");
}

// enc=@FILE / auth=@FILE: the hex in a file only its owner may read; the daemon's command line takes
// nothing else, and its CLI socket nothing but hex (nemo-hactl reads the files). No message quotes a key.
TEST(SaText, KeysFromFiles)
{
    TempFile enc(kCbcKey + "\n", 0600), auth("  " + kAuth + "\r\n", 0400);
    const std::string line = "out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=@" + enc.path + " auth=@" + auth.path;
    for (SaKeySource src : {SaKeySource::hex_or_file, SaKeySource::file}) {
        auto r = parse_sa(line, src);
        ASSERT_TRUE(std::holds_alternative<SaConfig>(r)) << std::get<std::string>(r);
        const SaConfig& sa = std::get<SaConfig>(r);
        EXPECT_EQ(sa.enc_key, KeyBytes({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}));
        EXPECT_EQ(sa.auth_key.size(), 32u);
        EXPECT_EQ(sa.auth_key[0], 0x40);
    }
    EXPECT_FALSE(sa_line_has_key(line));
    EXPECT_TRUE(sa_line_has_key("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey));

    // The daemon's command line: a literal key is refused, pointing to enc=@FILE.
    auto e = error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey, SaKeySource::file);
    EXPECT_NE(e.find("enc=@FILE"), std::string::npos) << e;
    EXPECT_NE(e.find("ps"), std::string::npos) << e;
    EXPECT_EQ(e.find("cafebabe"), std::string::npos) << e;
    e = error_of("out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=@" + enc.path + " auth=" + kAuth, SaKeySource::file);
    EXPECT_NE(e.find("auth=@FILE"), std::string::npos) << e;
    // The CLI socket: files are nemo-hactl's to read.
    EXPECT_NE(error_of(line, SaKeySource::hex).find("nemo-hactl"), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=-", SaKeySource::hex_or_file).find("nemo-hactl"), std::string::npos);

    // A key file group or others may read: refused, naming the file, never its content.
    TempFile open(kGcmKey + "\n", 0640);
    e = error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=@" + open.path, SaKeySource::hex_or_file);
    EXPECT_NE(e.find(open.path), std::string::npos) << e;
    EXPECT_NE(e.find("mode 0640"), std::string::npos) << e;
    EXPECT_NE(e.find("chmod 600"), std::string::npos) << e;
    EXPECT_EQ(e.find("cafebabe"), std::string::npos) << e;
    // Not hexadecimal, empty, absent, of the wrong length: each said, nothing of the content quoted.
    TempFile junk("zz" + kGcmKey, 0600), empty("\n", 0600), short_key("0102", 0600);
    e = error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=@" + junk.path, SaKeySource::hex_or_file);
    EXPECT_NE(e.find("hexadecimal"), std::string::npos) << e;
    EXPECT_EQ(e.find("cafebabe"), std::string::npos) << e;
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=@" + empty.path, SaKeySource::hex_or_file).find("empty"),
              std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=@/nonexistent/k", SaKeySource::hex_or_file).find("/nonexistent/k"),
              std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=@" + short_key.path, SaKeySource::hex_or_file).find("20 enc="),
              std::string::npos);
}

// RFC 4106 section 2: GCM MUST be used with automated key management; by hand only under the lab switch.
TEST(SaText, Rfc4106_2_ManualGcmOnlyUnderTheLabSwitch)
{
    auto gcm = std::get<SaConfig>(parse_sa("in 0x1001 2001:db8:1::100 aes-gcm-256 enc=" + kGcmKey.substr(0, 32) + kGcmKey));
    auto e = refuse_manual_gcm(gcm, false);
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("RFC 4106 section 2"), std::string::npos) << *e;
    EXPECT_NE(e->find("ipsec.allow_manual_gcm = yes"), std::string::npos) << *e;
    EXPECT_FALSE(refuse_manual_gcm(gcm, true));
    auto cbc = std::get<SaConfig>(parse_sa("in 0x1001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=" + kCbcKey + " auth=" + kAuth));
    EXPECT_FALSE(refuse_manual_gcm(cbc, false));
}

// The kept copies of keys can be wiped in place.
TEST(SaText, WipeKeys)
{
    std::vector<SaConfig> sas = {std::get<SaConfig>(parse_sa("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey))};
    wipe_keys(sas);
    EXPECT_TRUE(sas[0].enc_key.empty());
    EXPECT_EQ(format_sa(sas[0]), "in 0x1001 2001:db8:1::100 aes-gcm-128 enc=<hidden>");
}

// A path pointed at something huge by mistake is refused by its size, before any allocation (a sparse
// file: nothing is written to the disk).
TEST(KeyMaterial, ReadFileRefusesAFileLargerThanTheCap)
{
    char path[] = "/tmp/nemo-huge-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(nemo::kMaxTextFileBytes + 1)), 0);
    ::close(fd);
    std::string text;
    const auto e = nemo::read_file(path, text);
    ::unlink(path);
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("more than the 512 MiB"), std::string::npos) << *e;
    EXPECT_TRUE(text.empty());
}
