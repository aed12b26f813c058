"""Small helpers the integration tests share, without scapy: what the HA sent in an IPv4 tunnel, read
from a raw frame, and key files for SA lines (neither program takes a key on its command line)."""
import atexit
import os
import shutil
import socket
import struct
import tempfile
import threading
import time

HA4 = "198.51.100.1"

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_RCVBUFFORCE = 33

_KEY_DIR = tempfile.mkdtemp(prefix="nemo-test-keys-")
atexit.register(shutil.rmtree, _KEY_DIR, True)


def key_file(key):
    """'@PATH' of a file (mode 0600) holding the key's hex."""
    path = os.path.join(_KEY_DIR, f"key{len(os.listdir(_KEY_DIR))}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return "@" + path


def tunneled(frame, ha4=HA4):
    """(outer destination, method, UDP destination port or 0, inner IPv6 bytes) of an Ethernet frame the
    HA (outer source `ha4`) sent in an IPv4 tunnel, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    if ip[12:16] != socket.inet_aton(ha4):
        return None
    ihl, total = (ip[0] & 15) * 4, struct.unpack("!H", ip[2:4])[0]
    dst, proto, body = socket.inet_ntoa(ip[16:20]), ip[9], ip[ihl:total]
    if proto == 41:
        return dst, "ipip", 0, body
    if proto == 47 and len(body) >= 4 and body[2:4] == b"\x86\xdd":
        flags = body[0]
        return dst, "gre", 0, body[4 + 4 * (bool(flags & 0x80) + bool(flags & 0x20) + bool(flags & 0x10)):]
    if proto == 17 and len(body) >= 8:
        sport, dport = struct.unpack("!HH", body[:4])
        if sport == 4191:
            return dst, "udp", dport, body[8:]
    return None


def v6(b):
    return socket.inet_ntop(socket.AF_INET6, bytes(b))


def mobility_header(ip6):
    """(home address, Mobility Header bytes) of an IPv6 packet carrying one (the home address is the
    destination, or the type 2 routing header's address), or None."""
    if len(ip6) < 40 or ip6[0] >> 4 != 6:
        return None
    nh, dst, at = ip6[6], ip6[24:40], 40
    while nh in (0, 43, 60) and at + 8 <= len(ip6):
        if nh == 43 and ip6[at + 2] == 2 and at + 24 <= len(ip6):
            dst = ip6[at + 8:at + 24]
        nh, at = ip6[at], at + (ip6[at + 1] + 1) * 8
    if nh != 135 or at + 12 > len(ip6):
        return None
    return v6(dst), ip6[at:]


def raw_socket(iface, rcvbuf):
    """An AF_PACKET socket on `iface` that sees every frame; open it inside the interface's namespace."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
    sock.bind((iface, 0))
    sock.settimeout(0.05)
    return sock


class RawReceiver:
    """Every frame arriving on `sock` (not those sent from it), handed to on_frame(frame, time) on a thread
    of its own, until close(). Raw sockets: scapy's sniffer cannot keep up with hundreds of routers."""

    def __init__(self, sock, on_frame):
        self.sock = sock
        self.on_frame = on_frame
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            try:
                frame, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] != PACKET_OUTGOING:
                self.on_frame(frame, time.time())

    def close(self):
        if not self.done.is_set():
            self.done.set()
            self.thread.join()
            self.sock.close()
