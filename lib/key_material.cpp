#include "key_material.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace nemo {

void secure_wipe(void* p, std::size_t n)
{
    if (p && n) explicit_bzero(p, n);
}

void wipe(KeyBytes& k)
{
    secure_wipe(k.data(), k.size());
    k.clear();
    k.shrink_to_fit();
}

void wipe(std::string& s)
{
    s.resize(s.capacity()); // no reallocation: every byte the buffer has becomes reachable, then zeroed
    secure_wipe(s.data(), s.size());
    s.clear();
}

bool private_to_owner(mode_t mode) { return (mode & (S_IRWXG | S_IRWXO)) == 0; }

std::optional<std::string> check_private(const std::string& path, mode_t mode)
{
    if (private_to_owner(mode)) return std::nullopt;
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode & 07777));
    return std::string("holds keys but group or others may read it (mode ") + octal + "): chmod 600 " + path;
}

std::optional<std::string> read_file(const std::string& path, std::string& text, mode_t* mode)
{
    text.clear();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return path + ": cannot open: " + std::strerror(errno);
    struct stat st{};
    std::optional<std::string> err;
    if (::fstat(fd, &st) != 0) err = path + ": " + std::strerror(errno);
    else if (!S_ISREG(st.st_mode)) err = path + ": not a regular file";
    else if (static_cast<uint64_t>(st.st_size) > kMaxTextFileBytes)
        err = path + ": " + std::to_string(st.st_size) + " bytes, more than the " + std::to_string(kMaxTextFileBytes >> 20) +
              " MiB a configuration, provisioning or key file may have";
    if (!err) {
        if (mode) *mode = st.st_mode;
        // Sized once, so that no reallocation leaves a copy behind; a file growing meanwhile is cut.
        text.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < text.size()) {
            const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                err = path + ": cannot read: " + std::strerror(errno);
                break;
            }
            if (n == 0) break;
            got += static_cast<std::size_t>(n);
        }
        text.resize(got);
    }
    ::close(fd);
    if (err) wipe(text);
    return err;
}

std::optional<std::string> read_key_file(const std::string& path, std::string& hex)
{
    hex.clear();
    mode_t mode = 0;
    std::string text;
    if (auto e = read_file(path, text, &mode)) return e;
    std::optional<std::string> err;
    if (auto e = check_private(path, mode)) err = path + ": " + *e;
    else if (text.size() > 4096) err = path + ": too large to be a key file";
    if (!err) {
        std::size_t b = 0, e = text.size();
        auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
        while (b < e && blank(text[b])) ++b;
        while (e > b && blank(text[e - 1])) --e;
        if (b == e) err = path + ": the key file is empty";
        else hex.assign(text, b, e - b);
    }
    wipe(text);
    return err;
}

} // namespace nemo
