#!/usr/bin/env bash
# What slurm_train.sh and slurm_test.sh share: bash tools/slurm_launch.sh PARTITION JOB_NAME SCRIPT [SCRIPT args]
# runs tools/SCRIPT with --launcher slurm, one task per GPU (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS,
# PYTHON from the environment).
set -x

PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/${SCRIPT}" "${@:4}" --launcher="slurm"
