// ESP encryption and decryption with intel-ipsec-mb against scapy's SecurityAssociation
// (scripts/gen_esp_vectors.py): we decrypt what scapy encrypted, byte for byte; what we encrypt we
// decrypt again; a flipped bit anywhere fails the ICV.
#include <gtest/gtest.h>

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

// A burst as the worker hands it over: more packets than the manager has lanes, three algorithms and
// several SAs mixed, ESN on some. Sealed in one burst, each packet must be byte for byte what sealing it
// alone gives; opened in one burst, only the packets that were tampered with fail, each on its own.
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
    constexpr std::size_t kPackets = 45;
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
    const std::vector<std::size_t> tampered = {0, 3, 17, 30, 44};
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
