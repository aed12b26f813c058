// The routers' IKEv2 pre-shared keys (ike.psk_file): one "ID SECRET" line per identity, blank lines
// and '#' comments skipped. ID as lib/ike_policy's canonical_id reads it; SECRET text (no spaces) or
// 0xHEX. The file must be private to its owner, and no message quotes a secret: an error names the
// file and line only.
#pragma once

#include <string>
#include <unordered_map>
#include <variant>

#include "key_material.hpp"

namespace nemo::ike {

using PskMap = std::unordered_map<std::string, KeyBytes>; // canonical identity -> secret

std::variant<PskMap, std::string> load_psk_file(const std::string& path);
// The same from text already read (tests); `origin` names it in messages.
std::variant<PskMap, std::string> parse_psk_text(const std::string& text, const std::string& origin);

} // namespace nemo::ike
