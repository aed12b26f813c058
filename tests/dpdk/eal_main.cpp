// main() for GoogleTest executables that need DPDK: initialises EAL the way this project's tests run it
// (no hugepages, no PCI, no shared config), then runs the tests.
#include <gtest/gtest.h>
#include <rte_eal.h>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    std::vector<std::string> args = {argv[0], "--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--log-level=lib.eal:error",
                                     "-l", "0"};
    std::vector<char*> eal_argv;
    for (auto& a : args) eal_argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 1;
    }
    int rc = RUN_ALL_TESTS();
    rte_eal_cleanup();
    return rc;
}
