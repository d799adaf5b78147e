"""tools/dist_{train,test}.sh and tools/slurm_{train,test}.sh build the launch command a user expects: the
script, its arguments in order (quoting kept), the machine variables, and the launcher flag."""
import os
import stat
import subprocess

from groma_mm.testing.paths import REPO_ROOT


def _run(script, args, env, tmp_path):
    env = dict(os.environ, **env)
    proc = subprocess.run(['bash', os.path.join(REPO_ROOT, 'tools', script), *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split('\n')[0].split('\x1f')


def _echo(tmp_path, name):
    """A stand-in for ``name`` that prints its arguments separated by \\x1f (so spaces inside one show)."""
    path = tmp_path / name
    path.write_text('#!/bin/sh\nfirst=1\nfor a in "$@"; do if [ $first = 1 ]; then printf "%s" "$a"; first=0; '
                    'else printf "\\037%s" "$a"; fi; done\necho\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_dist_train_runs_torch_distributed_over_the_machines(tmp_path):
    argv = _run('dist_train.sh', ['cfg.py', '4', '--cfg-options', 'a=1 b'],
                dict(PYTHON=_echo(tmp_path, 'py'), NNODES='2', NODE_RANK='1', MASTER_ADDR='10.0.0.1', PORT='2345'),
                tmp_path)
    assert argv[:7] == ['-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=1', '--master_addr=10.0.0.1',
                        '--nproc_per_node=4', '--master_port=2345']
    assert argv[7].endswith('tools/train.py') and argv[8:] == ['cfg.py', '--cfg-options', 'a=1 b', '--launcher',
                                                                'pytorch']


def test_dist_test_passes_config_checkpoint_and_extra_args(tmp_path):
    argv = _run('dist_test.sh', ['cfg.py', 'ck.pth', '8', '--work-dir', 'w'], dict(PYTHON=_echo(tmp_path, 'py')),
                tmp_path)
    assert '--nnodes=1' in argv and '--nproc_per_node=8' in argv
    assert argv[7].endswith('tools/test.py')
    assert argv[8:] == ['cfg.py', 'ck.pth', '--work-dir', 'w', '--launcher', 'pytorch']


def test_slurm_scripts_run_one_task_per_gpu_with_the_slurm_launcher(tmp_path):
    _echo(tmp_path, 'srun')
    env = dict(PATH=f'{tmp_path}:{os.environ["PATH"]}', GPUS='16', PYTHON='python3')
    train = _run('slurm_train.sh', ['part', 'job', 'cfg.py', 'wd', '--resume'], env, tmp_path)
    assert train[:8] == ['-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8',
                         '--cpus-per-task=5', '--kill-on-bad-exit=1']
    assert train[8:10] == ['python3', '-u'] and train[10].endswith('tools/train.py')
    assert train[11:] == ['cfg.py', '--work-dir=wd', '--resume', '--launcher=slurm']
    test = _run('slurm_test.sh', ['part', 'job', 'cfg.py', 'ck.pth', '--out', 'a b'], env, tmp_path)
    assert test[10].endswith('tools/test.py') and test[11:] == ['cfg.py', 'ck.pth', '--out', 'a b', '--launcher=slurm']
