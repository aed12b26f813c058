"""strongSwan 5.9 (Debian's charon and swanctl) as an IKEv2 peer of the tests, one charon per network
namespace, everything it writes under a directory of its own.

Runs under /usr/bin/python3, stdlib only, as root. Debian packages: strongswan-charon strongswan-swanctl
libcharon-extra-plugins (kernel-libipsec) libstrongswan-standard-plugins libstrongswan-extra-plugins
strongswan-pki (make_pki only); iproute2 and util-linux (unshare, mount) are on the machine anyway.

What strongSwan needs on this machine (each found out the hard way):

- The kernel has no xfrm, so kernel-netlink cannot install SAs or policies: charon does ESP in user space
  with the kernel-libipsec plugin, on a TUN device it creates itself ("ipsec%d", so ipsec0 in a fresh
  namespace; the name is not configurable in 5.9). libipsec can only send ESP in UDP, so the plugin says
  KERNEL_REQUIRE_UDP_ENCAPSULATION and charon fakes NAT detection: ESP always goes over UDP 4500 and the
  IKE SA floats to 4500 after IKE_SA_INIT, NAT or not. kernel-libipsec must come before kernel-netlink in
  the explicit `load` list (the first kernel-ipsec backend registered wins; kernel-netlink is still needed
  for addresses, routes and rules).
- Routing into the TUN: for each outbound policy kernel-libipsec asks for a local address inside the
  local traffic selector (kernel_interface.get_address_by_ts) and installs "<remote_ts> dev ipsec0 src
  <that address>" in routing table 220 (charon.routing_table / routing_table_prio, default 220; one
  `ip rule ... lookup 220` per address family). That is all IPv6 selectors on an IPv4 IKE SA need: no
  virtual IP, no install_virtual_ip (set to no here), charon.install_routes = yes (the default, said
  anyway). The catch: the local selector must contain an address configured in the namespace (on lo will
  do, e.g. 2001:db8:a::1/128), else "error installing route with policy ... out" and the CHILD_SA is
  deleted right after IKE_AUTH (the IKE SA stays). A local selector containing ::1 (::/0) gets a route
  with no source address. remote_ts ::/0 gives "default dev ipsec0 table 220": all the namespace's IPv6
  that the local table does not take goes into the TUN (link-local with an oif still goes out directly);
  libipsec drops what matches no policy. Several local selectors (HoA/128 and MNP/48) each need such an
  address, and share one default route whose src is one of them (the /48's here): use ping -I.
  ipsec0 has MTU 1400 and an fe80:: address of its own.
  The rules stay behind when charon is SIGKILLed; kill() removes them.
- libipsec has no ESN: a CHILD_SA with EXT_SEQ fails ("IPsec SA: ESN not supported", "failed to create
  SAD entry"), so esp_proposals must say noesn only ("aes128gcm16-esn-noesn" lets the responder pick ESN).
- 5.9.8 derives IKE keys through the kdf plugin: without "kdf" in the load list IKE_SA_INIT ends in
  "KDF_PRF with PRF_HMAC_SHA2_256 not supported".
- charon's pid file is fixed at /var/run/charon.pid (= /run on Debian) and a second charon refuses to
  start while it exists and names a live process: each charon runs in a mount namespace of its own
  (`ip netns exec NS unshare --mount --propagation private`) with <workdir>/run bind-mounted on /run;
  the mount namespace, and so the mount, dies with charon.
- STRONGSWAN_CONF points charon, swanctl and pki at this harness's strongswan.conf, which includes
  nothing from /etc/strongswan.d (so no syslog logger, no resolve plugin writing /etc/resolv.conf, no
  stroke plugin reading /etc/ipsec.d). SWANCTL_DIR and `swanctl --file` point swanctl at <workdir>/swanctl,
  and the vici socket is <workdir>/charon.vici (charon.plugins.vici.socket; `swanctl --uri`). Under
  strace, such a charon opens nothing of /etc but ld.so.cache and localtime, and of /run only the pid
  file; it binds UDP 500 and 4500 (v4 and v6) in its network namespace and the vici socket.
- Every CHILD_SA gets an explicit reqid (strongSwan issue 1855); swanctl_conn numbers them if not given.
- Log level chd = 4 makes charon print the CHILD_SA keys it derives (keymat_v2 "encryption initiator key
  => N bytes @ 0x...", then hex dump lines): derived_esp_keys() reads them, and log_text() removes the
  hex dumps unless asked not to. The log file itself (0600, in the work dir) holds them: never print it;
  the key values are Secret (bytes whose repr shows the length only). Which keys go which way follows
  from the exchange's roles (inbound SA installed first, with the peer's keys), found from the
  "parsed ... request|response" line the same thread logged before. A responder of a CHILD_SA
  rekeying logs "registering outbound ESP SA" (installed only once the old SA is deleted).
- charon's vici "list-sas" streams one "list-sa" event per IKE SA; this module speaks the vici protocol
  itself (a few lines) rather than parse `swanctl --list-sas --raw`, whose values are not quoted.
"""
import itertools
import os
import re
import signal
import socket
import struct
import subprocess
import time

CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "/usr/sbin/swanctl"
PKI = "/usr/bin/pki"

# Plugins charon loads, in order: kernel-libipsec before kernel-netlink (see above).
CHARON_PLUGINS = ("random nonce aes sha1 sha2 hmac kdf gcm curve25519 openssl pem pkcs1 pkcs8 x509 pubkey "
                  "constraints kernel-libipsec kernel-netlink socket-default vici")
SWANCTL_PLUGINS = "random nonce aes sha1 sha2 hmac openssl pem pkcs1 pkcs8 x509 pubkey"
PKI_PLUGINS = "random nonce aes sha1 sha2 hmac gmp openssl pem pkcs1 pkcs8 x509 pubkey"

DEFAULT_LOG_LEVELS = {"default": 1, "ike": 2, "cfg": 2, "knl": 2, "net": 1, "enc": 1, "chd": 4, "esp": 1}

_reqids = itertools.count(1)


# ---------------------------------------------------------------------------------------------------
# vici: the daemon's control protocol over its unix socket
# ---------------------------------------------------------------------------------------------------
class ViciError(Exception):
    pass


_CMD_REQUEST, _CMD_RESPONSE, _CMD_UNKNOWN = 0, 1, 2
_EVENT_REGISTER, _EVENT_UNREGISTER, _EVENT_CONFIRM, _EVENT_UNKNOWN, _EVENT = 3, 4, 5, 6, 7
_SECTION_START, _SECTION_END, _KEY_VALUE, _LIST_START, _LIST_ITEM, _LIST_END = 1, 2, 3, 4, 5, 6


def _vici_encode(msg):
    out = bytearray()
    for key, value in msg.items():
        k = key.encode()
        if isinstance(value, dict):
            out += bytes([_SECTION_START, len(k)]) + k + _vici_encode(value) + bytes([_SECTION_END])
        elif isinstance(value, (list, tuple)):
            out += bytes([_LIST_START, len(k)]) + k
            for item in value:
                v = str(item).encode()
                out += bytes([_LIST_ITEM]) + struct.pack(">H", len(v)) + v
            out += bytes([_LIST_END])
        else:
            v = (("yes" if value else "no") if isinstance(value, bool) else str(value)).encode()
            out += bytes([_KEY_VALUE, len(k)]) + k + struct.pack(">H", len(v)) + v
    return bytes(out)


def _vici_decode(data):
    """A vici message as nested dicts; lists as lists of str, values as str."""
    root = {}
    stack = [root]
    lst = None
    i = 0
    while i < len(data):
        t = data[i]
        i += 1
        if t in (_SECTION_START, _KEY_VALUE, _LIST_START):
            n = data[i]
            name = data[i + 1:i + 1 + n].decode()
            i += 1 + n
        if t == _SECTION_START:
            sub = {}
            stack[-1][name] = sub
            stack.append(sub)
        elif t == _SECTION_END:
            stack.pop()
        elif t == _KEY_VALUE:
            (n,) = struct.unpack(">H", data[i:i + 2])
            stack[-1][name] = data[i + 2:i + 2 + n].decode(errors="replace")
            i += 2 + n
        elif t == _LIST_START:
            lst = stack[-1][name] = []
        elif t == _LIST_ITEM:
            (n,) = struct.unpack(">H", data[i:i + 2])
            lst.append(data[i + 2:i + 2 + n].decode(errors="replace"))
            i += 2 + n
        elif t == _LIST_END:
            lst = None
        else:
            raise ViciError(f"vici: element type {t}")
    return root


