// ESP encryption and decryption with intel-ipsec-mb against scapy's SecurityAssociation
// (scripts/gen_esp_vectors.py): we decrypt what scapy encrypted, byte for byte; what we encrypt we
// decrypt again; a flipped bit anywhere fails the ICV. For AES-CBC with HMAC-SHA-256, OpenSSL's
// libcrypto computes the IV, the ciphertext and the ICV our sealing must give.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "esp.hpp"
#include "esp_transform.hpp"
#include "hex.hpp"
#include "proto.hpp"

using namespace nemo;
using namespace nemo::wire;

namespace {

// A fixture field: hexadecimal bytes, or "-" for none.
std::vector<uint8_t> unhex(const std::string& h)
{
    std::vector<uint8_t> b;
    if (h != "-" && !parse_hex(h, b)) throw std::runtime_error("esp_vectors.txt: bad hex field");
    return b;
}

struct Vector {
    std::string name;
    EspAlgorithm alg;
    bool esn;
    uint64_t seq;
    std::vector<uint8_t> enc, auth, esp, inner;
};

std::vector<Vector> vectors()
{
    std::vector<Vector> out;
    std::ifstream in(std::string(NEMO_FIXTURE_DIR) + "/esp_vectors.txt");
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        Vector v;
        std::string alg, enc, auth, esp, inner;
        int esn;
        ls >> v.name >> alg >> esn >> v.seq >> enc >> auth >> esp >> inner;
        v.alg = *esp_algorithm_from_name(alg);
        v.esn = esn != 0;
        v.enc = unhex(enc);
        v.auth = unhex(auth);
        v.esp = unhex(esp);
        v.inner = unhex(inner);
        out.push_back(v);
    }
    return out;
}

} // namespace

TEST(EspTransform, DecryptsWhatScapyEncrypted)
{
    ImbManager m;
    ASSERT_TRUE(m.ok());
    const auto vs = vectors();
    ASSERT_EQ(vs.size(), 5u);
    for (const Vector& v : vs) {
        SCOPED_TRACE(v.name);
        std::string err;
        auto t = EspTransform::create(v.alg, v.enc, v.auth, &err);
        ASSERT_TRUE(t) << err;
        std::vector<uint8_t> esp = v.esp;
        auto hdr = parse_esp(esp);
        ASSERT_TRUE(hdr);
        EXPECT_EQ(hdr->seq, static_cast<uint32_t>(v.seq));
        ASSERT_TRUE(t->decrypt(m, esp.data(), esp.size(), v.seq, v.esn));
        const std::size_t head = 8 + t->iv_len();
        auto trailer = parse_esp_trailer({esp.data() + head, esp.size() - head - t->icv_len()});
        ASSERT_TRUE(trailer) << trailer.error().message();
        EXPECT_EQ(trailer->next_header, ipproto::ipv6);
        EXPECT_EQ(std::vector<uint8_t>(trailer->inner.begin(), trailer->inner.end()), v.inner);
        // The wrong high half of an extended sequence number fails the ICV.
        if (v.esn) {
            std::vector<uint8_t> again = v.esp;
            EXPECT_FALSE(t->decrypt(m, again.data(), again.size(), v.seq + (uint64_t{1} << 32), true));
        }
    }
}

TEST(EspTransform, RoundTripAndEveryBitFlipFails)
{
    ImbManager m;
    for (const Vector& v : vectors()) {
        SCOPED_TRACE(v.name);
        std::string err;
        auto t = EspTransform::create(v.alg, v.enc, v.auth, &err);
        ASSERT_TRUE(t);
        const std::size_t pad = esp_pad_len(v.inner.size(), t->block());
        const std::size_t plain = v.inner.size() + pad + kEspTrailerLen;
        std::vector<uint8_t> esp(8 + t->iv_len() + plain + t->icv_len());
        write_esp_header(esp.data(), 0x4242, static_cast<uint32_t>(v.seq));
        std::copy(v.inner.begin(), v.inner.end(), esp.begin() + 8 + static_cast<long>(t->iv_len()));
        write_esp_trailer(esp.data() + 8 + t->iv_len() + v.inner.size(), pad, ipproto::ipv6);
        ASSERT_TRUE(t->encrypt(m, esp.data(), plain, v.seq, v.esn));
        const std::vector<uint8_t> sealed = esp;
        EXPECT_NE(std::vector<uint8_t>(sealed.begin() + 8 + static_cast<long>(t->iv_len()),
                                       sealed.begin() + 8 + static_cast<long>(t->iv_len() + v.inner.size())),
                  v.inner)
            << "encrypted";
        ASSERT_TRUE(t->decrypt(m, esp.data(), esp.size(), v.seq, v.esn));
        EXPECT_TRUE(std::equal(v.inner.begin(), v.inner.end(), esp.begin() + 8 + static_cast<long>(t->iv_len())));
        for (std::size_t byte = 0; byte < sealed.size(); byte += 7) {
            std::vector<uint8_t> bad = sealed;
            bad[byte] ^= 0x10;
            EXPECT_FALSE(t->decrypt(m, bad.data(), bad.size(), v.seq, v.esn)) << "byte " << byte;
        }
    }
}

