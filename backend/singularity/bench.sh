#!/bin/sh
# bench.sh compares a real launch through the singularity backend,
#   launch --backend singularity --yes shell -- true
# with the same container run by apptainer directly: the command that
# `launch --dry-run` prints for it, run by sh. Both run in one process of
# this script, interleaved, so that a busy machine slows both alike. It
# prints the mean of each and their ratio (the aim: within 5%).
#
# Usage: backend/singularity/bench.sh [RUNS]     (from the repository root,
# after make build). Settings, all optional:
#   LAUNCH=bin/launch                      the binary under test
#   LAUNCH_BENCH_IMAGE=/var/cache/launch-ci/debian.sif   a SIF with bash (the
#                                          shell agent runs /bin/bash)
set -eu
runs=${1:-20}
launch=${LAUNCH:-bin/launch}
image=${LAUNCH_BENCH_IMAGE:-/var/cache/launch-ci/debian.sif}
case $launch in /*) ;; *) launch=$(pwd)/$launch ;; esac
[ -x "$launch" ] || { echo "bench.sh: $launch: not built; run make build" >&2; exit 1; }
[ -e "$image" ] || { echo "bench.sh: image $image missing; run .ci/apptainer.sh or set LAUNCH_BENCH_IMAGE" >&2; exit 1; }

ws=$(mktemp -d "${TMPDIR:-/tmp}/launch-bench.XXXXXX")
trap 'rm -rf "$ws"' EXIT
cd "$ws"
set -- --backend singularity --sif-path "$image" shell -- true
raw=$("$launch" --dry-run "$@" 2>/dev/null) || {
	echo "bench.sh: $launch --dry-run $*: failed:" >&2
	"$launch" --dry-run "$@" >/dev/null
	exit 1
}

now() { date +%s%N; }
one() { # one launch ARGS... | one raw: runs it once, prints its wall time in ns
	kind=$1
	shift
	t0=$(now)
	if [ "$kind" = launch ]; then
		"$launch" --yes "$@" >/dev/null 2>&1 || { echo "bench.sh: launch failed" >&2; "$launch" --yes "$@"; exit 1; }
	else
		sh -c "$raw" >/dev/null 2>&1 || { echo "bench.sh: raw command failed:" >&2; sh -c "$raw"; exit 1; }
	fi
	t1=$(now)
	echo $((t1 - t0))
}

# One of each to warm the page cache, then the measured runs.
one launch "$@" >/dev/null
one raw >/dev/null
total_launch=0 total_raw=0 i=0
while [ "$i" -lt "$runs" ]; do
	total_launch=$((total_launch + $(one launch "$@")))
	total_raw=$((total_raw + $(one raw)))
	i=$((i + 1))
done
awk -v l="$total_launch" -v r="$total_raw" -v n="$runs" 'BEGIN {
	printf "runs:               %d each, interleaved\n", n
	printf "launch (mean):      %.1f ms\n", l / n / 1e6
	printf "raw apptainer:      %.1f ms\n", r / n / 1e6
	printf "ratio launch/raw:   %.3f (%+.1f%%)\n", l / r, (l / r - 1) * 100
}'