class Vici:
    """One connection to charon's vici socket; each call is one command (with its streamed events)."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, ptype, name=None, msg=None):
        body = bytes([ptype])
        if name is not None:
            body += bytes([len(name)]) + name.encode()
        if msg is not None:
            body += _vici_encode(msg)
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ViciError("vici: connection closed")
            buf += chunk
        return bytes(buf)

    def _recv(self):
        (n,) = struct.unpack(">I", self._recv_exact(4))
        body = self._recv_exact(n)
        ptype = body[0]
        rest = body[1:]
        name = None
        if ptype == _EVENT:
            ln = rest[0]
            name = rest[1:1 + ln].decode()
            rest = rest[1 + ln:]
        return ptype, name, rest

    def request(self, command, msg=None, stream=None):
        """Runs `command`; with `stream` (an event name), returns (response, [events]), else the response.
        Raises ViciError on an unknown command; the response's own success=no is the caller's to judge."""
        events = []
        if stream:
            self._send(_EVENT_REGISTER, stream)
            ptype, _, _ = self._recv()
            if ptype != _EVENT_CONFIRM:
                raise ViciError(f"vici: cannot register for {stream}")
        self._send(_CMD_REQUEST, command, msg or {})
        while True:
            ptype, name, rest = self._recv()
            if ptype == _EVENT:
                events.append(_vici_decode(rest))
            elif ptype == _CMD_RESPONSE:
                response = _vici_decode(rest)
                break
            elif ptype == _CMD_UNKNOWN:
                raise ViciError(f"vici: unknown command {command}")
            else:
                raise ViciError(f"vici: unexpected packet type {ptype}")
        if stream:
            self._send(_EVENT_UNREGISTER, stream)
            while True:  # events already queued may still come before the confirmation
                ptype, _, rest = self._recv()
                if ptype == _EVENT_CONFIRM:
                    break
                if ptype == _EVENT:
                    events.append(_vici_decode(rest))
            return response, events
        return response


# ---------------------------------------------------------------------------------------------------
# swanctl.conf text
# ---------------------------------------------------------------------------------------------------
def _conf_block(name, body, indent):
    pad = "    " * indent
    lines = [f"{pad}{name} {{"]
    for key, value in body.items():
        if value is None:
            continue
        if isinstance(value, dict):
            lines.append(_conf_block(key, value, indent + 1))
        else:
            if isinstance(value, bool):
                value = "yes" if value else "no"
            elif isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            lines.append(f"{pad}    {key} = {value}")
    lines.append(f"{pad}}}")
    return "\n".join(lines)


def swanctl_conn(name, local_addrs, remote_addrs, local_id, remote_id, auth="psk",
                 proposals="aes128gcm16-prfsha256-ecp256", esp_proposals="aes128gcm16-noesn",
                 children=None, mobike=True, dpd_delay=None, rekey_time=None, encap=True,
                 local_certs=None, remote_cacerts=None, send_cert=None, local_port=None, remote_port=None,
                 reauth_time=None, over_time=None, unique=None, keyingtries=1, extra=None):
    """The text of one `connections { name { ... } }` block of swanctl.conf.

    auth: "psk" or "pubkey" (both sides alike; local_certs names files under swanctl/x509/, e.g.
    "r1.pem"). children: {child_name: {local_ts, remote_ts, reqid, esp_proposals, rekey_time,
    start_action, mode, ...}} (swanctl.conf keys, "_" or "-" spelled); local_ts/remote_ts may be lists.
    Without children: one child `name` with local_ts/remote_ts "dynamic". A child without reqid gets one
    from a module-wide counter. extra: more connection-level keys. Times are swanctl strings ("30s",
    "1h") or seconds."""
    def addrs(a):
        return a if isinstance(a, str) else ",".join(a)

    conn = {
        "version": 2,
        "local_addrs": addrs(local_addrs),
        "remote_addrs": addrs(remote_addrs),
        "local_port": local_port,
        "remote_port": remote_port,
        "proposals": proposals,
        "mobike": mobike,
        "encap": encap,
        "dpd_delay": dpd_delay,
        "rekey_time": rekey_time,
        "reauth_time": reauth_time,
        "over_time": over_time,
        "unique": unique,
        "keyingtries": keyingtries,
        "send_cert": send_cert,
    }
    conn.update({k: v for k, v in (extra or {}).items()})
    local = {"auth": auth, "id": local_id}
    remote = {"auth": auth, "id": remote_id}
    if local_certs:
        local["certs"] = local_certs
    if remote_cacerts:
        remote["cacerts"] = remote_cacerts
    conn["local"] = local
    conn["remote"] = remote
    kids = {}
    for child, opts in (children or {name: {}}).items():
        opts = {k.replace("-", "_"): v for k, v in opts.items()}
        opts.setdefault("local_ts", "dynamic")
        opts.setdefault("remote_ts", "dynamic")
        opts.setdefault("esp_proposals", esp_proposals)
        opts.setdefault("mode", "tunnel")
        if opts.get("reqid") is None:
            opts["reqid"] = next(_reqids)
        kids[child] = opts
    conn["children"] = kids
    return _conf_block(name, conn, 0) + "\n"


def psk_secret(id_, psk, name=None):
    """An `ike-<name> { id = ...; secret = ... }` block for swanctl.conf's `secrets` section."""
    name = name or re.sub(r"[^A-Za-z0-9_-]", "_", id_ if isinstance(id_, str) else id_[0])
    ids = id_ if isinstance(id_, str) else None
    body = {"secret": _quote(psk)}
    if ids is not None:
        body["id"] = _quote(ids)
    else:
        for i, one in enumerate(id_):
            body[f"id-{i}"] = _quote(one)
    return _conf_block(f"ike-{name}", body, 0) + "\n"


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------------------------------
def _pki_env(directory):
    conf = os.path.join(directory, "pki-strongswan.conf")
    if not os.path.exists(conf):
        with open(conf, "w") as f:
            f.write(f"pki {{\n    load = {PKI_PLUGINS}\n}}\n")
    return dict(os.environ, STRONGSWAN_CONF=conf)


