// libFuzzer target: the ipv6 parsers (see exercise.hpp).
#include "exercise.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    (void)nemo::fuzz::exercise_ipv6({data, size});
    return 0;
}
