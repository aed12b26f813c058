#include "ike_psk.hpp"

#include "hex.hpp"
#include "ike_policy.hpp"
#include "words.hpp"

namespace nemo::ike {

// A secret shorter than this is refused: a PSK is only as strong as it is long (RFC 7296 2.15).
constexpr std::size_t kMinPskLen = 16;

std::variant<PskMap, std::string> parse_psk_text(const std::string& text, const std::string& origin)
{
    PskMap out;
    std::size_t start = 0, line_no = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string_view line(text.data() + start, end - start);
        start = end + 1;
        ++line_no;
        auto w = split_words(line);
        if (w.empty() || w[0].starts_with('#')) continue;
        const std::string where = origin + ":" + std::to_string(line_no) + ": ";
        if (w.size() != 2) return where + "expected 'ID SECRET' (the secret is not shown)";
        auto id = canonical_id(w[0]);
        if (!id) return where + "the identity is not fqdn:NAME, email:ADDR, ip:ADDR or keyid:HEX";
        KeyBytes secret;
        if (w[1].starts_with("0x")) {
            if (!parse_hex(w[1], secret)) return where + "the secret starts with 0x but is not hexadecimal";
        } else {
            secret.assign(w[1].begin(), w[1].end());
        }
        if (secret.size() < kMinPskLen) return where + "the secret is shorter than 16 bytes";
        if (out.count(*id)) return where + "the identity " + *id + " is given twice";
        out.emplace(*id, std::move(secret));
    }
    return out;
}

std::variant<PskMap, std::string> load_psk_file(const std::string& path)
{
    std::string text;
    mode_t mode = 0;
    if (auto e = read_file(path, text, &mode)) return *e;
    if (auto e = check_private(path, mode)) {
        wipe(text);
        return "ike.psk_file: " + *e;
    }
    auto r = parse_psk_text(text, path);
    wipe(text);
    return r;
}

} // namespace nemo::ike
