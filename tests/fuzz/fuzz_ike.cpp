// libFuzzer target: the IKEv2 message parser (lib/ike_message). A message that parses is encoded again
// (its payloads but SK and unknown ones) and must parse again to the same payload types; the input is
// also read as a bare payload chain (as the plaintext inside SK is), its first byte naming the first
// payload.
#include <cstdlib>
#include <variant>
#include <vector>

#include "ike_message.hpp"

namespace {

using namespace nemo::ike;

// What the builder writes, the parser must read back, whatever values the fields hold.
void round_trip(const Message& m)
{
    std::vector<Payload> kept;
    for (const Payload& p : m.payloads)
        if (!std::holds_alternative<SkPayload>(p) && !std::holds_alternative<UnknownPayload>(p)) kept.push_back(p);
    const std::vector<uint8_t> again = build_message(m.header, kept);
    // Only a payload too big for its 16-bit length cannot be written; one parsed from a 16-bit length
    // cannot be that big.
    if (again.empty()) std::abort();
    const auto back = parse_message(again);
    const auto* msg = std::get_if<Message>(&back);
    if (!msg) std::abort();
    if (payload_types(msg->payloads) != payload_types(kept)) std::abort();
    // And once more: the second encoding is the same bytes as the first.
    if (build_message(msg->header, msg->payloads) != again) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::span<const uint8_t> in(data, size);
    const auto parsed = parse_message(in);
    if (const auto* m = std::get_if<Message>(&parsed)) round_trip(*m);
    if (!in.empty()) (void)parse_payloads(in[0], in.subspan(1));
    (void)parse_header(in);
    return 0;
}
