// Key material in memory and on disk. In memory, every copy of a raw key is wiped once it is no longer
// needed (the transform keeps only its expanded form): KeyBytes wipes its buffer whenever it is freed
// (copies, temporaries, reallocations), and wipe() clears what stays alive. On disk, a file that holds
// keys (the provisioning file, a configuration with literal keys, a key file named by enc=@FILE) must be
// private to its owner: one rule, private_to_owner(), for all three.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <vector>

namespace nemo {

// Zeroes n bytes in a way the compiler may not drop as a dead store (explicit_bzero).
void secure_wipe(void* p, std::size_t n);

// An allocator that zeroes what it gives back.
template <class T>
struct WipingAllocator {
    using value_type = T;
    WipingAllocator() = default;
    template <class U>
    WipingAllocator(const WipingAllocator<U>&) noexcept
    {
    }
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept
    {
        secure_wipe(p, n * sizeof(T));
        ::operator delete(p);
    }
    template <class U>
    bool operator==(const WipingAllocator<U>&) const noexcept
    {
        return true;
    }
};

using KeyBytes = std::vector<uint8_t, WipingAllocator<uint8_t>>;

// Zeroes every byte and empties it (freeing the buffer).
void wipe(KeyBytes& k);
// Zeroes the whole buffer (up to its capacity, the short-string buffer included) and empties it.
void wipe(std::string& s);

// No permission bit for group or others.
bool private_to_owner(mode_t mode);
// Nothing when `mode` (the file at `path`'s) keeps a file of keys private to its owner; otherwise
// "holds keys but group or others may read it (mode 0644): chmod 600 PATH", for the caller to prefix.
std::optional<std::string> check_private(const std::string& path, mode_t mode);

// Reads a whole file into `text` without copies left behind (the caller wipes `text`); `mode` gets the
// mode of the file read. On error a message naming the path. A file larger than kMaxTextFileBytes is
// refused before anything is read: a path pointed at a log or a disk image by mistake must be an error,
// not an allocation that ends a running nemo-ha (a reload reads these files while it forwards).
inline constexpr std::size_t kMaxTextFileBytes = std::size_t{512} << 20; // a million routers' lines: ~80 MiB
std::optional<std::string> read_file(const std::string& path, std::string& text, mode_t* mode = nullptr);

// Reads a key file (enc=@FILE): hexadecimal digits, blanks and line ends around them ignored. The file
// must be private to its owner. On error a message naming the path (never its content); `hex` is then
// empty. The caller wipes `hex` when done with it.
std::optional<std::string> read_key_file(const std::string& path, std::string& hex);

} // namespace nemo
