"""Atomic writes: every file tagger writes goes through here.

A crash (or SIGKILL) while writing leaves either the previous good file or the new complete one,
never a truncated file: content is written to a temporary name in the same directory, flushed,
fsynced and then renamed over the target (``os.replace`` is atomic on POSIX and Windows).

A write that fails (a read-only folder, a file where a folder should be, a full disk) raises a
one-line :class:`~tagger.errors.OutputError` naming the path, and the temporary file or folder is
removed on every way out, Ctrl-C included. Files and folders get the permissions a plain ``open()``
or ``mkdir`` would give them under the process umask.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from tagger.errors import OutputError

# Raised by writes, never by reads: inside a caller's ``with`` block they concern the output.
_OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_TEMP_ATTEMPTS = 100


def output_error(err: OSError, path: str | os.PathLike[str]) -> OutputError:
    """The one-line :class:`OutputError` for ``err`` met while writing ``path``."""
    path = Path(path)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        quota = " (disk quota exceeded)" if err.errno == errno.EDQUOT else ""
        return OutputError(f"no space left on {path}{quota}")
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            what = "it" if blocker == path else str(blocker)
            return OutputError(f"cannot write {path}: {what} is a file, not a folder")
    if err.errno == errno.EISDIR:
        return OutputError(f"cannot write {path}: a folder of that name is in the way")
    reason = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
              errno.EROFS: "read-only file system"}.get(err.errno or 0)
    return OutputError(f"cannot write {path}: {reason or err.strerror or type(err).__name__}")


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and its parents if missing and check that a file can be created in it;
    :class:`OutputError` naming ``path`` otherwise.

    A launch calls it on its output folder, so that a folder it cannot write stops it before training.
    """
    folder = _mkdir(Path(path), Path(path))
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise output_error(err, folder) from err
    os.close(fd)
    os.unlink(probe)
    return folder


OUTPUT_MARKER = ".tagger-output"
_PROBE = re.compile(r"\.write-check\..*\.tmp$")  # ensure_dir's probe of another process starting on the folder


