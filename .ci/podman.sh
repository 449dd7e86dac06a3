#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (root, no systemd) for the Podman
# backend's real-engine tests, and is cheap to run again: what a previous run
# wrote or started is reused.
#
#   1. installs podman (4.3.1 on Debian 12), uidmap, slirp4netns and
#      fuse-overlayfs when missing;
#   2. writes /etc/containers/containers.conf: runc, cgroupfs (no systemd),
#      file events, default ulimits within this machine's hard limits (the
#      defaults, 1048576 open files, are over them and every run fails),
#      runsc in [engine.runtimes]; and lists the local registry
#      127.0.0.1:5000 as insecure (registries.conf.d/50-launch-ci.conf);
#   3. starts a rootful `podman system service` on /run/podman/podman.sock in
#      the background when nothing answers there (log:
#      /var/log/launch-ci/podman-rootful.log), and imports the test images
#      (launch-test/busybox:latest, launch-test/debian:bookworm) from
#      .ci/rootfs.sh's trees into rootful storage;
#   4. for the rootless tests, the test user (uid 1000): subuid/subgid
#      entries, a rootless storage.conf (native overlay under its home), a
#      service on /run/user/1000/podman/podman.sock, the same images.
#
# Usage: .ci/podman.sh   (as root; after .ci/rootfs.sh)
set -euo pipefail
# The services started below keep this script's working directory: / is the
# one that cannot be removed under them (a CI checkout can; conmon then fails
# with "Failed to get working directory").
cd /

cache=/var/cache/launch-ci
logdir=/var/log/launch-ci
mkdir -p "$logdir"
log() { echo "podman.sh: $*" >&2; }

# ---- 1. packages -------------------------------------------------------------
need=()
# catatonit: the init that --init mounts as PID 1 (launch runs every agent
# under it; --no-install-recommends would leave it out).
for pkg in podman uidmap slirp4netns fuse-overlayfs catatonit; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- 2. containers.conf --------------------------------------------------------
hard() { # hard LIMIT: the hard limit, capped at 1048576 ("unlimited" too)
	local v
	v=$(ulimit -H "$1")
	if [ "$v" = unlimited ] || [ "$v" -gt 1048576 ]; then v=1048576; fi
	echo "$v"
}
nofile=$(hard -n)
# nproc: the service's own limit may be under the shell's (32768 here while
# the shell had 96365; runc then cannot set it); 4096 is plenty for an agent.
nproc=$(hard -u)
[ "$nproc" -le 4096 ] || nproc=4096
conf=$(
	cat <<EOF
# Written by launch's .ci/podman.sh: a machine without systemd, whose hard
# limits are under Podman's default ulimits.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[engine.runtimes]
runsc = ["/usr/local/bin/runsc"]
EOF
)
if [ "$(cat /etc/containers/containers.conf 2>/dev/null)" != "$conf" ]; then
	log "writing /etc/containers/containers.conf"
	mkdir -p /etc/containers
	printf '%s\n' "$conf" >/etc/containers/containers.conf
	restart=1
fi

# The local registry of .ci/docker.sh speaks plain HTTP: listed as insecure,
# so that the pull tests reach it over HTTP; no other registry is.
regconf="[[registry]]
location = \"127.0.0.1:5000\"
insecure = true"
if [ "$(cat /etc/containers/registries.conf.d/50-launch-ci.conf 2>/dev/null)" != "$regconf" ]; then
	log "writing /etc/containers/registries.conf.d/50-launch-ci.conf"
	mkdir -p /etc/containers/registries.conf.d
	printf '%s\n' "$regconf" >/etc/containers/registries.conf.d/50-launch-ci.conf
	restart=1
fi

# ---- 3. rootful service ----------------------------------------------------------
# up SOCKET [USER]: the service on SOCKET answers (as USER).
up() {
	local sock=$1 user=${2:-root}
	[ -S "$sock" ] || return 1
	if [ "$user" = root ]; then
		timeout 5 podman --url "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1
	else
		timeout 5 runuser -u "$user" -- podman --url "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1
	fi
}

# stop_service PIDFILE: stops the service we started, by its pid file only.
stop_service() {
	local pid
	pid=$(cat "$1" 2>/dev/null || true)
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
	rm -f "$1"
}

rootful_sock=/run/podman/podman.sock
if [ "${restart:-0}" = 1 ]; then stop_service /run/launch-ci-podman.pid; fi
if ! up "$rootful_sock"; then
	log "starting the rootful podman service on $rootful_sock (log: $logdir/podman-rootful.log)"
	mkdir -p /run/podman
	rm -f "$rootful_sock"
	nohup podman system service --time=0 "unix://$rootful_sock" >>"$logdir/podman-rootful.log" 2>&1 &
	echo $! >/run/launch-ci-podman.pid
	for _ in $(seq 1 60); do up "$rootful_sock" && break; sleep 0.5; done
	up "$rootful_sock" || { log "the rootful service did not answer; last lines of its log:"; tail -n 30 "$logdir/podman-rootful.log" >&2; exit 1; }
fi

