#!/usr/bin/env bash
# Tear down what up.sh started: cancel jobs, stop slurmd and slurmctld by their PIDs.
state=${1:?state dir}
scancel --user="$(id -un)" 2>/dev/null || true
[ -f "$state/pids" ] && xargs -r kill < "$state/pids" 2>/dev/null || true
sleep 1
[ -f "$state/pids" ] && xargs -r kill -9 < "$state/pids" 2>/dev/null || true
rm -f /etc/slurm/slurm.conf
exit 0