def ensure_output_dir(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """:func:`ensure_dir`, for a folder tagger may fill: one it creates, an empty one, or one marked as
    tagger's by a :data:`OUTPUT_MARKER` file; the marker is written on first use.

    A folder that holds anything else is the user's: :class:`OutputError` naming it, unless
    ``overwrite`` (``output.overwrite=true``) says to write into it all the same.
    """
    folder = ensure_dir(path)
    marker = folder / OUTPUT_MARKER
    shown = foreign_files(folder, OUTPUT_MARKER)
    if shown is None:
        return folder
    if shown and not overwrite:
        raise OutputError(f"{folder} holds files tagger did not write ({shown}) and no {OUTPUT_MARKER}: choose "
                          f"another output folder, set output.overwrite=true to write into it anyway, or, if it "
                          f"is an earlier tagger output, create an empty {OUTPUT_MARKER} file in it")
    try:
        # exclusive creation: of several processes starting on an empty folder, one writes the marker
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return folder
    except OSError as err:
        raise output_error(err, marker) from err
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("A tagger output folder: tagger writes and replaces files here without asking.\n")
    return folder


def foreign_files(folder: Path, marker: str) -> str | None:
    """What ``folder`` (an existing folder) holds that tagger may not replace, named for a message ("a, b, c
    and 4 more"); "" when it is empty, None when it holds the ``marker`` file of the tagger command that
    writes it (its own earlier output)."""
    if (folder / marker).is_file():
        return None
    others = sorted(name for name in os.listdir(folder) if name != marker and not _PROBE.match(name))
    return ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")


def _mkdir(folder: Path, written: Path) -> Path:
    """Create ``folder`` to write ``written`` (``folder`` itself or a path in it), which errors name."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(err, written) from err
    return folder


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every platform / filesystem
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_name(target: Path) -> Path:
    # Hidden and *.tmp, so that a leftover of a SIGKILL is skipped by `tagger push`; the name is
    # cut so that the suffix never pushes it past the file system's limit on name length.
    return target.with_name(f".{target.name[:120]}.{secrets.token_hex(4)}.tmp")


def _create_temp(target: Path, create: Callable[[Path], Any]) -> tuple[Path, Any]:
    """``create(name)`` for a fresh temporary name next to ``target``; OutputError if it fails."""
    for _ in range(_TEMP_ATTEMPTS):
        tmp = _temp_name(target)
        try:
            return tmp, create(tmp)
        except FileExistsError:
            continue
        except OSError as err:
            raise output_error(err, target) from err
    raise OutputError(f"cannot write {target}: no free temporary name after {_TEMP_ATTEMPTS} attempts")


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _failed(err: BaseException, target: Path, in_body: bool) -> BaseException:
    """What to raise for ``err``: an OutputError for a failed write, else ``err`` itself.

    An OSError from the caller's own block may come from reading its input, so only a full disk is
    attributed to the output there.
    """
    if isinstance(err, OSError) and (not in_body or err.errno in _OUT_OF_SPACE):
        return output_error(err, target)
    return err


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w",
                encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success it replaces ``path``, on error it is removed.

    ``mode`` is ``"w"`` or ``"wb"``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', got {mode!r}")
    target = Path(path)
    _mkdir(target.parent, target)
    binary = mode == "wb"
    # Exclusive creation with open()'s default mode 0o666 lets the kernel apply the umask, as for
    # any file the user writes, without reading the process-wide umask (racy with other threads).
    tmp, fh = _create_temp(target, lambda name: open(  # noqa: SIM115 - closed below
        name, "xb" if binary else "x", encoding=None if binary else encoding, newline=None if binary else ""))
    in_body = True
    try:
        with fh:
            yield fh
            in_body = False
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException as err:
        _remove(tmp)
        failure = _failed(err, target, in_body)
        if failure is err:
            raise
        raise failure from err


def _umask() -> int:
    """The process umask, read without changing it where the system tells (Linux); set and reset elsewhere."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    current = os.umask(0o022)
    os.umask(current)
    return current


def follow_umask(*paths: str | os.PathLike[str]) -> None:
    """Give files the mode a plain ``open()`` would under the umask (0644 under umask 022).

    safetensors creates its files 0600 whatever the umask, unlike every other file tagger writes.
    """
    mode = 0o666 & ~_umask()
    for path in paths:
        try:
            os.chmod(path, mode)
        except OSError as err:
            raise output_error(err, path) from err


def _disk_full_in(err: BaseException) -> bool:
    """Whether ``err`` (safetensors reports I/O errors as its own exception type) is a full disk."""
    text = str(err)
    return any(s in text for s in ("StorageFull", "code: 28", "os error 28", "No space left", "QuotaExceeded"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A free temporary name next to ``path`` for a writer that takes a file name (safetensors'
    ``save_file``); once the block ends the file gets the umask's mode (:func:`follow_umask`) and
    replaces ``path``. Any failure removes it; a failed write (a full disk included, however the
    writer reports it) raises the one-line :class:`OutputError` naming ``path``.
    """
    target = Path(path)
    _mkdir(target.parent, target)
    tmp, _ = _create_temp(target, lambda name: os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)))
    try:
        yield tmp
        follow_umask(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException as err:
        _remove(tmp)
        if isinstance(err, OutputError):
            raise
        if isinstance(err, OSError):
            raise output_error(err, target) from err
        if _disk_full_in(err):
            raise output_error(OSError(errno.ENOSPC, "No space left on device"), target) from err
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> None:
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False, default=_json_default)
        fh.write("\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy / torch scalars and arrays
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")


def to_strict_json(obj: Any) -> Any:
    """``obj`` with every NaN and infinity replaced by ``None``, in nested dicts, lists and tuples and in
    numpy / torch values (through ``tolist``); anything else unchanged.

    >>> to_strict_json({"loss": float("nan"), "f1": [0.5, float("inf")]})
    {'loss': None, 'f1': [0.5, None]}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: to_strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_strict_json(v) for v in obj]
    if hasattr(obj, "tolist"):
        return to_strict_json(obj.tolist())
    return obj


def strict_json_dumps(obj: Any, default: Callable[[Any], Any] | None = None, **kwargs: Any) -> str:
    """``json.dumps`` that writes strict JSON: NaN and infinities become ``null`` (:func:`to_strict_json`).

    ``default`` handles what JSON cannot hold (numpy / torch values and paths if not given); whatever
    it returns is made strict too.

    >>> strict_json_dumps({"loss": float("inf"), "step": 3})
    '{"loss": null, "step": 3}'
    """
    fallback = default or _json_default
    return json.dumps(to_strict_json(obj), allow_nan=False, default=lambda o: to_strict_json(fallback(o)),
                      **kwargs)


def _swap_in(tmp: Path, target: Path) -> None:
    """Put the complete folder ``tmp`` in place of ``target``, which is restored if that fails."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        if old.exists():
            _remove(old)
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    _fsync_dir(target.parent)
    if old is not None:
        _remove(old)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory under a temporary name; on success swap it in place of ``path``.

    The previous directory (if any) stays intact until the new one is complete.
    """
    target = Path(path)
    _mkdir(target.parent, target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"cannot write {target}: it is a file, not a folder")
    # mkdir's default mode 0o777 lets the kernel apply the umask (see atomic_open)
    tmp, _ = _create_temp(target, lambda name: name.mkdir())
    in_body = True
    try:
        yield tmp
        in_body = False
        _swap_in(tmp, target)
    except BaseException as err:
        _remove(tmp)
        failure = _failed(err, target, in_body)
        if failure is err:
            raise
        raise failure from err
