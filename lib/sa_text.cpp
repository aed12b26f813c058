#include "sa_text.hpp"

#include <sstream>

#include "hex.hpp"
#include "number.hpp"
#include "words.hpp"

namespace nemo {

std::variant<SaConfig, std::string> parse_sa(std::string_view line)
{
    const auto w = split_words(line);
    if (w.size() < 5) return std::string("expected 'in|out SPI HOA ALGORITHM enc=HEX [auth=HEX] [esn] [window=N] ...'");
    SaConfig sa;
    if (w[0] != "in" && w[0] != "out") return "'" + std::string(w[0]) + "': the direction is in or out";
    sa.inbound = w[0] == "in";
    uint64_t spi = 0;
    if (!parse_number(w[1], spi) || spi < 256 || spi > 0xFFFFFFFFu)
        return "'" + std::string(w[1]) + "' is not an SPI (256 to 0xffffffff; 1-255 are reserved)";
    sa.spi = static_cast<uint32_t>(spi);
    auto hoa = Ipv6Addr::parse(w[2]);
    if (!hoa || !hoa->is_routable_unicast()) return "'" + std::string(w[2]) + "' is not a unicast home address";
    sa.hoa = *hoa;
    auto alg = esp_algorithm_from_name(w[3]);
    if (!alg) return "'" + std::string(w[3]) + "' is not an algorithm (aes-gcm-128, aes-gcm-256, aes-cbc-128-hmac-sha256)";
    sa.algorithm = *alg;
    bool have_enc = false;
    for (std::size_t i = 4; i < w.size(); ++i) {
        const std::string_view x = w[i];
        uint64_t n = 0;
        if (x.starts_with("enc=")) {
            if (!parse_hex(x.substr(4), sa.enc_key)) return std::string("enc= takes hexadecimal key bytes");
            have_enc = true;
        } else if (x.starts_with("auth=")) {
            if (!parse_hex(x.substr(5), sa.auth_key)) return std::string("auth= takes hexadecimal key bytes");
        } else if (x == "esn") {
            sa.esn = true;
        } else if (x.starts_with("window=")) {
            if (!parse_number(x.substr(7), n) || n < 1024 || n > 65536) return std::string("window= takes 1024 to 65536");
            sa.window = static_cast<uint32_t>(n);
        } else if (x.starts_with("life-bytes=")) {
            if (!parse_number(x.substr(11), n)) return std::string("life-bytes= takes a number");
            sa.life_bytes = n;
        } else if (x.starts_with("life-packets=")) {
            if (!parse_number(x.substr(13), n)) return std::string("life-packets= takes a number");
            sa.life_packets = n;
        } else {
            return "unexpected '" + std::string(x.substr(0, x.find('='))) + "'"; // never echo a key
        }
    }
    if (!have_enc) return std::string("enc= is required");
    if (sa.enc_key.size() != esp_enc_key_len(sa.algorithm) || sa.auth_key.size() != esp_auth_key_len(sa.algorithm)) {
        return std::string(esp_algorithm_name(sa.algorithm)) + " takes " + std::to_string(esp_enc_key_len(sa.algorithm)) +
               " enc= bytes" +
               (esp_auth_key_len(sa.algorithm) ? " and " + std::to_string(esp_auth_key_len(sa.algorithm)) + " auth= bytes"
                                               : std::string(" (key and salt) and no auth="));
    }
    return sa;
}

std::string format_sa(const SaConfig& sa)
{
    std::ostringstream o;
    o << (sa.inbound ? "in" : "out") << " 0x" << std::hex << sa.spi << std::dec << " " << sa.hoa.str() << " "
      << esp_algorithm_name(sa.algorithm) << " enc=<hidden>";
    if (!sa.auth_key.empty()) o << " auth=<hidden>";
    if (sa.esn) o << " esn";
    if (sa.window != 1024) o << " window=" << sa.window;
    if (sa.life_bytes) o << " life-bytes=" << sa.life_bytes;
    if (sa.life_packets) o << " life-packets=" << sa.life_packets;
    return o.str();
}

} // namespace nemo
