// Encrypts one IPv6 packet with every algorithm lib/esp_transform offers, with and without extended
// sequence numbers, and prints the ESP packets (hex) for check_esp.py to decrypt with scapy.
//
//   esp_emit      ->  lines "algorithm esn seq enc_key auth_key inner esp"
#include <cstdio>
#include <string>
#include <vector>

#include "esp.hpp"
#include "esp_transform.hpp"
#include "proto.hpp"

using namespace nemo;

namespace {
std::string hex(const uint8_t* p, std::size_t n)
{
    static const char* d = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += {d[p[i] >> 4], d[p[i] & 15]};
    return s.empty() ? "-" : s;
}
} // namespace

int main()
{
    ImbManager m;
    if (!m.ok()) return 1;
    // An IPv6/UDP packet: 2001:db8:aaaa::5 -> 2001:db8:1::cc, payload "nemo-out" x 3.
    std::vector<uint8_t> inner = {0x60, 0, 0, 0, 0, 32, 17, 64};
    const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0xaa, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
    const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xcc};
    inner.insert(inner.end(), src, src + 16);
    inner.insert(inner.end(), dst, dst + 16);
    const std::string text = "nemo-outnemo-outnemo-out";
    inner.insert(inner.end(), {0x03, 0xe8, 0x07, 0xd0, 0, 32, 0, 0});
    inner.insert(inner.end(), text.begin(), text.end());

    struct Case {
        EspAlgorithm alg;
        bool esn;
        uint64_t seq;
    } cases[] = {{EspAlgorithm::aes_gcm_128, false, 11},
                 {EspAlgorithm::aes_gcm_256, false, 12},
                 {EspAlgorithm::aes_gcm_128, true, (uint64_t{7} << 32) | 13},
                 {EspAlgorithm::aes_cbc_128_hmac_sha256, false, 14},
                 {EspAlgorithm::aes_cbc_128_hmac_sha256, true, (uint64_t{2} << 32) | 15}};
    for (const Case& c : cases) {
        std::vector<uint8_t> enc(esp_enc_key_len(c.alg)), auth(esp_auth_key_len(c.alg));
        for (std::size_t i = 0; i < enc.size(); ++i) enc[i] = static_cast<uint8_t>(0x11 * (i + 1));
        for (std::size_t i = 0; i < auth.size(); ++i) auth[i] = static_cast<uint8_t>(0x80 + i);
        std::string err;
        auto t = EspTransform::create(c.alg, enc, auth, &err);
        if (!t) {
            std::fprintf(stderr, "%s\n", err.c_str());
            return 1;
        }
        const std::size_t pad = wire::esp_pad_len(inner.size(), t->block());
        const std::size_t plain = inner.size() + pad + wire::kEspTrailerLen;
        std::vector<uint8_t> esp(8 + t->iv_len() + plain + t->icv_len());
        wire::write_esp_header(esp.data(), 0x2001, static_cast<uint32_t>(c.seq));
        std::copy(inner.begin(), inner.end(), esp.begin() + 8 + static_cast<long>(t->iv_len()));
        wire::write_esp_trailer(esp.data() + 8 + t->iv_len() + inner.size(), pad, wire::ipproto::ipv6);
        if (!t->encrypt(m, esp.data(), plain, c.seq, c.esn)) return 1;
        std::printf("%s %d %llu %s %s %s %s\n", std::string(esp_algorithm_name(c.alg)).c_str(), c.esn ? 1 : 0,
                    static_cast<unsigned long long>(c.seq), hex(enc.data(), enc.size()).c_str(),
                    hex(auth.data(), auth.size()).c_str(), hex(inner.data(), inner.size()).c_str(),
                    hex(esp.data(), esp.size()).c_str());
    }
    return 0;
}
