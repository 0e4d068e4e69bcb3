#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, from Debian 12's packages, to run the workflow
# through profiles/cluster in tests and CI (as root; no systemd needed).
#
#   scripts/slurm_one_node.sh up      install munge + slurmctld + slurmd (+ lmod) if missing, write
#                                     /etc/slurm/slurm.conf for this host, start the daemons
#   scripts/slurm_one_node.sh down    stop the daemons this script started (by pid) and remove
#                                     the slurm.conf it wrote
#   scripts/slurm_one_node.sh status  sinfo
#
# What a site admin would do differently, and why it is done this way here:
# - slurm.conf sits at the default path: the executor's job-step plugin drops every SLURM_*
#   variable (SLURM_CONF too) before its inner srun.
# - No slurmdbd: without accounting sacct does not work, so the workflow's cluster profile
#   asks the executor to poll squeue, and MinJobAge keeps finished jobs visible to squeue
#   for 10 minutes (well over 3x the executor's status-check interval).
# - DefMemPerCPU is set: without it a job that asks for no memory takes the whole node.
# - proctrack/linuxproc and task/none: no cgroup hierarchy to manage in a container.
# Logs: /var/log/slurm/{slurmctld,slurmd}.log and /var/log/munge/munged.log.
set -euo pipefail

PACKAGES="munge slurmctld slurmd slurm-client lmod"  # lmod: the rules' environment modules (envs/modules)
CONF=/etc/slurm/slurm.conf
RUN=/run/contimg-slurm

up() {
  missing=""
  for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  fi
  mkdir -p "$RUN" /var/log/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /run/munge /var/log/munge
  chown slurm:slurm /var/log/slurm /var/lib/slurm/slurmctld
  chown munge:munge /run/munge /var/log/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key

  host=$(hostname -s)
  cpus=$(nproc)
  memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))  # 1 GiB for the OS
  cat > "$CONF" <<EOF
# Written by scripts/slurm_one_node.sh: a one-node test cluster.
ClusterName=contimg
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=600
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 0644 "$CONF"

  pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
  pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld -i
  pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
      sinfo
      return 0
    fi
    sleep 1
  done
  echo "slurm_one_node: the node did not become idle; see /var/log/slurm/" >&2
  sinfo >&2 || true
  tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  return 1
}

down() {
  for daemon in slurmd slurmctld; do
    if [ -s "$RUN/$daemon.pid" ]; then
      kill "$(cat "$RUN/$daemon.pid")" 2>/dev/null || true
    fi
  done
  for _ in $(seq 20); do
    pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || break
    sleep 0.5
  done
  pkill -x munged 2>/dev/null || true
  # A slurm.conf naming a controller that is down makes every `scontrol` wait ~9 s, and the
  # Slurm executor plugin calls `scontrol show config` when Snakemake starts, even for local
  # runs: without the file scontrol fails at once.
  if head -1 "$CONF" 2>/dev/null | grep -q "Written by scripts/slurm_one_node.sh"; then
    rm -f "$CONF"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) sinfo ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
