#!/usr/bin/env bash
# What dist_train.sh and dist_test.sh share: bash tools/dist_launch.sh GPUS SCRIPT [SCRIPT args...] runs
# tools/SCRIPT under torch.distributed.run with --launcher pytorch, GPUS processes on this machine,
# over NNODES machines (NODE_RANK, MASTER_ADDR, PORT), with PYTHON (default: python).
GPUS=$1
SCRIPT=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/$SCRIPT" \
    "${@:3}" \
    --launcher pytorch