# import_image DIR REF [USER]: REF from the tree DIR, when missing or older
# than the tree (the tree's .complete stamp is in a label).
import_image() {
	local dir=$1 ref=$2 user=${3:-root} stamp have
	stamp=$(cat "$dir/.complete")
	local run=()
	[ "$user" = root ] || run=(runuser -u "$user" --)
	have=$("${run[@]}" podman image inspect --format 'stamp:{{index .Labels "dev.launch.ci.stamp"}}' "$ref" 2>/dev/null || true)
	[ "$have" = "stamp:$stamp" ] && return 0
	log "importing $dir as $ref ($user)"
	tar -C "$dir" --exclude ./.complete -c . |
		"${run[@]}" podman import -q --change "LABEL dev.launch.ci.stamp=$stamp" --change 'CMD ["/bin/sh"]' - "$ref" >/dev/null
}
import_image "$cache/busybox" launch-test/busybox:latest
import_image "$cache/debian" launch-test/debian:bookworm

# load_from_docker REF [USER]: REF from dockerd's store (.ci/docker.sh builds
# it: launch-test/setuid), as localhost/REF, when missing or another build.
load_from_docker() {
	local ref=$1 user=${2:-root} stamp have
	stamp=$(docker image inspect -f '{{index .Config.Labels "dev.launch.ci.stamp"}}' "$ref")
	local run=()
	[ "$user" = root ] || run=(runuser -u "$user" --)
	have=$("${run[@]}" podman image inspect --format 'stamp:{{index .Labels "dev.launch.ci.stamp"}}' "localhost/$ref" 2>/dev/null || true)
	[ "$have" = "stamp:$stamp" ] && return 0
	log "loading $ref from docker ($user)"
	local tar
	tar=$(mktemp /tmp/launch-ci-image.XXXXXX.tar)
	docker save "$ref" -o "$tar"
	chmod 0644 "$tar"
	"${run[@]}" podman load -q -i "$tar" >/dev/null
	rm -f "$tar"
}
load_from_docker launch-test/setuid:latest

# ---- 4. rootless, as the test user -----------------------------------------------
user=$(getent passwd 1000 | cut -d: -f1)
if [ -z "$user" ]; then
	log "no user with uid 1000 (.ci/run creates one); skipping rootless"
	exit 0
fi
home=$(getent passwd 1000 | cut -d: -f6)
# Rootless podman maps the container's ids onto subordinate ones.
grep -q "^$user:" /etc/subuid || usermod --add-subuids 200000-265535 "$user"
grep -q "^$user:" /etc/subgid || usermod --add-subgids 200000-265535 "$user"
# Native overlay works rootless here; graphroot is ignored rootless, so the
# place is rootless_storage_path.
runuser -u "$user" -- mkdir -p "$home/.config/containers"
storage="[storage]
driver = \"overlay\"
rootless_storage_path = \"$home/.local/share/containers/storage\""
if [ "$(cat "$home/.config/containers/storage.conf" 2>/dev/null)" != "$storage" ]; then
	printf '%s\n' "$storage" | runuser -u "$user" -- tee "$home/.config/containers/storage.conf" >/dev/null
fi
# The default rootless network (slirp4netns) needs /dev/net/tun usable by
# the user; --network none needs nothing.
chmod 0666 /dev/net/tun 2>/dev/null || true
rundir=/run/user/1000
mkdir -p "$rundir"
chown "$user:" "$rundir"
chmod 0700 "$rundir"
rootless_sock=$rundir/podman/podman.sock
# The pid file is written by the service's own shell (exec), so that it is
# podman's pid, not runuser's.
pidfile=$rundir/podman/launch-ci.pid
if [ "${restart:-0}" = 1 ]; then stop_service "$pidfile"; fi
if ! up "$rootless_sock" "$user"; then
	log "starting the rootless podman service on $rootless_sock (log: $logdir/podman-rootless.log)"
	# The service does not create its socket's directory.
	runuser -u "$user" -- mkdir -p "$rundir/podman"
	rm -f "$rootless_sock"
	touch "$logdir/podman-rootless.log"
	chown "$user:" "$logdir/podman-rootless.log"
	nohup runuser -u "$user" -- env XDG_RUNTIME_DIR="$rundir" HOME="$home" \
		sh -c 'echo $$ >"$1"; exec podman system service --time=0 "unix://$2"' sh "$pidfile" "$rootless_sock" \
		>>"$logdir/podman-rootless.log" 2>&1 &
	for _ in $(seq 1 60); do up "$rootless_sock" "$user" && break; sleep 0.5; done
	up "$rootless_sock" "$user" || { log "the rootless service did not answer; last lines of its log:"; tail -n 30 "$logdir/podman-rootless.log" >&2; exit 1; }
fi
export XDG_RUNTIME_DIR=$rundir
import_image "$cache/busybox" launch-test/busybox:latest "$user"
import_image "$cache/debian" launch-test/debian:bookworm "$user"
load_from_docker launch-test/setuid:latest "$user"
log "ready: rootful unix://$rootful_sock, rootless (uid 1000) unix://$rootless_sock"
