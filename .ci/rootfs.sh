#!/usr/bin/env bash
# Builds the root filesystems that the real-engine tests turn into images,
# without any registry: a busybox tree and a minimal Debian tree, each with the
# image user devuser (1000:1000, home /home/devuser) that launch expects.
# Idempotent: a tree that is already complete is kept (debootstrap takes
# minutes). Usage: .ci/rootfs.sh [DIR]  (default /var/cache/launch-ci)
set -euo pipefail
dir=${1:-/var/cache/launch-ci}
mkdir -p "$dir"

add_user() { # add_user ROOT
	local root=$1
	mkdir -p "$root/etc" "$root/home/devuser" "$root/tmp"
	chmod 1777 "$root/tmp"
	grep -q '^root:' "$root/etc/passwd" 2>/dev/null || echo 'root:x:0:0:root:/root:/bin/sh' >>"$root/etc/passwd"
	grep -q '^root:' "$root/etc/group" 2>/dev/null || echo 'root:x:0:' >>"$root/etc/group"
	grep -q '^devuser:' "$root/etc/passwd" || echo 'devuser:x:1000:1000:devuser:/home/devuser:/bin/sh' >>"$root/etc/passwd"
	grep -q '^devuser:' "$root/etc/group" || echo 'devuser:x:1000:' >>"$root/etc/group"
	chown 1000:1000 "$root/home/devuser"
}

# busybox: static busybox with every applet linked, /bin/sh and /bin/bash
# (ash) so that agent commands written for bash still start.
# The content of .complete is the tree's version: bump it when the tree
# changes, and the tree (and the images made from it) are built anew.
bb="$dir/busybox"
bbversion=2
if [ "$(cat "$bb/.complete" 2>/dev/null)" != "$bbversion" ]; then
	rm -rf "$bb"
	mkdir -p "$bb/bin" "$bb/proc" "$bb/sys" "$bb/dev" "$bb/etc" "$bb/root" "$bb/usr/bin" "$bb/usr/local/bin" "$bb/var/tmp"
	cp /bin/busybox "$bb/bin/busybox"
	for applet in $("$bb/bin/busybox" --list); do
		[ -e "$bb/bin/$applet" ] || ln -s busybox "$bb/bin/$applet"
	done
	# busybox has no bash applet: bash is sh (ash) under another name.
	rm -f "$bb/bin/bash"
	printf '#!/bin/sh\nexec /bin/busybox sh "$@"\n' >"$bb/bin/bash"
	chmod 755 "$bb/bin/bash"
	add_user "$bb"
	echo "$bbversion" >"$bb/.complete"
fi

# debian: bookworm minbase, for tests that need a real bash and coreutils.
deb="$dir/debian"
if [ ! -e "$deb/.complete" ]; then
	rm -rf "$deb"
	debootstrap --variant=minbase bookworm "$deb" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
	chroot "$deb" sh -c 'getent passwd devuser >/dev/null || (groupadd -g 1000 devuser && useradd -m -u 1000 -g 1000 -s /bin/bash devuser)'
	rm -rf "$deb/var/cache/apt/archives"/*.deb "$deb/var/lib/apt/lists"/*
	touch "$deb/.complete"
fi
echo "$dir"
