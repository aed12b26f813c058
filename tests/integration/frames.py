"""Small helpers the integration tests share, without scapy: what the HA sent in an IPv4 tunnel, read
from a raw frame, and key files for SA lines (neither program takes a key on its command line)."""
import atexit
import os
import shutil
import socket
import struct
import tempfile

HA4 = "198.51.100.1"

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
