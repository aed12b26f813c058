// The mobile network's side: a TUN device (IFF_TUN, no packet information). Packets the kernel routes into
// it (from the mobile network) go to the HA through the tunnel; packets from the HA for the mobile network
// are written to it. Addresses and routes on it are the operator's (ip addr / ip route).
#include "mr.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nemo::mr {

int open_tun(const std::string& name, unsigned mtu, std::string& err)
{
    if (name.size() >= IFNAMSIZ) { err = "TUN name too long: " + name; return -1; }
    int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { err = std::string("/dev/net/tun: ") + std::strerror(errno); return -1; }
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
        err = "TUNSETIFF " + name + ": " + std::strerror(errno);
        ::close(fd);
        return -1;
    }
    // Up, with an MTU that leaves room for the largest tunnel header (UDP: 28 octets).
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        ifreq q{};
        std::memcpy(q.ifr_name, name.c_str(), name.size());
        if (mtu != 0) {
            q.ifr_mtu = static_cast<int>(mtu);
            (void)::ioctl(s, SIOCSIFMTU, &q);
        }
        if (::ioctl(s, SIOCGIFFLAGS, &q) == 0) {
            q.ifr_flags = static_cast<short>(q.ifr_flags | IFF_UP);
            (void)::ioctl(s, SIOCSIFFLAGS, &q);
        }
        ::close(s);
    }
    return fd;
}

} // namespace nemo::mr
