#include "sa_text.hpp"

#include <cctype>
#include <sstream>

#include "hex.hpp"
#include "number.hpp"
#include "words.hpp"

namespace nemo {

namespace {

bool is_key_word(std::string_view w) { return w.starts_with("enc=") || w.starts_with("auth="); }

// A word that could be a key typed in the wrong place: 16 or more hexadecimal digits.
bool looks_like_key(std::string_view w)
{
    if (w.starts_with("0x") || w.starts_with("0X")) w.remove_prefix(2);
    if (w.size() < 16) return false;
    for (char c : w)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

// A word for an error message: itself, unless it may be a key.
std::string quote(std::string_view w)
{
    return is_key_word(w) || looks_like_key(w) ? std::string("<hidden>") : "'" + std::string(w) + "'";
}

// One key: hex on the line or, with '@', in a file. `name` is "enc" or "auth".
std::optional<std::string> read_key(std::string_view value, std::string_view name, SaKeySource source, KeyBytes& out)
{
    const std::string n(name);
    if (value == "-") return n + "=- (read from standard input) is for nemo-hactl";
    if (value.starts_with("@")) {
        if (source == SaKeySource::hex)
            return n + "=@FILE is read by nemo-hactl, which sends the key; the daemon's CLI takes hex";
        const std::string path(value.substr(1));
        if (path.empty()) return n + "=@ names no file";
        std::string hex;
        if (auto e = read_key_file(path, hex)) return n + "=@" + *e;
        const bool ok = parse_hex(hex, out);
        wipe(hex);
        if (!ok) return n + "=@" + path + ": the key file does not hold hexadecimal key bytes";
        return std::nullopt;
    }
    if (source == SaKeySource::file)
        return "a key on the daemon's command line is visible to every local user (ps): give " + n +
               "=@FILE, a file only its owner may read";
    if (!parse_hex(value, out)) return n + "= takes hexadecimal key bytes";
    return std::nullopt;
}

} // namespace

std::variant<SaConfig, std::string> parse_sa(std::string_view line, SaKeySource keys)
{
    const auto w = split_words(line);
    if (w.size() < 5) return std::string("expected 'in|out SPI HOA ALGORITHM enc=HEX|@FILE [auth=HEX|@FILE] [esn] [window=N] ...'");
    SaConfig sa;
    if (w[0] != "in" && w[0] != "out") return quote(w[0]) + ": the direction is in or out";
    sa.inbound = w[0] == "in";
    uint64_t spi = 0;
    if (!parse_number<uint64_t>(w[1], spi, 256, 0xFFFFFFFFu))
        return quote(w[1]) + " is not an SPI (256 to 0xffffffff; 1-255 are reserved)";
    sa.spi = static_cast<uint32_t>(spi);
    auto hoa = Ipv6Addr::parse(w[2]);
    if (!hoa || !hoa->is_routable_unicast()) return quote(w[2]) + " is not a unicast home address";
    sa.hoa = *hoa;
    auto alg = esp_algorithm_from_name(w[3]);
    if (!alg) return quote(w[3]) + " is not an algorithm (aes-gcm-128, aes-gcm-256, aes-cbc-128-hmac-sha256)";
    sa.algorithm = *alg;
    bool have_enc = false;
    for (std::size_t i = 4; i < w.size(); ++i) {
        const std::string_view x = w[i];
        uint64_t n = 0;
        if (x.starts_with("enc=")) {
            if (auto e = read_key(x.substr(4), "enc", keys, sa.enc_key)) return *e;
            have_enc = true;
        } else if (x.starts_with("auth=")) {
            if (auto e = read_key(x.substr(5), "auth", keys, sa.auth_key)) return *e;
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
            // Only the part before '=' (a key may follow it), and not even that when it looks like a key.
            const auto eq = x.find('=');
            return "unexpected " + (eq == std::string_view::npos ? quote(x) : quote(x.substr(0, eq)));
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
    if (esp_auth_key_len(sa.algorithm)) o << " auth=<hidden>";
    if (sa.esn) o << " esn";
    if (sa.window != 1024) o << " window=" << sa.window;
    if (sa.life_bytes) o << " life-bytes=" << sa.life_bytes;
    if (sa.life_packets) o << " life-packets=" << sa.life_packets;
    return o.str();
}

bool sa_line_has_key(std::string_view line)
{
    for (std::string_view w : split_words(line)) {
        if (w.starts_with("enc=")) w.remove_prefix(4);
        else if (w.starts_with("auth=")) w.remove_prefix(5);
        else continue;
        if (!w.starts_with("@")) return true;
    }
    return false;
}

std::string hide_keys(std::string_view line)
{
    std::string out;
    for (std::string_view w : split_words(line)) {
        if (!out.empty()) out += ' ';
        if (is_key_word(w)) out += std::string(w.substr(0, w.find('=') + 1)) + "<hidden>";
        else out += looks_like_key(w) ? std::string("<hidden>") : std::string(w);
    }
    return out;
}

std::optional<std::string> refuse_manual_gcm(const SaConfig& sa, bool allow_manual_gcm)
{
    if (allow_manual_gcm || sa.algorithm == EspAlgorithm::aes_cbc_128_hmac_sha256) return std::nullopt;
    return std::string(esp_algorithm_name(sa.algorithm)) +
           " with a hand-entered key: RFC 4106 section 2 requires automated key management for AES-GCM (its nonces "
           "repeat when the counter restarts under the same key, at every start and del sa/add sa); use "
           "aes-cbc-128-hmac-sha256, or set ipsec.allow_manual_gcm = yes in a lab";
}

void wipe_keys(std::vector<SaConfig>& sas)
{
    for (SaConfig& sa : sas) {
        wipe(sa.enc_key);
        wipe(sa.auth_key);
    }
}

} // namespace nemo
