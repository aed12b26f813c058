#include "esp.hpp"

#include "bytes.hpp"

namespace nemo::wire {

Result<EspView> parse_esp(std::span<const uint8_t> bytes)
{
    if (bytes.size() < kEspHeaderLen) return err(Errc::truncated, "ESP header");
    EspView v;
    v.spi = load_be32(bytes.data());
    v.seq = load_be32(bytes.data() + 4);
    if (v.spi == 0) return err(Errc::bad_value, "ESP SPI 0", 0);
    v.body = bytes.subspan(kEspHeaderLen);
    return v;
}

Result<EspTrailer> parse_esp_trailer(std::span<const uint8_t> plaintext)
{
    if (plaintext.size() < kEspTrailerLen) return err(Errc::truncated, "ESP trailer");
    EspTrailer t;
    t.next_header = plaintext[plaintext.size() - 1];
    t.pad_len = plaintext[plaintext.size() - 2];
    const std::size_t inner_len = plaintext.size() - kEspTrailerLen;
    if (t.pad_len > inner_len) return err(Errc::bad_length, "ESP pad length", plaintext.size() - 2);
    const std::size_t pad_start = inner_len - t.pad_len;
    for (std::size_t i = 0; i < t.pad_len; ++i)
        if (plaintext[pad_start + i] != static_cast<uint8_t>(i + 1))
            return err(Errc::bad_value, "ESP padding bytes", pad_start + i);
    t.inner = plaintext.first(pad_start);
    return t;
}

UdpEncapKind classify_udp_encap(std::span<const uint8_t> p)
{
    if (p.size() == 1 && p[0] == 0xFF) return UdpEncapKind::nat_keepalive;
    if (p.size() >= 4 && load_be32(p.data()) == 0) return UdpEncapKind::ike;
    if (p.size() >= kEspHeaderLen) return UdpEncapKind::esp;
    return UdpEncapKind::malformed;
}

} // namespace nemo::wire