TEST(EspTransform, KeyLengthsChecked)
{
    std::string err;
    std::vector<uint8_t> k16(16), k20(20), k32(32);
    EXPECT_FALSE(EspTransform::create(EspAlgorithm::aes_gcm_128, k16, {}, &err)) << "the salt is missing";
    EXPECT_NE(err.find("20-byte"), std::string::npos);
    EXPECT_TRUE(EspTransform::create(EspAlgorithm::aes_gcm_128, k20, {}, &err));
    EXPECT_FALSE(EspTransform::create(EspAlgorithm::aes_cbc_128_hmac_sha256, k16, k16, &err));
    EXPECT_TRUE(EspTransform::create(EspAlgorithm::aes_cbc_128_hmac_sha256, k16, k32, &err));
    EXPECT_FALSE(esp_algorithm_from_name("des"));
    ImbManager m;
    auto t = EspTransform::create(EspAlgorithm::aes_gcm_128, k20, {}, &err);
    std::vector<uint8_t> tiny(20);
    EXPECT_FALSE(t->decrypt(m, tiny.data(), tiny.size(), 1, false)) << "too short for IV and ICV";
}

// A burst as the worker hands it over: more packets than the manager has lanes, more CBC ones than one
// chunk of its jobs (ImbManager::kJobs), three algorithms and several SAs mixed, ESN on some. Sealed in
// one burst, each packet must be byte for byte what sealing it alone gives; opened in one burst, only
// the packets that were tampered with fail, each on its own.
TEST(EspTransform, BurstsMatchSinglePacketsAndFailAlone)
{
    ImbManager m;
    std::string err;
    std::vector<std::unique_ptr<EspTransform>> sas;
    for (EspAlgorithm alg : {EspAlgorithm::aes_cbc_128_hmac_sha256, EspAlgorithm::aes_gcm_128,
                             EspAlgorithm::aes_cbc_128_hmac_sha256, EspAlgorithm::aes_gcm_256}) {
        std::vector<uint8_t> enc(esp_enc_key_len(alg), static_cast<uint8_t>(0x10 + sas.size()));
        std::vector<uint8_t> auth(esp_auth_key_len(alg), static_cast<uint8_t>(0x80 + sas.size()));
        sas.push_back(EspTransform::create(alg, enc, auth, &err));
        ASSERT_TRUE(sas.back()) << err;
    }
    constexpr std::size_t kPackets = 90; // 45 CBC: a full chunk and a part
    std::vector<std::vector<uint8_t>> burst(kPackets), alone(kPackets), inner(kPackets);
    std::vector<EspJob> jobs(kPackets);
    for (std::size_t i = 0; i < kPackets; ++i) {
        const EspTransform& t = *sas[i % sas.size()];
        inner[i].resize(40 + 37 * i);
        for (std::size_t b = 0; b < inner[i].size(); ++b) inner[i][b] = static_cast<uint8_t>(i * 31 + b);
        const std::size_t pad = esp_pad_len(inner[i].size(), t.block());
        const std::size_t plain = inner[i].size() + pad + kEspTrailerLen;
        auto& esp = burst[i];
        esp.assign(8 + t.iv_len() + plain + t.icv_len(), 0);
        const uint64_t seq = (i % 3 == 0 ? uint64_t{7} << 32 : 0) + 100 + i;
        write_esp_header(esp.data(), static_cast<uint32_t>(0x1000 + i % sas.size()), static_cast<uint32_t>(seq));
        std::copy(inner[i].begin(), inner[i].end(), esp.begin() + 8 + static_cast<long>(t.iv_len()));
        write_esp_trailer(esp.data() + 8 + t.iv_len() + inner[i].size(), pad, ipproto::ipv6);
        alone[i] = esp;
        ASSERT_TRUE(t.encrypt(m, alone[i].data(), plain, seq, i % 3 == 0));
        jobs[i] = EspJob{};
        jobs[i].t = &t;
        jobs[i].esp = esp.data();
        jobs[i].len = plain;
        jobs[i].seq = seq;
        jobs[i].esn = i % 3 == 0;
    }
    esp_encrypt_burst(m, jobs);
    for (std::size_t i = 0; i < kPackets; ++i) {
        EXPECT_TRUE(jobs[i].ok) << i;
        EXPECT_EQ(burst[i], alone[i]) << "packet " << i << " sealed in a burst differs from sealed alone";
    }
    static_assert(kPackets / 2 > ImbManager::kJobs);
    const std::vector<std::size_t> tampered = {0, 3, 17, 30, 44, 62, 66, 89};
    for (std::size_t i : tampered) burst[i][burst[i].size() / 2] ^= 0x01;
    for (std::size_t i = 0; i < kPackets; ++i) jobs[i].len = burst[i].size();
    esp_decrypt_burst(m, jobs);
    for (std::size_t i = 0; i < kPackets; ++i) {
        const bool bad = std::find(tampered.begin(), tampered.end(), i) != tampered.end();
        EXPECT_EQ(jobs[i].ok, !bad) << "packet " << i;
        if (bad) continue;
        const std::size_t head = 8 + jobs[i].t->iv_len();
        EXPECT_TRUE(std::equal(inner[i].begin(), inner[i].end(), burst[i].begin() + static_cast<long>(head))) << i;
    }
}

