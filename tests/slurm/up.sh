#!/usr/bin/env bash
# Bring up a real single-node SLURM (Debian's slurmctld + slurmd + munge) on localhost, for the
# `slurm` tests. Needs root. Usage: up.sh STATE_DIR   (writes STATE_DIR/pids for down.sh)
set -euo pipefail
state=${1:?state dir}
mkdir -p "$state"/{spool,state,log}
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
fi
# nproc honours OMP_NUM_THREADS, which a job (or a test in the same process) may have set
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$state/slurm.conf" <<CONF
ClusterName=trimodal-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
StateSaveLocation=$state/state
SlurmdSpoolDir=$state/spool
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
ReturnToService=2
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
DefMemPerCPU=1000
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# the plugin's job step clears SLURM_* variables, so the config must be at the default path
mkdir -p /etc/slurm
ln -sfn "$state/slurm.conf" /etc/slurm/slurm.conf
if [ ! -f /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
slurmctld
slurmd -N localhost
for _ in $(seq 1 60); do
  st=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
  [ "$st" = "idle" ] && break
  [ "$st" = "down" ] || [ "$st" = "drain" ] && scontrol update nodename=localhost state=resume 2>/dev/null || true
  sleep 0.5
done
sinfo -h -o %t | grep -q idle || { echo "SLURM did not come up; see $state/log" >&2; exit 1; }
cat "$state/slurmctld.pid" "$state/slurmd.pid" > "$state/pids"
echo "SLURM up (node localhost idle)"
