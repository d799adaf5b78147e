#!/usr/bin/env bash
# Distributed evaluation, one or more machines (mmdet's interface): bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
#   one machine:  bash tools/dist_test.sh CONFIG CKPT 8
#   two machines: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_test.sh CONFIG CKPT 8   (on the first)
#                 NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_test.sh CONFIG CKPT 8   (on the second)
# GPUS is the number of processes on this machine. PYTHON picks the interpreter (default: python).
bash "$(dirname "$0")/dist_launch.sh" "$3" test.py "$1" "$2" "${@:4}"