namespace {

std::vector<uint8_t> openssl_aes128(const EVP_CIPHER* mode, const std::vector<uint8_t>& key, const uint8_t* iv,
                                    const uint8_t* in, std::size_t len)
{
    std::vector<uint8_t> out(len + 16);
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    int n = 0, f = 0;
    EXPECT_EQ(EVP_EncryptInit_ex(c, mode, nullptr, key.data(), iv), 1);
    EVP_CIPHER_CTX_set_padding(c, 0);
    EXPECT_EQ(EVP_EncryptUpdate(c, out.data(), &n, in, static_cast<int>(len)), 1);
    EXPECT_EQ(EVP_EncryptFinal_ex(c, out.data() + n, &f), 1);
    EVP_CIPHER_CTX_free(c);
    out.resize(static_cast<std::size_t>(n + f));
    return out;
}

} // namespace

// RFC 3602 2.3 wants an unpredictable IV: ours is the SA's key over SPI, sequence number and its high
// half (a block no other packet of the SA has), so the IV is E(SPI | seq | seq_hi | 0), and the packet
// is AES-128-CBC under it (RFC 3602) with HMAC-SHA-256-128 over header, IV and ciphertext, plus the
// high half with ESN (RFC 4303 2.2.1, RFC 4868). Every byte as OpenSSL computes it.
TEST(EspTransform, CbcSealMatchesOpenSsl)
{
    ImbManager m;
    std::vector<uint8_t> enc(16), auth(32);
    for (std::size_t i = 0; i < enc.size(); ++i) enc[i] = static_cast<uint8_t>(0xA0 + i);
    for (std::size_t i = 0; i < auth.size(); ++i) auth[i] = static_cast<uint8_t>(0x11 * i);
    std::string err;
    auto t = EspTransform::create(EspAlgorithm::aes_cbc_128_hmac_sha256, enc, auth, &err);
    ASSERT_TRUE(t) << err;
    std::vector<EspJob> burst;
    std::vector<std::vector<uint8_t>> bufs;
    for (bool esn : {false, true})
        for (uint64_t seq : {uint64_t{1}, uint64_t{0x2A}, (uint64_t{7} << 32) | 3}) {
            if (!esn && seq > 0xFFFFFFFF) continue;
            for (std::size_t plain : {16u, 48u, 1408u}) {
                SCOPED_TRACE(testing::Message() << "esn " << esn << " seq " << seq << " plain " << plain);
                std::vector<uint8_t> esp(8 + 16 + plain + 16 + 4);
                write_esp_header(esp.data(), 0xC0FFEE01, static_cast<uint32_t>(seq));
                for (std::size_t i = 0; i < plain; ++i) esp[24 + i] = static_cast<uint8_t>(i * 13 + seq);
                const std::vector<uint8_t> clear(esp.begin() + 24, esp.begin() + 24 + static_cast<long>(plain));
                ASSERT_TRUE(t->encrypt(m, esp.data(), plain, seq, esn));
                uint8_t counter[16] = {};
                std::copy(esp.begin(), esp.begin() + 8, counter);
                store_be32(counter + 8, static_cast<uint32_t>(seq >> 32));
                const auto iv = openssl_aes128(EVP_aes_128_ecb(), enc, nullptr, counter, 16);
                EXPECT_EQ(std::vector<uint8_t>(esp.begin() + 8, esp.begin() + 24), iv) << "IV";
                const auto cipher = openssl_aes128(EVP_aes_128_cbc(), enc, iv.data(), clear.data(), plain);
                EXPECT_EQ(std::vector<uint8_t>(esp.begin() + 24, esp.begin() + 24 + static_cast<long>(plain)), cipher);
                std::vector<uint8_t> hashed(esp.begin(), esp.begin() + 24 + static_cast<long>(plain));
                if (esn) {
                    hashed.resize(hashed.size() + 4);
                    store_be32(hashed.data() + hashed.size() - 4, static_cast<uint32_t>(seq >> 32));
                }
                unsigned char mac[32];
                unsigned int mac_len = 0;
                HMAC(EVP_sha256(), auth.data(), static_cast<int>(auth.size()), hashed.data(), hashed.size(), mac, &mac_len);
                ASSERT_EQ(mac_len, 32u);
                EXPECT_EQ(std::vector<uint8_t>(esp.begin() + 24 + static_cast<long>(plain), esp.begin() + 40 + static_cast<long>(plain)),
                          std::vector<uint8_t>(mac, mac + 16))
                    << "ICV";
            }
        }
}
