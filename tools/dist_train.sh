#!/usr/bin/env bash
# Distributed training, one or more machines (mmdet's interface): bash tools/dist_train.sh CONFIG GPUS [train.py args]
#   one machine:  bash tools/dist_train.sh CONFIG 8
#   two machines: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CONFIG 8   (on the first)
#                 NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CONFIG 8   (on the second)
# GPUS is the number of processes on this machine. PYTHON picks the interpreter (default: python).
# Without CUDA the processes talk over gloo (groma_mm's strategies), e.g. GPUS=2 for a CPU test run.
CONFIG=$1
GPUS=$2
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
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
