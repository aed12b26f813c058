#include "state_dir.hpp"
#include "log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace nemo::control {

namespace {
std::string errno_text(int e) { return std::strerror(e); }
} // namespace

int open_dir_and_lock(const std::string& dir, std::string* error)
{
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0) {
        if (errno != ENOENT || ::mkdir(dir.c_str(), 0700) != 0) {
            *error = "state.dir " + dir + ": " + errno_text(errno) + " (the parent must exist and be writable)";
            return -1;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        *error = "state.dir " + dir + ": not a directory";
        return -1;
    } else if ((st.st_mode & 077) != 0) {
        // Made by someone else (a package, an operator) with the usual 0755: the store holds SA keys, and
        // the databases create their files with the process's umask, so the directory is what guards them.
        if (::chmod(dir.c_str(), 0700) != 0) {
            *error = "state.dir " + dir + ": group or others may enter it, and it cannot be made private (" +
                     errno_text(errno) + "): it holds SA keys";
            return -1;
        }
        log::printf(log::Level::warning, "nemo-ha: state.dir %s: was mode %03o, made 0700 (it holds SA keys)", dir.c_str(),
                     static_cast<unsigned>(st.st_mode & 0777));
    }
    const std::string lock = dir + "/lock";
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        *error = "state.dir " + dir + ": cannot write (" + errno_text(errno) + "): nemo-ha keeps its state there";
        return -1;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = {};
        const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
        std::string who = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "";
        while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
        *error = "state.dir " + dir + ": in use by another nemo-ha" + (who.empty() ? "" : " (pid " + who + ")");
        ::close(fd);
        return -1;
    }
    const std::string me = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
        *error = "state.dir " + dir + ": cannot write (" + errno_text(errno) + "): nemo-ha keeps its state there";
        ::close(fd);
        return -1;
    }
    return fd;
}

} // namespace nemo::control
