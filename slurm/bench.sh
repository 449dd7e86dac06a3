#!/bin/sh
# bench.sh: what Slurm costs a launch, on the cluster .ci/slurm.sh sets up.
#   1. launch --slurm shell -- true  against  srun apptainer exec IMAGE true
#      (the raw command a user would type), interleaved, RUNS of each;
#   2. a batch of N tasks as one job array (launch batch --slurm) against the
#      same tasks run one by one (launch batch with concurrency = 1).
# Run as an ordinary user (as root it re-runs itself as LAUNCH_BENCH_USER).
#
# Usage: slurm/bench.sh [RUNS] [N]   (from the repository root, after make build)
set -eu
runs=${1:-5}
n=${2:-20}
launch=${LAUNCH:-bin/launch}
image=${LAUNCH_BENCH_IMAGE:-/var/cache/launch-ci/busybox.sif}
case $launch in /*) ;; *) launch=$(pwd)/$launch ;; esac
if [ "$(id -u)" = 0 ]; then
	user=${LAUNCH_BENCH_USER:-$(getent passwd 1000 | cut -d: -f1)}
	tmp=$(mktemp -d); cp "$launch" "$0" "$tmp/"; chmod -R a+rx "$tmp"
	exec runuser -u "$user" -- env LAUNCH="$tmp/launch" LAUNCH_BENCH_IMAGE="$image" PATH="$PATH" sh "$tmp/$(basename "$0")" "$runs" "$n"
fi
home=$(mktemp -d "${TMPDIR:-/tmp}/launch-bench-home.XXXXXX")
trap 'chmod -R u+w "$home" 2>/dev/null; rm -rf "$home"' EXIT
export HOME="$home" XDG_CACHE_HOME="$home/.cache"
mkdir -p "$home/ws" && cd "$home/ws"
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
app=$(command -v apptainer)

"$launch" --yes --backend singularity --sif-path "$image" shell -- true >/dev/null 2>&1 # warm the cache
total_launch=0 total_raw=0 i=0
while [ "$i" -lt "$runs" ]; do
	t0=$(now); "$launch" --slurm --yes --backend singularity --sif-path "$image" shell -- true >/dev/null 2>&1; t1=$(now)
	srun --quiet "$app" exec --unsquash --cleanenv --contain "$image" true >/dev/null 2>&1; t2=$(now)
	total_launch=$((total_launch + $(ms "$t0" "$t1"))); total_raw=$((total_raw + $(ms "$t1" "$t2")))
	i=$((i + 1))
done
echo "launch --slurm (mean):          $((total_launch / runs)) ms"
echo "srun apptainer exec (mean):     $((total_raw / runs)) ms"

mk() { # mk CONCURRENCY FILE
	echo "concurrency = $1" >"$2"
	j=0
	while [ "$j" -lt "$n" ]; do
		mkdir -p "t$j"
		printf '[[task]]\nworkspace = "t%d"\nagent = "shell"\nargs = ["sleep 1"]\nflags = ["--backend", "singularity", "--sif-path", "%s"]\n' "$j" "$image" >>"$2"
		j=$((j + 1))
	done
}
mk 8 array.toml
mk 1 serial.toml
t0=$(now); "$launch" batch --slurm array.toml >/dev/null 2>&1 || :; t1=$(now)
"$launch" batch serial.toml >/dev/null 2>&1 || :; t2=$(now)
echo "$n tasks as one job array:     $(ms "$t0" "$t1") ms (concurrency 8)"
echo "$n tasks one by one:           $(ms "$t1" "$t2") ms"
