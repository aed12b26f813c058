#include "result.hpp"

namespace nemo::wire {

const char* errc_name(Errc e)
{
    switch (e) {
    case Errc::truncated: return "truncated";
    case Errc::bad_length: return "bad length";
    case Errc::bad_checksum: return "bad checksum";
    case Errc::bad_version: return "bad version";
    case Errc::unknown_type: return "unknown type";
    case Errc::bad_value: return "bad value";
    case Errc::unsupported: return "unsupported";
    case Errc::buffer_too_small: return "buffer too small";
    }
    return "unknown error";
}

} // namespace nemo::wire
