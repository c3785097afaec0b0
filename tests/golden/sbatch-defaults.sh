#!/bin/bash
# Written by `ksi submit` (ksi 0.1.0): one `ksi run` per node, each with its own
# cluster (joined with Liqo unless --no-federation); the workload runs once, on the first node.
# Submit it again with `sbatch FILE`.
#SBATCH --job-name=ksi-hello
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --time=01:00:00
#SBATCH --output=ksi-%j.out
# SIGTERM 60 s before the time limit, so ksi stops the workload and deletes the
# clusters before Slurm's SIGKILL.  Not `B:TERM`: that reaches only this batch shell, and passing
# it on to srun would kill the ksi tasks at once (srun answers its own SIGTERM with SIGKILL).
# Slurm may send it up to 60 s EARLIER than asked (sbatch(1) --signal); ksi's
# --teardown-margin also stops it on its own.
#SBATCH --signal=TERM@60
set -euo pipefail

# --kill-on-bad-exit=0: a member that fails must not get the others killed mid-teardown; every
# ksi deletes its own cluster and the job ends with the workload's exit code (or ksi's own).
# Not `exec srun`: srun would then be the batch step's process and get scancel's SIGTERM
# itself, which kills the ksi tasks at once, without their teardown.
srun --kill-on-bad-exit=0 /opt/ksi/bin/ksi run /home/alice/workloads/hello.sh
