// The state file: the last sequence number sent for each home address, so that a restarted router goes
// on from it (RFC 6275 9.5.1: the HA rejects numbers not newer than the last it accepted), and the ESP
// outbound SA's next sequence number reserved ahead (the HA's replay window would drop a restart from 1).
// One line each, "HOA SEQ [ESP]"; written to a temporary file and renamed over the old one.
#include "mr.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "number.hpp"

namespace nemo::mr {

std::map<Ipv6Addr, SavedSeq> load_sequences(const std::string& path)
{
    std::map<Ipv6Addr, SavedSeq> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string hoa, seq, esp;
        if (!(ls >> hoa >> seq)) continue;
        auto a = Ipv6Addr::parse(hoa);
        SavedSeq s;
        if (!a || !parse_number(seq, s.bu)) continue;
        if (ls >> esp && !parse_number(esp, s.esp)) continue;
        out[*a] = s;
    }
    return out;
}

bool save_sequences(const std::string& path, const std::vector<Router>& routers)
{
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out) return false;
        for (const Router& r : routers) {
            out << r.hoa.str() << ' ' << r.state.seq;
            // ESP: a number ahead of every one sent (the caller moved `reserved` past next_seq).
            if (r.esp_tx) out << ' ' << r.esp_tx->reserved;
            out << '\n';
        }
        out.flush();
        if (!out) return false;
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

} // namespace nemo::mr
