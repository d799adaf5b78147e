"""Progress of a test run: a bar with the ETA while it runs, the throughput when it ends.

A benchmark run answers tens of thousands of queries (the eight REC splits hold ≈50k expressions), so a user
wants to see how far it is and when it will end, and how fast the model answers. mmengine's logger prints a
line every ``interval`` batches; this hook prints, at most every ``interval_s`` seconds and for the last
batch, on rank 0::

    test [########............]  40% 120/300 batches, 1920 samples, 51.2 samples/s, elapsed 0:00:37, ETA 0:00:56

and at the end (the time is the inference loop's, without computing the metrics)::

    test: 4800 samples in 0:01:33 (51.6 samples/s over 2 processes)

Samples per second count every sample of the test set once (a sampler's padding repeats are not counted), over
the wall time of the inference loop on rank 0; the bar counts this rank's batches.
"""
import datetime
import time
from typing import Optional, Sequence

from mmengine.dist import get_world_size
from mmengine.hooks import Hook

from groma_mm.registry import HOOKS


def format_seconds(seconds: float) -> str:
    """``93.4`` → ``'0:01:33'``."""
    return str(datetime.timedelta(seconds=int(round(seconds))))


def progress_line(done: int, total: int, samples: int, elapsed: float, width: int = 20) -> str:
    """One progress report: bar, percent, batches, samples, rate, elapsed and remaining time."""
    fraction = done / total if total else 1.0
    bar = '#' * int(round(fraction * width))
    rate = samples / elapsed if elapsed > 0 else 0.0
    eta = elapsed / done * (total - done) if done else 0.0
    return (f'test [{bar:.<{width}}] {fraction * 100:3.0f}% {done}/{total} batches, {samples} samples, '
            f'{rate:.1f} samples/s, elapsed {format_seconds(elapsed)}, ETA {format_seconds(eta)}')


@HOOKS.register_module()
class EvalProgressHook(Hook):
    """Print test progress with an ETA, and the samples per second at the end (module docstring).

    Args:
        interval_s: seconds between two progress lines (the last batch is always reported).
    """
    priority = 'BELOW_NORMAL'

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self.samples_per_second: Optional[float] = None

    def before_test_epoch(self, runner) -> None:
        self._start = self._end = time.perf_counter()
        self._last_report = self._start
        self._samples = 0
        self._total = len(runner.test_dataloader)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[Sequence] = None) -> None:
        self._samples += len(outputs or ())
        self._end = time.perf_counter()
        done = batch_idx + 1
        if done == self._total or self._end - self._last_report >= self.interval_s:
            self._last_report = self._end
            runner.logger.info(progress_line(done, self._total, self._samples, self._end - self._start))

    def after_test_epoch(self, runner, metrics=None) -> None:
        elapsed = self._end - self._start
        num_samples = len(runner.test_dataloader.dataset)
        self.samples_per_second = num_samples / elapsed if elapsed > 0 else 0.0
        world_size = get_world_size()
        runner.logger.info(f'test: {num_samples} samples in {format_seconds(elapsed)} '
                           f'({self.samples_per_second:.1f} samples/s over {world_size} '
                           f'process{"es" if world_size > 1 else ""})')
