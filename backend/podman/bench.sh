#!/usr/bin/env bash
# Compares a whole real run, `launch --backend podman shell -- true`, with the
# equivalent raw podman command in one go and prints the ratio. The raw
# command is the one launch prints for the same flags (--dry-run), so both
# create the same container. Runs alternate (launch, raw, launch, ...) so
# that drift on a busy machine hits both sides alike, and each runs under
# `script` so that both get a terminal when the command asks for one (-t).
# launch talks to the service (the one podman.Connect finds); the raw
# command is local podman, which runs the container itself (conmon) without
# the service; both use the same storage when run by the same user.
#
# Usage: backend/podman/bench.sh [RUNS]   (default 20, plus one warm-up each)
# Env:   LAUNCH=bin/launch  IMAGE=localhost/launch-test/busybox:latest (imported by
#        .ci/podman.sh; any local image with /bin/bash and `true` works)
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${1:-20}
launch=${LAUNCH:-bin/launch}
image=${IMAGE:-localhost/launch-test/busybox:latest}
flags=(--backend podman --image "$image" --yes shell -- true)

die() { echo "bench.sh: $*" >&2; exit 1; }
[ -x "$launch" ] || die "$launch is missing; build it with make build"
command -v podman >/dev/null || die "no podman CLI in PATH"
command -v script >/dev/null || die "no script(1) (util-linux) in PATH"
podman image exists "$image" || die "image $image is not present; run .ci/podman.sh or set IMAGE"

launch_cmd=$(printf '%q ' "$launch" "${flags[@]}")
# The dry run also runs under a terminal, so that it renders the same plan
# (-t) as the timed real runs.
raw=$(script -qec "$(printf '%q ' "$launch" --dry-run "${flags[@]}") 2>/dev/null" /dev/null </dev/null | tr -d '\r') ||
	die "$launch --dry-run ${flags[*]} failed"
[ -n "$raw" ] || die "$launch --dry-run ${flags[*]} printed nothing"
echo "launch: $launch_cmd"
echo "raw:    $raw"

now() { date +%s%N; }
# run CMD: one run under a pseudo-terminal; prints nanoseconds taken.
run() {
	local t0 t1
	t0=$(now)
	script -qec "$1" /dev/null >/dev/null 2>&1 </dev/null || die "failed: $1"
	t1=$(now)
	echo $((t1 - t0))
}

run "$launch_cmd" >/dev/null
run "$raw" >/dev/null
total_launch=0 total_raw=0
for _ in $(seq 1 "$runs"); do
	total_launch=$((total_launch + $(run "$launch_cmd")))
	total_raw=$((total_raw + $(run "$raw")))
done
awk -v l="$total_launch" -v r="$total_raw" -v n="$runs" 'BEGIN {
	printf "runs:   %d each\n", n
	printf "launch: %.1f ms per run\n", l / n / 1e6
	printf "raw:    %.1f ms per run\n", r / n / 1e6
	printf "ratio:  %.2f (launch / raw; below 1 is faster than the podman CLI)\n", l / r
}'
