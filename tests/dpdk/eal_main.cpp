// main() for GoogleTest executables that need DPDK: initialises EAL the way this project's tests run it
// (no hugepages, no PCI, no shared config), then runs the tests.
#include <gtest/gtest.h>
#include <rte_eal.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

int main(int argc, char** argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    // A runtime directory of its own (--file-prefix), so that its telemetry socket is not another
    // DPDK process's.
    std::vector<std::string> args = {argv[0], "--no-huge", "-m", "512", "--no-pci", "--no-shconf",
                                     "--log-level=lib.eal:error", "-l", "0",
                                     "--file-prefix=nemo-test-" + std::to_string(getpid())};
    std::vector<char*> eal_argv;
    for (auto& a : args) eal_argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 1;
    }
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    int rc = RUN_ALL_TESTS();
    rte_eal_cleanup();
    std::error_code ignored;
    std::filesystem::remove_all(runtime_dir, ignored);
    return rc;
}
