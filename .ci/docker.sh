#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (root, no systemd) for the Docker
# backend's real-engine tests, and is cheap to run again: everything a
# previous run installed, started or built is reused.
#
#   1. installs docker.io, containerd, runc, debootstrap, busybox-static and
#      docker-registry when missing;
#   2. starts dockerd in the background when no engine answers
#      (log: /var/log/launch-ci/dockerd.log) and waits for it;
#   3. builds the test images without any registry, from .ci/rootfs.sh's
#      trees: launch-test/busybox:latest, launch-test/debian:bookworm and
#      launch-test/setuid:latest (Debian with a setuid-root copy of id);
#   4. runs Debian's docker-registry on 127.0.0.1:5000 and pushes there what
#      the tests read: launch-test/pull:latest (backend/docker's pull tests)
#      and launch-test/busybox:latest (backend/singularity's TestApptainerPull);
#   5. installs gVisor's runsc (static, CGO_ENABLED=0), registers it in
#      /etc/docker/daemon.json and restarts dockerd when that file changed.
#
# Usage: .ci/docker.sh   (as root; LAUNCH_CI_SKIP_RUNSC=1 skips step 5)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# The daemons started below keep this script's working directory: / is the
# one that cannot be removed under them (a CI checkout can).
cd /
logdir=/var/log/launch-ci
cache=/var/cache/launch-ci
registry=127.0.0.1:5000
# runsc is built from gvisor.dev/gvisor as the Go module proxy serves it,
# at RUNSC_VERSION; when that does not build, at RUNSC_FALLBACK, the version
# that built and ran here (CGO_ENABLED=0, Go 1.26).
RUNSC_VERSION=${RUNSC_VERSION:-latest}
RUNSC_FALLBACK=${RUNSC_FALLBACK:-v0.0.0-20260905035102-160fafc42237}
mkdir -p "$logdir" "$cache"

log() { echo "docker.sh: $*" >&2; }

# ---- 1. packages -----------------------------------------------------------
need=()
for pkg in docker.io containerd runc debootstrap busybox-static docker-registry; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" iptables >/dev/null
fi

# ---- 2. dockerd --------------------------------------------------------------
engine_up() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

wait_engine() {
	for _ in $(seq 1 60); do
		engine_up && return 0
		sleep 1
	done
	log "dockerd did not answer within 60s; last lines of $logdir/dockerd.log:"
	tail -n 30 "$logdir/dockerd.log" >&2 || true
	return 1
}

start_dockerd() {
	# containerd first: Debian's dockerd would start its own, but one started
	# here survives dockerd restarts (runsc registration) and keeps its log.
	if ! timeout 5 ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1; then
		nohup containerd >"$logdir/containerd.log" 2>&1 &
		for _ in $(seq 1 20); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.5; done
	fi
	# Docker's bridge network needs forwarding; default iptables rules work on
	# these machines (checked), so dockerd keeps its defaults.
	sysctl -qw net.ipv4.ip_forward=1 2>/dev/null || true
	log "starting dockerd (log: $logdir/dockerd.log)"
	nohup dockerd --containerd=/run/containerd/containerd.sock >>"$logdir/dockerd.log" 2>&1 &
	echo $! >/run/launch-ci-dockerd.pid
	wait_engine
}

stop_dockerd() {
	# By pid file only: dockerd writes /run/docker.pid, start_dockerd ours.
	local pid
	pid=$(cat /run/docker.pid 2>/dev/null || cat /run/launch-ci-dockerd.pid 2>/dev/null || true)
	[ -n "$pid" ] || { log "dockerd has no pid file; restart it by hand to load $daemon_json"; return 1; }
	log "stopping dockerd ($pid)"
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
	kill -9 "$pid" 2>/dev/null || true
}

if ! engine_up; then
	start_dockerd
fi

# ---- 3. test images, no registry ---------------------------------------------
"$here/rootfs.sh" "$cache" >/dev/null

