"""One clear error for an annotation file a reader cannot take, naming the file.

``json.load`` says "Expecting ',' delimiter: line 1 column 3256" and ``pickle`` says "invalid load key" without
the file they were reading; a wrong-typed entry deep in a file surfaces as an ``AttributeError`` in the
reader. :func:`reading_annotations` turns all of them (but a reader's own errors, which already name their file)
into :class:`DatasetFileError`, whose message names the
file that was being read (found in the failing call's frame, e.g. mmengine's ``load(file)``), the dataset's
``ann_file`` and the original error, and points at ``tools/validate_dataset.py``, which lists every bad entry.
"""
import contextlib
import os.path as osp
from typing import Iterator, Optional

# Arguments that hold the path in the functions that read annotation files (mmengine.fileio, open, ET.parse).
_PATH_ARGUMENTS = ('file', 'filepath', 'filename', 'path', 'source')


class DatasetFileError(ValueError):
    """An annotation file cannot be read as its dataset expects (the message names it)."""


def file_being_read(err: BaseException) -> Optional[str]:
    """The innermost path argument of the calls ``err`` went through, if any."""
    found, tb = None, err.__traceback__
    while tb is not None:
        names = tb.tb_frame.f_code.co_varnames[:tb.tb_frame.f_code.co_argcount]
        for name in _PATH_ARGUMENTS:
            value = tb.tb_frame.f_locals.get(name) if name in names else None
            if isinstance(value, str) and value:
                found = value
        tb = tb.tb_next
    return found


@contextlib.contextmanager
def reading_annotations(dataset_name: str, ann_file: str) -> Iterator[None]:
    """Re-raise any failure inside the block as :class:`DatasetFileError` (module docstring)."""
    try:
        yield
    except (DatasetFileError, FileNotFoundError):  # a missing file is named by its own error
        raise
    except Exception as err:  # noqa: BLE001 — whatever broke, the user needs the file and the reason
        if ann_file in str(err) or osp.dirname(osp.abspath(ann_file)) in str(err):
            raise  # the reader's own error, which already says where
        path = file_being_read(err) or ann_file
        where = path if path == ann_file else f'{path} (for {ann_file})'
        raise DatasetFileError(
            f'{where}: {dataset_name} cannot read it: {type(err).__name__}: {err}. '
            f'`python tools/validate_dataset.py {ann_file}` lists every bad entry.') from err
