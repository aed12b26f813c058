// libFuzzer target: the ethernet parsers (see exercise.hpp).
#include "exercise.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    (void)nemo::fuzz::exercise_ethernet({data, size});
    return 0;
}
