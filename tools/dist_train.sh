#!/usr/bin/env bash
# Distributed training, one or more machines (mmdet's interface): bash tools/dist_train.sh CONFIG GPUS [train.py args]
#   one machine:  bash tools/dist_train.sh CONFIG 8
#   two machines: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CONFIG 8   (on the first)
#                 NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CONFIG 8   (on the second)
# GPUS is the number of processes on this machine. PYTHON picks the interpreter (default: python).
# Without CUDA the processes talk over gloo (groma_mm's strategies), e.g. GPUS=2 for a CPU test run.
bash "$(dirname "$0")/dist_launch.sh" "$2" train.py "$1" "${@:3}"
