#!/usr/bin/env bash
# Installs Apptainer 1.4.3 from source into /usr/local and builds the SIF and
# sandbox test images used by backend/singularity's integration tests, without
# any registry. Run as root on a fresh Debian 12. Idempotent: an installed
# apptainer that already reports 1.4.3 is reused, and existing images are kept.
#
# Usage: .ci/apptainer.sh [IMAGEDIR]   (default /var/cache/launch-ci)
# Afterwards: IMAGEDIR/busybox.sif, IMAGEDIR/busybox-path.sif (a PATH of its
# own), IMAGEDIR/busybox.sandbox/ and IMAGEDIR/debian.sif exist, and so does
# the unprivileged user launchtest.
set -euo pipefail

version=1.4.3
# The module hash Go's checksum database records for apptainer v1.4.3; the
# download is refused unless it matches.
want_sum='h1:2gBgyoYkEI5pAlP7uYBPW7cCrJkfSl8uaEE0se8kubk='
imgdir=${1:-/var/cache/launch-ci}
here=$(cd "$(dirname "$0")" && pwd)
work=${APPTAINER_BUILD_DIR:-/var/cache/launch-ci/apptainer-src}

installed() {
	command -v apptainer >/dev/null 2>&1 &&
		apptainer --version 2>/dev/null | grep -qx "apptainer version $version"
}

# Build and run-time dependencies of apptainer, and what .ci/rootfs.sh needs
# (debootstrap, a static busybox). Go itself must be on PATH already.
pkgs="build-essential libseccomp-dev libsubid-dev pkg-config fakeroot cryptsetup tzdata squashfs-tools squashfuse fuse2fs libfuse3-dev uidmap debootstrap busybox-static"
# shellcheck disable=SC2086 # word splitting wanted
if ! dpkg -s $pkgs >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends $pkgs
fi

if installed; then
	echo "apptainer $version already installed: $(command -v apptainer)"
else

	# Fetch through the Go module proxy; the source is the tagged module.
	# Outside any module, so that no go.mod is touched.
	json=$(cd / && GONOSUMDB=github.com/apptainer/apptainer GOFLAGS=-mod=mod \
		go mod download -json "github.com/apptainer/apptainer@v$version")
	sum=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$/\1/p')
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	if [ "$sum" != "$want_sum" ]; then
		echo "apptainer v$version: module hash $sum, want $want_sum" >&2
		exit 1
	fi
	# The module cache is read-only; build in a writable copy.
	rm -rf "$work"
	mkdir -p "$(dirname "$work")"
	cp -r "$dir" "$work"
	chmod -R u+w "$work"
	cd "$work"
	# Module zips do not keep the executable bit.
	grep -rlI --exclude-dir=vendor -m1 '^#!' . 2>/dev/null | while read -r f; do
		head -c2 "$f" | grep -q '^#!' && chmod +x "$f"
	done
	echo "$version" >VERSION
	# apptainer's Makefile runs `go clean -cache`; keep that away from the
	# caller's build cache.
	export GOCACHE="$work/.gocache"
	./mconfig -p /usr/local
	make -C builddir
	make -C builddir install
	cd /
	installed || {
		echo "apptainer $version: install finished but apptainer --version disagrees" >&2
		exit 1
	}
fi

# Test images, from the registry-free busybox tree. Both are built from the
# directory through a definition file: building the sandbox from the SIF
# would unpack it, which root cannot do here (no CAP_SYS_RESOURCE).
"$here/rootfs.sh" "$imgdir" >/dev/null
def=$(mktemp)
trap 'rm -f "$def"' EXIT
definition() { # definition TREE
	cat >"$def" <<DEF
Bootstrap: localimage
From: $imgdir/$1

%labels
    org.launchcli.test $1
DEF
}
definition busybox
# An image older than its tree (rootfs.sh rebuilt it) is built anew.
if [ ! -e "$imgdir/busybox.sif" ] || [ "$imgdir/busybox.sif" -ot "$imgdir/busybox/.complete" ]; then
	apptainer build --force "$imgdir/busybox.sif.tmp" "$def"
	mv "$imgdir/busybox.sif.tmp" "$imgdir/busybox.sif"
fi
if [ ! -e "$imgdir/busybox.sandbox/.complete" ] || [ "$imgdir/busybox.sandbox/.complete" -ot "$imgdir/busybox/.complete" ]; then
	rm -rf "$imgdir/busybox.sandbox"
	apptainer build --sandbox "$imgdir/busybox.sandbox" "$def"
	touch "$imgdir/busybox.sandbox/.complete"
fi
# busybox with a PATH of its own in %environment, not the fallback one, and
# a command only that PATH finds: the PATH tests check that the agent gets
# the SIF's PATH, with launch's directories in front of it.
cat >"$def" <<DEF
Bootstrap: localimage
From: $imgdir/busybox

%setup
    mkdir -p "\$APPTAINER_ROOTFS/opt/sif/bin"
    printf '#!/bin/sh\necho sif-tool\n' >"\$APPTAINER_ROOTFS/opt/sif/bin/sif-tool"
    chmod 755 "\$APPTAINER_ROOTFS/opt/sif/bin/sif-tool"

%environment
    export PATH=/opt/sif/bin:/bin:/usr/bin

%labels
    org.launchcli.test busybox-path
DEF
if [ ! -e "$imgdir/busybox-path.sif" ] || [ "$imgdir/busybox-path.sif" -ot "$imgdir/busybox/.complete" ]; then
	apptainer build --force "$imgdir/busybox-path.sif.tmp" "$def"
	mv "$imgdir/busybox-path.sif.tmp" "$imgdir/busybox-path.sif"
fi
# Debian, for the diagnostics a user runs with a real bash.
definition debian
if [ ! -e "$imgdir/debian.sif" ]; then
	apptainer build --force "$imgdir/debian.sif.tmp" "$def"
	mv "$imgdir/debian.sif.tmp" "$imgdir/debian.sif"
fi

# The unprivileged user the integration tests run as, too (the HPC case).
# Plain user namespaces need no /etc/subuid entry; --fakeroot would.
id launchtest >/dev/null 2>&1 || useradd --create-home --shell /bin/sh launchtest

# The test user must be able to read the images.
chmod a+rx "$imgdir"
chmod -R a+rX "$imgdir/busybox.sif" "$imgdir/busybox-path.sif" "$imgdir/busybox.sandbox" "$imgdir/debian.sif"
printf '%s\n' "$imgdir/busybox.sif" "$imgdir/busybox-path.sif" "$imgdir/busybox.sandbox" "$imgdir/debian.sif"
