#!/usr/bin/env bash
# Builds the nemo-ha .deb from what `meson install` places (scripts/package/meson.build says where):
# a release build with --prefix=/usr, installed with DESTDIR into a staging tree, DEBIAN/ written next
# to it (control with Depends from the shared libraries the binaries really link, conffiles, md5sums,
# maintainer scripts), packed with dpkg-deb. Prints the .deb's path on the last line.
#
#   scripts/build_deb.sh [--build-dir DIR] [--out DIR]      (defaults: build-deb, build-deb)
#
# The package does not enable or start the service: /etc/nemo-ha/nemo-ha.ini names example PCI
# addresses, to be changed first (systemctl enable --now nemo-ha after).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${NEMO_DEB_BUILD_DIR:-build-deb}
out=${NEMO_DEB_OUT:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "build_deb.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
out=${out:-$build}
for tool in meson ninja dpkg-deb dpkg; do
    command -v "$tool" >/dev/null || { echo "build_deb.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

# A build of its own: the prefix is /usr (Debian's), optimised, no tests or benchmarks, and no
# -march=native, so that the package runs on any x86-64 the distribution does.
if [ -f "$build/build.ninja" ]; then
    prefix=$(meson introspect --buildoptions "$build" | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
    [ "$prefix" = /usr ] || { echo "build_deb.sh: $build is configured with prefix $prefix, not /usr: give another --build-dir" >&2; exit 1; }
else
    meson setup "$build" --prefix=/usr --buildtype=release -Dtests=disabled -Dbenchmarks=disabled >/dev/null
fi
ninja -C "$build" >/dev/null

version=$(meson introspect --projectinfo "$build" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/nemo-ha-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
pkg=$stage/nemo-ha
DESTDIR=$pkg meson install -C "$build" --no-rebuild --quiet >/dev/null

# Debian's conventions for what the install leaves: stripped binaries, compressed man pages, a copyright.
for bin in "$pkg"/usr/sbin/nemo-ha "$pkg"/usr/bin/nemo-hactl; do
    [ -x "$bin" ] || { echo "build_deb.sh: meson install left no $bin" >&2; exit 1; }
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$bin"
done
find "$pkg/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
doc=$pkg/usr/share/doc/nemo-ha
install -d "$doc"
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: nemo-ha

Files: *
License: BSD-3-Clause
EOF

# Depends: the packages of the shared libraries the binaries link (dpkg-shlibdeps, from the libraries'
# shlibs and symbols files), else the packages ldd's libraries come from. Plus what EAL loads as a
# plugin and no linker sees: the ring mempool driver every mbuf pool uses.
shlibs=""
if command -v dpkg-shlibdeps >/dev/null; then
    work=$stage/shlibdeps
    mkdir -p "$work/debian"
    printf 'Source: nemo-ha\n\nPackage: nemo-ha\nArchitecture: any\n' > "$work/debian/control"
    shlibs=$(cd "$work" && dpkg-shlibdeps -O --warnings=0 -e"$pkg/usr/sbin/nemo-ha" -e"$pkg/usr/bin/nemo-hactl" 2>/dev/null |
             sed -n 's/^shlibs:Depends=//p') || shlibs=""
    rm -rf "$work"
fi
if [ -z "$shlibs" ]; then
    shlibs=$(ldd "$pkg/usr/sbin/nemo-ha" "$pkg/usr/bin/nemo-hactl" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
             while read -r lib; do dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null; done |
             cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
fi
mempool=$(dpkg -S 'dpdk/pmds-*/librte_mempool_ring.so.*' 2>/dev/null | cut -d: -f1 | sort -u | head -n1)
depends=$shlibs${mempool:+, $mempool}

install -d "$pkg/DEBIAN"
cat > "$pkg/DEBIAN/control" <<EOF
Package: nemo-ha
Version: $version
Architecture: $arch
Maintainer: nemo-ha developers <nemo-ha@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: $depends
Recommends: dpdk
Section: net
Priority: optional
Homepage: https://datatracker.ietf.org/doc/draft-wakikawa-nemo-v4tunnel/
Description: NEMO home agent with IPv4 care-of addresses, on DPDK
 A home agent for NEMO mobile routers (RFC 3963) and Mobile IPv6 hosts
 (RFC 6275) whose care-of address may be IPv4
 (draft-wakikawa-nemo-v4tunnel-01): IPv6-in-IPv4, GRE, UDP, ESP and
 ESP-in-UDP tunnels, forwarded by DPDK worker lcores, with durable state.
 .
 nemo-ha is the daemon (a systemd service, nemo-ha.service); nemo-hactl its
 operator's client. The dpdk package (recommended) brings dpdk-devbind.py,
 dpdk-hugepages.py, dpdk-dumpcap and the NIC drivers.
EOF
while read -r f; do
    [ -z "$f" ] && continue
    [ -f "$pkg$f" ] || { echo "build_deb.sh: conffile $f is not in the install tree" >&2; exit 1; }
    echo "$f"
done < scripts/package/conffiles > "$pkg/DEBIAN/conffiles"

# Maintainer scripts: systemd learns of the unit (and forgets it), a removal stops the service, a purge
# removes the state store (it holds SA keys). $DPKG_ROOT: correct when dpkg installs into another root
# (dpkg --root ... --force-script-chrootless).
cat > "$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -z "$DPKG_ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
exit 0
EOF
cat > "$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -z "$DPKG_ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl stop nemo-ha.service || true
fi
exit 0
EOF
cat > "$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
    rm -rf "$DPKG_ROOT/var/lib/nemo-ha"
fi
if [ -z "$DPKG_ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
exit 0
EOF
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"

mkdir -p "$out"
deb=$(cd "$out" && pwd)/nemo-ha_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