import_image() { # import_image DIR REF
	local dir=$1 ref=$2 stamp
	stamp=$(stat -c %Y "$dir/.complete")
	if [ "$(docker image inspect -f '{{index .Config.Labels "dev.launch.ci.stamp"}}' "$ref" 2>/dev/null || true)" = "$stamp" ]; then
		return 0
	fi
	log "importing $dir as $ref"
	tar -C "$dir" --exclude ./.complete -c . |
		docker import --change "LABEL dev.launch.ci.stamp=$stamp" --change 'CMD ["/bin/sh"]' - "$ref" >/dev/null
}
import_image "$cache/busybox" launch-test/busybox:latest
import_image "$cache/debian" launch-test/debian:bookworm
# launch-test/setuid:latest: the Debian tree plus /usr/local/bin/suid-id, a
# setuid-root copy of coreutils' id, which prints euid=0(root) when setuid
# raises privileges (the least-privilege tests: it must not by default).
setuid_ref=launch-test/setuid:latest
setuid_stamp="$(stat -c %Y "$cache/debian/.complete")-suid1"
if [ "$(docker image inspect -f '{{index .Config.Labels "dev.launch.ci.stamp"}}' "$setuid_ref" 2>/dev/null || true)" != "$setuid_stamp" ]; then
	log "building $setuid_ref"
	extra=$(mktemp -d)
	install -D -o 0 -g 0 -m 4755 "$cache/debian/usr/bin/id" "$extra/usr/local/bin/suid-id"
	tar -C "$cache/debian" --exclude ./.complete -c . -C "$extra" ./usr/local/bin/suid-id |
		docker import --change "LABEL dev.launch.ci.stamp=$setuid_stamp" --change 'CMD ["/bin/sh"]' - "$setuid_ref" >/dev/null
	rm -rf "$extra"
fi

# ---- 4. local registry for the pull tests -----------------------------------
registry_up() { curl -fsS "http://$registry/v2/" >/dev/null 2>&1; }
if ! registry_up; then
	mkdir -p "$cache/registry"
	cat >"$cache/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $cache/registry
  delete:
    enabled: true
http:
  addr: $registry
EOF
	log "starting docker-registry on $registry (log: $logdir/registry.log)"
	nohup docker-registry serve "$cache/registry.yml" >"$logdir/registry.log" 2>&1 &
	echo $! >/run/launch-ci-registry.pid
	for _ in $(seq 1 20); do registry_up && break; sleep 0.5; done
	registry_up || { log "docker-registry did not answer on $registry"; tail -n 20 "$logdir/registry.log" >&2; exit 1; }
fi
# manifest_config REPO TAG: the config digest (the image id) of what the
# registry holds under REPO:TAG, or nothing.
manifest_config() {
	curl -fsS "http://$registry/v2/$1/manifests/$2" \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' 2>/dev/null |
		tr -d ' \t\n' | sed -n 's/.*"config":{[^}]*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' || true
}
# backend/docker's pull tests pull 127.0.0.1:5000/launch-test/pull:latest:
# busybox plus a layer of its own, so that a pull downloads a layer no local
# image holds and shows per-layer progress. dockerd treats 127.0.0.0/8
# registries as insecure (plain http) by default.
pull_ref=$registry/launch-test/pull:latest
if [ -z "$(manifest_config launch-test/pull latest)" ]; then
	log "pushing $pull_ref"
	tmp=launch-ci-pull-$$
	docker run --name "$tmp" launch-test/busybox:latest sh -c 'echo pulled >/pulled' >/dev/null
	docker commit "$tmp" "$pull_ref" >/dev/null
	docker rm "$tmp" >/dev/null
	docker push "$pull_ref" >/dev/null
	docker rmi "$pull_ref" >/dev/null
fi
# backend/singularity's TestApptainerPull pulls
# 127.0.0.1:5000/launch-test/busybox:latest (docker://, the runtime's own
# pull): the local test image, pushed again whenever it was rebuilt (the
# registry's config digest is then not the local image's id).
bb_ref=$registry/launch-test/busybox:latest
if [ "$(manifest_config launch-test/busybox latest)" != "$(docker image inspect -f '{{.Id}}' launch-test/busybox:latest)" ]; then
	log "pushing $bb_ref"
	docker tag launch-test/busybox:latest "$bb_ref"
	docker push "$bb_ref" >/dev/null
	docker rmi "$bb_ref" >/dev/null # the tag only; launch-test/busybox stays
