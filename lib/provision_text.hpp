// The one-line text form of a mobile node's provisioning, shared by the config file (`mr = ...`), the
// provisioning file (one per line) and the CLI (`add mr ...`):
//
//   HOA [router|host] [prefixes=P1,P2,...] [methods=M1,M2,...] [ike-id=ID]
//
// e.g. `2001:db8:1::100 router prefixes=2001:db8:aaaa::/48 methods=ipip,udp`. Defaults: router, no
// prefixes, every method the HA enables, no IKEv2 identity (ike-id= binds one, lib/ike_policy.hpp: the only identity that
// may negotiate SAs for this home address). Method names are those of method_name().
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "binding.hpp"

namespace nemo {

// A provision, or a message naming the word at fault.
std::variant<MrProvision, std::string> parse_provision(std::string_view line);
std::string format_provision(const MrProvision& mr);
std::string format_methods(MethodSet set); // "ipip,gre" ; "any" for 0

} // namespace nemo
