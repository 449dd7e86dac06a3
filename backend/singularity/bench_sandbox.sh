#!/bin/sh
# bench_sandbox.sh: where FUSE is not usable, compares a launch of a SIF
# that is unpacked on every start (apptainer exec --unsquash, what happens
# without launch's cache) with launch's cached sandbox: the first launch
# (which unpacks once) and later ones. Run as an ordinary user for whom
# /dev/fuse is closed (as root, it re-runs itself as LAUNCH_BENCH_USER).
#
# Usage: backend/singularity/bench_sandbox.sh [RUNS]   (after make build)
#   LAUNCH=bin/launch  LAUNCH_BENCH_IMAGE=/var/cache/launch-ci/debian.sif
#   LAUNCH_BENCH_USER=launchuser (when run as root)
set -eu
runs=${1:-10}
launch=${LAUNCH:-bin/launch}
image=${LAUNCH_BENCH_IMAGE:-/var/cache/launch-ci/debian.sif}
case $launch in /*) ;; *) launch=$(pwd)/$launch ;; esac
if [ "$(id -u)" = 0 ]; then
	user=${LAUNCH_BENCH_USER:-$(getent passwd 1000 | cut -d: -f1)}
	tmp=$(mktemp -d); cp "$launch" "$0" "$tmp/"; chmod -R a+rx "$tmp"
	exec runuser -u "$user" -- env LAUNCH="$tmp/launch" LAUNCH_BENCH_IMAGE="$image" sh "$tmp/$(basename "$0")" "$runs"
fi
home=$(mktemp -d "${TMPDIR:-/tmp}/launch-bench-home.XXXXXX")
ws=$(mktemp -d "${TMPDIR:-/tmp}/launch-bench.XXXXXX")
trap 'chmod -R u+w "$home" 2>/dev/null; rm -rf "$home" "$ws"' EXIT
cd "$ws"
export HOME="$home" XDG_CACHE_HOME="$home/.cache"
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }

t0=$(now); "$launch" --yes --backend singularity --sif-path "$image" shell -- true >/dev/null 2>&1; t1=$(now)
first=$(ms "$t0" "$t1")
total_cached=0 total_unsquash=0 i=0
while [ "$i" -lt "$runs" ]; do
	t0=$(now); "$launch" --yes --backend singularity --sif-path "$image" shell -- true >/dev/null 2>&1; t1=$(now)
	apptainer exec --unsquash --cleanenv --contain "$image" true >/dev/null 2>&1; t2=$(now)
	total_cached=$((total_cached + $(ms "$t0" "$t1")))
	total_unsquash=$((total_unsquash + $(ms "$t1" "$t2")))
	i=$((i + 1))
done
echo "image:                      $image ($(du -h "$image" | cut -f1))"
echo "first launch (unpacks):     $first ms"
echo "later launches (mean):      $((total_cached / runs)) ms"
echo "apptainer --unsquash (mean): $((total_unsquash / runs)) ms"
awk -v c="$total_cached" -v u="$total_unsquash" 'BEGIN { printf "speed-up of a later launch: %.1fx\n", u / c }'