def _pki(env, *args, stdin=None):
    r = subprocess.run([PKI, *args], input=stdin, capture_output=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"pki {args[0]} failed: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout


def make_pki(directory, ca_cn, leaves=(("r1", "rsa"), ("ha", "ecdsa")), ca_type="ecdsa", lifetime_days=30):
    """A CA and leaf certificates made with strongSwan's `pki`, in PEM under `directory`.

    leaves: (name, "rsa" | "ecdsa"[, [subjectAltNames]]); a leaf's DN is "CN=<name>" and its SAN
    defaults to <name> (so the IKE identity `name`, an FQDN to strongSwan, matches it).
    Returns {"ca": {"cert", "key", "dn"}, name: {"cert", "key", "dn", "san", "type"}, ...} (paths)."""
    os.makedirs(directory, exist_ok=True)
    env = _pki_env(directory)

    def gen(kind, path):
        size = "3072" if kind == "rsa" else "256"
        key = _pki(env, "--gen", "--type", kind, "--size", size, "--outform", "pem")
        with open(path, "wb") as f:
            f.write(key)
        os.chmod(path, 0o600)

    out = {}
    ca_key = os.path.join(directory, "ca.key")
    ca_cert = os.path.join(directory, "ca.pem")
    gen(ca_type, ca_key)
    ca_dn = f"CN={ca_cn}"
    cert = _pki(env, "--self", "--ca", "--lifetime", str(lifetime_days), "--in", ca_key, "--type", ca_type,
                "--dn", ca_dn, "--outform", "pem")
    with open(ca_cert, "wb") as f:
        f.write(cert)
    out["ca"] = {"cert": ca_cert, "key": ca_key, "dn": ca_dn}
    for leaf in leaves:
        name, kind = leaf[0], leaf[1]
        sans = list(leaf[2]) if len(leaf) > 2 else [name]
        key = os.path.join(directory, f"{name}.key")
        crt = os.path.join(directory, f"{name}.pem")
        gen(kind, key)
        pub = _pki(env, "--pub", "--in", key, "--type", kind)
        args = ["--issue", "--cacert", ca_cert, "--cakey", ca_key, "--type", "pub", "--dn", f"CN={name}",
                "--lifetime", str(lifetime_days), "--outform", "pem"]
        for san in sans:
            args += ["--san", san]
        with open(crt, "wb") as f:
            f.write(_pki(env, *args, stdin=pub))
        out[name] = {"cert": crt, "key": key, "dn": f"CN={name}", "san": sans, "type": kind}
    return out


def pki_certs(pki, leaf):
    """The `certs` argument of Charon.write_config for `leaf` of make_pki's result: the CA, its own
    certificate and its private key."""
    def read(path):
        with open(path, "rb") as f:
            return f.read()
    return {
        "x509ca/ca.pem": read(pki["ca"]["cert"]),
        f"x509/{leaf}.pem": read(pki[leaf]["cert"]),
        f"private/{leaf}.key": read(pki[leaf]["key"]),
    }


# ---------------------------------------------------------------------------------------------------
# charon
# ---------------------------------------------------------------------------------------------------
_NUMERIC = {"uniqueid", "reqid", "local-port", "remote-port", "encr-keysize", "integ-keysize", "established",
            "rekey-time", "reauth-time", "life-time", "install-time", "bytes-in", "bytes-out", "packets-in",
            "packets-out", "use-in", "use-out", "cpi-in", "cpi-out"}
_HEX = {"initiator-spi", "responder-spi", "spi-in", "spi-out"}


def _typed(section):
    out = {}
    for key, value in section.items():
        if isinstance(value, str) and key in _HEX:
            out[key] = int(value, 16)
        elif isinstance(value, str) and key in _NUMERIC and value.lstrip("-").isdigit():
            out[key] = int(value)
        else:
            out[key] = value
    return out


def _sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


class Charon:
    """One charon in namespace `ns`, its files under `workdir` (strongswan.conf, swanctl/, charon.log,
    run/ bind-mounted on /run for charon alone, the vici socket charon.vici)."""

    def __init__(self, ns, workdir, name="r1", log_levels=None, settings=None, routing_table=220):
        """log_levels: {group: level} over DEFAULT_LOG_LEVELS (chd must stay >= 4 for derived_esp_keys);
        settings: extra strongswan.conf text inside `charon { }` (e.g. "retransmit_tries = 2");
        routing_table: where kernel-libipsec's routes go (and the priority of its rule). One charon per
        namespace: kill() and stop() remove that table's rules from it."""
        self.ns = ns
        self.name = name
        self.workdir = os.path.abspath(workdir)
        self.log_levels = dict(DEFAULT_LOG_LEVELS, **(log_levels or {}))
        self.settings = settings or ""
        self.routing_table = int(routing_table)
        self.conf = os.path.join(self.workdir, "strongswan.conf")
        self.swanctl_dir = os.path.join(self.workdir, "swanctl")
        self.rundir = os.path.join(self.workdir, "run")
        self.vici_path = os.path.join(self.workdir, "charon.vici")
        self.log_path = os.path.join(self.workdir, "charon.log")
        self.out_path = os.path.join(self.workdir, "charon.out")
        self.proc = None
        self.tun_device = None
        self.started_at = None
        os.makedirs(self.workdir, exist_ok=True)
        for sub in ("x509", "x509ca", "private", "rsa", "ecdsa", "pkcs8", "conf.d"):
            os.makedirs(os.path.join(self.swanctl_dir, sub), exist_ok=True)
        os.makedirs(self.rundir, exist_ok=True)
        self._write_strongswan_conf()
        self.write_config("")

    # -- files ----------------------------------------------------------------------------------------
    def _write_strongswan_conf(self):
        levels = "\n".join(f"                {k} = {v}" for k, v in self.log_levels.items())
        text = f"""# written by tests/integration/strongswan.py for charon {self.name} in {self.ns}
charon {{
    load = {CHARON_PLUGINS}
    install_routes = yes
    install_virtual_ip = no
    routing_table = {self.routing_table}
    routing_table_prio = {self.routing_table}
    port = 500
    port_nat_t = 4500
    retransmit_tries = 3
    retransmit_timeout = 1.0
    retransmit_base = 1.4
    {self.settings}
    filelog {{
        harness {{
            path = {self.log_path}
            time_format = %b %e %T
            ike_name = yes
            append = yes
            flush_line = yes
{levels}
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
    plugins {{
        vici {{
            socket = unix://{self.vici_path}
        }}
        kernel-libipsec {{
            allow_peer_ts = no
        }}
    }}
}}
swanctl {{
    load = {SWANCTL_PLUGINS}
    socket = unix://{self.vici_path}
}}
"""
        with open(self.conf, "w") as f:
            f.write(text)

    def write_config(self, conns, secrets="", certs=None):
        """swanctl.conf with `conns` (swanctl_conn text) in `connections { }` and `secrets` (psk_secret
        text) in `secrets { }`; certs: {path under swanctl/: bytes}, private keys written 0600. Takes
        effect on start() or load()."""
        for rel, data in (certs or {}).items():
            path = os.path.join(self.swanctl_dir, rel)
            if os.path.commonpath([os.path.abspath(path), self.swanctl_dir]) != self.swanctl_dir:
                raise ValueError(f"certificate path {rel} leaves swanctl/")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            if rel.startswith(("private/", "rsa/", "ecdsa/", "pkcs8/")):
                os.chmod(path, 0o600)

        def indent(text):
            return "\n".join(("    " + line) if line else line for line in text.splitlines())

        path = os.path.join(self.swanctl_dir, "swanctl.conf")
        with open(path, "w") as f:
            f.write(f"connections {{\n{indent(conns)}\n}}\nsecrets {{\n{indent(secrets)}\n}}\n")
        os.chmod(path, 0o600)

    # -- life -----------------------------------------------------------------------------------------
    def env(self):
        return dict(os.environ, STRONGSWAN_CONF=self.conf, SWANCTL_DIR=self.swanctl_dir)

    def swanctl(self, *args, check=True, timeout=30):
        """swanctl against this charon (its strongswan.conf, swanctl dir and vici socket)."""
        r = subprocess.run([SWANCTL, *args, "--uri", f"unix://{self.vici_path}"], capture_output=True,
                           text=True, env=self.env(), timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"swanctl {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def start(self, timeout=10):
        """Starts charon in the namespace with /run private to it, waits for its vici socket, loads
        swanctl.conf (swanctl --load-all), and finds the TUN device kernel-libipsec made."""
        if self.proc and self.proc.poll() is None:
            raise RuntimeError(f"charon {self.name} already running")
        for stale in (self.vici_path, os.path.join(self.rundir, "charon.pid")):
            if os.path.exists(stale):
                os.unlink(stale)
        self.log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        script = 'mount --bind "$1" /run && exec "$2"'
        args = ["ip", "netns", "exec", self.ns, "unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", script, "sh", self.rundir, CHARON]
        self.started_at = time.monotonic()
        with open(self.out_path, "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env(), start_new_session=True)
        os.chmod(self.out_path, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"charon {self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log_text()[-3000:]}\n{self._out_text()[-2000:]}")
            if os.path.exists(self.vici_path):
                try:
                    with Vici(self.vici_path, timeout=2) as v:
                        v.request("version")
                    break
                except (OSError, ViciError):
                    pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"charon {self.name}: no vici socket in {timeout} s")
            time.sleep(0.05)
        if os.path.exists(self.log_path):
            os.chmod(self.log_path, 0o600)
        self.load()
        self.tun_device = self._find_tun(deadline)
        return self

    def load(self):
        """swanctl --load-all (again: after write_config on a running charon)."""
        return self.swanctl("--load-all", "--file", os.path.join(self.swanctl_dir, "swanctl.conf"))

    def _find_tun(self, deadline):
        while time.monotonic() < deadline:
            m = re.findall(r"created TUN device: (\S+)", self.log_text(since_start=True))
            if m:
                return m[-1]
            time.sleep(0.05)
        tuns = self.ns_tun_devices()
        return tuns[0] if tuns else None

    def ns_tun_devices(self):
        """The TUN devices now in the namespace (kernel-libipsec's, and any other)."""
        r = _sh("ip", "-n", self.ns, "-d", "-o", "link", "show", check=False)
        return [line.split(":")[1].strip().split("@")[0] for line in r.stdout.splitlines()
                if re.search(r"\btun type tun\b", line)]

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _vici(self, command, msg=None, timeout=10, stream=None):
        with Vici(self.vici_path, timeout=timeout) as v:
            return v.request(command, msg, stream=stream)

    def initiate(self, child, ike=None, timeout=10):
        """Initiates `child` (of connection `ike`); True once it is established, False if charon says it
        failed or did not finish within `timeout` s."""
        msg = {"child": child, "timeout": int(timeout * 1000), "init-limits": "no"}
        if ike:
            msg["ike"] = ike
        try:
            r = self._vici("initiate", msg, timeout=timeout + 5)
        except (OSError, ViciError):
            return False
        return r.get("success") == "yes"

    def terminate(self, ike=None, child=None, timeout=10, force=False):
        """Deletes an IKE SA (with its children) or a CHILD_SA, by configuration name; True on success."""
        msg = {"timeout": int(timeout * 1000)}
        if ike:
            msg["ike"] = ike
        if child:
            msg["child"] = child
        if force:
            msg["force"] = "yes"
        r = self._vici("terminate", msg, timeout=timeout + 5)
        return r.get("success") == "yes"

    def rekey(self, child=None, ike=None, reauth=False):
        """Starts a rekeying (child or IKE SA, by name); returns once charon has queued it (poll list_sas
        for the new SPIs)."""
        msg = {}
        if child:
            msg["child"] = child
        if ike:
            msg["ike"] = ike
        if reauth:
            msg["reauth"] = "yes"
        r = self._vici("rekey", msg)
        if r.get("success") != "yes":
            raise RuntimeError(f"rekey {msg}: {r.get('errmsg')}")
        return int(r.get("matches", "0"))

    def list_sas(self, ike=None):
        """The IKE SAs: one dict each, vici's keys ("state", "initiator-spi", "responder-spi" (int),
        "encr-alg", "dh-group", "local-host", "remote-port", ...) plus "name", and "children": a list of
        dicts ("name", "state", "spi-in", "spi-out" (int), "bytes-in", "packets-out" (int), "local-ts",
        "remote-ts" (lists), "reqid", "encap", ...)."""
        msg = {"ike": ike} if ike else {}
        _, events = self._vici("list-sas", msg, stream="list-sa")
        out = []
        for event in events:
            for name, sa in event.items():
                ike_sa = _typed({k: v for k, v in sa.items() if k != "child-sas"})
                ike_sa["name"] = name
                ike_sa["children"] = []
                for key, child in (sa.get("child-sas") or {}).items():
                    c = _typed(child)
                    c.setdefault("name", key)
                    c["key"] = key
                    ike_sa["children"].append(c)
                out.append(ike_sa)
        return out

    def wait_for(self, predicate, timeout=10, interval=0.1):
        """Polls predicate(self.list_sas()) until it returns something true; returns that, or None."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = predicate(self.list_sas())
            except (OSError, ViciError):
                got = None
            if got:
                return got
            if time.monotonic() > deadline:
                return None
            time.sleep(interval)

    def kill(self):
        """SIGKILL (a router that dies): no DELETE sent. Then removes what charon would have: its
        routing rules (routing_table) in the namespace, its pid file and vici socket. The TUN device and
        the routes through it go with the process, the private /run with its mount namespace."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._cleanup()

    def stop(self, timeout=10):
        """SIGTERM (charon deletes its SAs, tells the peer), SIGKILL if it hangs; nothing left behind."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._cleanup()

    def _cleanup(self):
        self._wait_gone(self.tun_device)
        for family in ("-4", "-6"):
            for _ in range(8):  # one rule per family, more if a killed charon was started again
                r = _sh("ip", "-n", self.ns, family, "rule", "del", "table", str(self.routing_table),
                        check=False)
                if r.returncode != 0:
                    break
        for stale in (self.vici_path, os.path.join(self.rundir, "charon.pid")):
            if os.path.exists(stale):
                os.unlink(stale)

    def _wait_gone(self, dev, timeout=3):
        deadline = time.monotonic() + timeout
        while dev and time.monotonic() < deadline:
            if dev not in self.ns_tun_devices():
                return
            time.sleep(0.05)

    def leftovers(self):
        """What of this charon is still there (empty when nothing): processes in its mount namespace,
        its TUN device, rules for table 220, pid file, vici socket."""
        left = []
        if self.proc and self.proc.poll() is None:
            left.append(f"process {self.proc.pid}")
        for pid in _sh("ip", "netns", "pids", self.ns, check=False).stdout.split():
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if exe == CHARON:
                left.append(f"charon pid {pid} in {self.ns}")
        if self.tun_device and self.tun_device in self.ns_tun_devices():
            left.append(f"TUN {self.tun_device}")
        for family in ("-4", "-6"):
            r = _sh("ip", "-n", self.ns, family, "rule", "show", check=False).stdout
            if re.search(rf"lookup {self.routing_table}\b", r):
                left.append(f"ip {family} rule lookup {self.routing_table}")
        for path in (self.vici_path, os.path.join(self.rundir, "charon.pid")):
            if os.path.exists(path):
                left.append(path)
        return left

    # -- log ------------------------------------------------------------------------------------------
    def _out_text(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_text(self, since_start=False, keys=False):
        """charon's log (all starts, or the latest), the key hex dumps removed unless keys=True."""
        try:
            with open(self.log_path, "rb") as f:
                if since_start:
                    f.seek(getattr(self, "log_offset", 0))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return text if keys else _redact(text)

    def derived_esp_keys(self):
        """The CHILD_SA keys charon derived (chd >= 4), one dict per CHILD_SA installed, in log order:
        {"ike": IKE SA name, "spi_in", "spi_out" (int), "initiator": whether this charon initiated
        the CREATE_CHILD_SA/IKE_AUTH exchange, "encr_in", "encr_out", "integ_in", "integ_out" (bytes;
        integ_* empty for AEAD; encr includes the salt: 20 bytes for AES-128-GCM)}. The keys stay in
        memory: compare them, never print them."""
        return _parse_child_keys(self.log_text(keys=True))


# "... 05[CHD] <r1|1> encryption initiator key => 20 bytes @ 0x7f..." followed by lines of the same
# thread "... 05[CHD] <r1|1>    0: 01 02 ...  ascii"; the IKE message handled by a thread comes before
# (in that thread) as "parsed CREATE_CHILD_SA request|response".
_LINE = re.compile(r"^\S+\s+\d+\s+[\d:]+\s+(\d+)\[(\w+)\]\s+(?:<([^>]*)>\s)?(.*)$")
_DUMP_HEAD = re.compile(r"=> \d+ bytes @ (?:0x)?[0-9a-f]+$")
_HEXLINE = re.compile(r"^\s*\d+: ((?:[0-9A-F]{2} )*[0-9A-F]{2})")


def _redact(text):
    """The log without the hex dumps that follow "... => N bytes @ 0x..." lines (keys, seeds)."""
    out = []
    dumping = set()  # threads whose last line began a dump
    for line in text.splitlines(keepends=True):
        m = _LINE.match(line.rstrip("\n"))
        if m:
            tid, msg = m.group(1), m.group(4)
            if tid in dumping and _HEXLINE.match(msg):
                continue
            dumping.discard(tid)
            if _DUMP_HEAD.search(msg):
                dumping.add(tid)
                line = line.rstrip("\n") + " [dump removed]\n"
        out.append(line)
    return "".join(out)


def _parse_child_keys(text):
    role = {}      # thread id -> True if its last parsed IKE message was a response (we initiated)
    cur = {}       # thread id -> the key set that thread is deriving and installing
    reading = {}   # thread id -> (key dict, key name, length) while reading a hex dump
    done = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        tid, group, ike, msg = m.groups()
        if tid in reading:
            keys, name, length = reading[tid]
            h = _HEXLINE.match(msg)
            if h:
                keys[name] += bytes.fromhex(h.group(1).replace(" ", ""))
                if len(keys[name]) >= length:
                    del reading[tid]
                continue
            del reading[tid]
        p = re.match(r"parsed \S+ (request|response)", msg)
        if p and group == "ENC":
            role[tid] = p.group(1) == "response"
            continue
        k = re.match(r"(encryption|integrity) (initiator|responder) key => (\d+) bytes", msg)
        if k and group == "CHD":
            c = cur.get(tid)
            if c is None or c["sas"]:
                c = cur[tid] = {"ike": (ike or "").split("|")[0], "keys": {}, "sas": [],
                                "initiator": role.get(tid)}
            name = f"{k.group(1)}_{k.group(2)}"
            c["keys"][name] = b""
            if int(k.group(3)):
                reading[tid] = (c["keys"], name, int(k.group(3)))
            continue
        c = cur.get(tid)
        if c is None:
            continue
        # A responder of a CHILD_SA rekeying "registers" the outbound SA and installs it only once the
        # old one is deleted (another thread, no keys logged there): the registration has the keys.
        a = re.match(r"(?:adding|registering) (inbound|outbound) ESP SA", msg)
        if a and group == "CHD":
            c["sas"].append({"dir": a.group(1)})
            continue
        s = re.match(r"\s*SPI 0x([0-9a-f]+), src (\S+) dst (\S+)", msg)
        if s and group == "CHD" and c["sas"] and "spi" not in c["sas"][-1]:
            c["sas"][-1].update(spi=int(s.group(1), 16), src=s.group(2), dst=s.group(3))
            if sum("spi" in sa for sa in c["sas"]) == 2:
                done.append(_key_entry(c))
                del cur[tid]
    return done


class Secret(bytes):
    """Key bytes that do not show themselves: repr() and str() give the length only, so that a failing
    assertion or a debug print cannot put a key in the test output. Compares and slices as bytes."""

    def __repr__(self):
        return f"<secret: {len(self)} bytes>"

    __str__ = __repr__


def _key_entry(c):
    """child_create.c installs the inbound SA first, with the keys of the peer's direction: the
    responder keys at the exchange's initiator, the initiator keys at its responder."""
    keys = c["keys"]
    sa_in = next(sa for sa in c["sas"] if sa["dir"] == "inbound")
    sa_out = next(sa for sa in c["sas"] if sa["dir"] == "outbound")
    mine, peer = ("initiator", "responder") if c["initiator"] else ("responder", "initiator")
    return {
        "ike": c["ike"], "initiator": c["initiator"],
        "spi_in": sa_in["spi"], "spi_out": sa_out["spi"], "src_out": sa_out["src"], "dst_out": sa_out["dst"],
        "encr_in": Secret(keys.get(f"encryption_{peer}", b"")),
        "encr_out": Secret(keys.get(f"encryption_{mine}", b"")),
        "integ_in": Secret(keys.get(f"integrity_{peer}", b"")),
        "integ_out": Secret(keys.get(f"integrity_{mine}", b"")),
    }