fi

# ---- 5. gVisor ---------------------------------------------------------------
if [ "${LAUNCH_CI_SKIP_RUNSC:-}" != 1 ]; then
	runsc=/usr/local/bin/runsc
	if [ ! -x "$runsc" ] || ! "$runsc" --version >/dev/null 2>&1; then
		gobin=$(mktemp -d)
		build() { # build VERSION
			log "building runsc@$1 (CGO_ENABLED=0; takes a few minutes)"
			(cd "$gobin" && CGO_ENABLED=0 GOFLAGS= GOBIN="$gobin" go install "gvisor.dev/gvisor/runsc@$1") >"$logdir/runsc-build.log" 2>&1
		}
		if ! build "$RUNSC_VERSION" && { [ -z "$RUNSC_FALLBACK" ] || ! build "$RUNSC_FALLBACK"; }; then
			log "runsc did not build; see $logdir/runsc-build.log"
			tail -n 20 "$logdir/runsc-build.log" >&2
			exit 1
		fi
		install -m 0755 "$gobin/runsc" "$runsc"
		rm -rf "$gobin"
	fi
	daemon_json=/etc/docker/daemon.json
	want=$(mktemp)
	if [ -s "$daemon_json" ] && command -v python3 >/dev/null; then
		python3 - "$daemon_json" "$runsc" >"$want" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
# --host-uds=open: a network allowlist's forwarder connects to launch's
# proxy on a host Unix socket, which gVisor refuses by default (none).
cfg.setdefault("runtimes", {})["runsc"] = {"path": sys.argv[2], "runtimeArgs": ["--host-uds=open"]}
# runsc-nouds: gVisor as its default refuses host sockets, for the test of
# the forwarder's message when a runtime lacks the flag (podman's case).
cfg["runtimes"]["runsc-nouds"] = {"path": sys.argv[2]}
print(json.dumps(cfg, indent=2, sort_keys=True))
EOF
	else
		printf '{\n  "runtimes": {\n    "runsc": {\n      "path": "%s",\n      "runtimeArgs": [\n        "--host-uds=open"\n      ]\n    },\n    "runsc-nouds": {\n      "path": "%s"\n    }\n  }\n}\n' "$runsc" "$runsc" >"$want"
	fi
	mkdir -p /etc/docker
	if ! cmp -s "$want" "$daemon_json"; then
		log "registering runsc in $daemon_json"
		install -m 0644 "$want" "$daemon_json"
		# dockerd reloads its runtimes on SIGHUP, without a restart.
		if pid=$(pidof dockerd); then kill -HUP $pid; sleep 1; fi
	fi
	rm -f "$want"
	# A dockerd that missed the reload (it lists the runtimes of an earlier
	# run's daemon.json, or none) is restarted.
	runtimes_ok() {
		local rt
		rt=$(docker info --format '{{json .Runtimes}}')
		grep -q '"runsc"' <<<"$rt" && grep -q -- '--host-uds=open' <<<"$rt" && grep -q '"runsc-nouds"' <<<"$rt"
	}
	if ! runtimes_ok; then
		stop_dockerd
		start_dockerd
	fi
	docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' || { log "dockerd does not list runsc after a restart"; exit 1; }
	docker info --format '{{json .Runtimes}}' | grep -q -- '--host-uds=open' || { log "dockerd lists runsc without --host-uds=open after a restart"; exit 1; }
	docker info --format '{{json .Runtimes}}' | grep -q '"runsc-nouds"' || { log "dockerd does not list runsc-nouds after a restart"; exit 1; }
fi

log "ready: $(docker version --format 'dockerd {{.Server.Version}} (API {{.Server.APIVersion}})')"
