#!/usr/bin/env bash
# A one-node Slurm cluster on this machine for the Slurm tests (root, no
# systemd), cheap to run again: what is installed and running is reused.
#
#   1. installs Debian's slurm-wlm and munge when missing;
#   2. starts munged with the package's key;
#   3. writes /etc/slurm/slurm.conf for this node (its CPUs and memory, as
#      slurmd -C reports them; no cgroups: proctrack/linuxproc, task/none)
#      and starts slurmctld and slurmd, then waits until the node is idle.
#
# Logs: /var/log/launch-ci/slurm*.log. Usage: .ci/slurm.sh (as root)
set -euo pipefail

logdir=/var/log/launch-ci
mkdir -p "$logdir"
log() { echo "slurm.sh: $*" >&2; }

need=()
for pkg in slurm-wlm munge; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- munge -------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
	mkdir -p /etc/munge
	dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
	log "starting munged"
	runuser -u munge -- /usr/sbin/munged
	for _ in $(seq 1 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
fi

# ---- slurm.conf ----------------------------------------------------------------
node=$(hostname -s)
hw=$(slurmd -C | head -1)
conf=$(cat <<CONF
# Written by launch's .ci/slurm.sh: one node, no accounting, no cgroups.
ClusterName=launchci
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$logdir/slurmctld.log
SlurmdLogFile=$logdir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MaxArraySize=1001
$hw State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd
changed=0
if [ "$(cat /etc/slurm/slurm.conf 2>/dev/null)" != "$conf" ]; then
	printf '%s\n' "$conf" >/etc/slurm/slurm.conf
	changed=1
fi

running() { pgrep -x "$1" >/dev/null; }
if [ $changed = 1 ]; then
	pkill -x slurmd 2>/dev/null || true
	pkill -x slurmctld 2>/dev/null || true
	sleep 1
fi
if ! running slurmctld; then
	log "starting slurmctld"
	/usr/sbin/slurmctld -i
fi
if ! running slurmd; then
	log "starting slurmd"
	/usr/sbin/slurmd
fi
for _ in $(seq 1 60); do
	state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1)
	case $state in
	idle | mix | alloc) log "node $node is $state"; exit 0 ;;
	down* | drain*) scontrol update nodename="$node" state=resume 2>/dev/null || true ;;
	esac
	sleep 1
done
log "the node did not become idle; last lines of the logs:"
tail -n 20 "$logdir/slurmctld.log" "$logdir/slurmd.log" >&2 || true
exit 1
