// The directory a state backend keeps its files in (state.dir): created when absent, private to
// nemo-ha's user (it holds SA keys), and held by one daemon at a time through a lock file (flock) that
// names the holder's pid.
#pragma once

#include <string>

namespace nemo::control {

// The lock's file descriptor (closing it releases the lock), or -1 with *error naming the directory:
// it cannot be made or written, it is no directory, or another nemo-ha holds it.
int open_dir_and_lock(const std::string& dir, std::string* error);

} // namespace nemo::control
