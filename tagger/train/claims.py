"""Claims: a run folder is trained by one process at a time, whichever launch, shard or machine it is in.

Before training a run, a process claims its folder; a process that finds the run claimed by a live
process moves on. A claim is a folder ``<run_dir>/.claim-<n>`` made with ``os.mkdir``, which is
atomic on local file systems and on NFS: of several processes creating the same name, exactly one
succeeds. ``n`` counts up: the claim in force is the one with the highest ``n``, and taking over a
dead or released claim means creating ``.claim-<n+1>``, so two processes that both find claim ``n``
dead cannot both win.

Inside a claim folder:

* ``owner.json``: ``host``, ``pid``, ``pid_started`` (the process's start time, so that a reused pid
  is not mistaken for the owner), ``pid_namespace`` (containers sharing a host name do not see each
  other's processes), ``claimed_at`` (UTC), ``note`` (e.g. ``shard 1/4``) and the heartbeat
  settings;
* ``heartbeat``: touched every :data:`HEARTBEAT_SECONDS` by a thread of the owner while it holds
  the claim;
* ``released``: written when the owner lets go (run finished, failed or interrupted).

A claim is free when it is released; when its owner ran on this host (same host name and pid
namespace) and that process is gone; or, for an owner on another host (whose processes cannot be
seen from here), when its heartbeat is older than :data:`STALE_AFTER_SECONDS`. A claim of a process killed on another machine is therefore
taken over ten minutes after its last heartbeat; that also means clocks of machines sharing a folder
must agree to within minutes (NTP does). A hung process that still beats holds its claim until it is
killed. The last claim folder stays in place when released: its ``owner.json`` says who trained the
run.

Several processes of one launch (torchrun, ``accelerate launch``) must train the same runs: only the
main process claims, and :meth:`Processes.decide` hands its decision to the others.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from tagger.io import atomic_write_json, output_error

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 60.0
STALE_AFTER_SECONDS = 600.0
CLAIM_PREFIX = ".claim-"
_CLAIM_NAME = re.compile(re.escape(CLAIM_PREFIX) + r"(\d+)$")
_ATTEMPTS = 20  # rounds lost to other processes creating the same generation before giving up

T = TypeVar("T")


# ------------------------------------------------------------------------------------------------ one process


def _process_started(pid: int) -> str | None:
    """When process ``pid`` of this host started, as ``<boot id>:<clock ticks since boot>`` (Linux); ""
    where the system does not tell; None if there is no such process (or only its zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # it exists, owned by someone else
        pass
    try:
        # the fields after the command name, which may hold spaces and parentheses: state is the 3rd
        # field of the line, the start time the 22nd
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except (OSError, IndexError):
        return ""
    if fields[0] in ("Z", "X"):
        return None
    return f"{boot}:{fields[19]}"


def _pid_namespace() -> str | None:
    """This process's pid namespace (Linux): two containers may share a host name but not their pids."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _local(owner: dict[str, Any]) -> bool:
    """Whether the owner's processes are the ones this process can see."""
    return (owner.get("host") == socket.gethostname() and "pid" in owner
            and owner.get("pid_namespace") == _pid_namespace())


def _owner_alive(owner: dict[str, Any]) -> bool:
    """Whether the process of ``owner`` (a claim's owner.json, written on this host) still runs."""
    started = _process_started(int(owner.get("pid", -1)))
    if started is None:
        return False
    expected = owner.get("pid_started")
    # a pid the kernel has since given to another process (or one from before a reboot) is not the owner
    return not started or not expected or started == expected


@dataclass(frozen=True)
class ClaimState:
    """What a claim folder says: who holds it, and whether it still counts."""

    path: Path
    owner: dict[str, Any]
    live: bool
    why: str  # "live", "released", "owner gone", "stale" (no heartbeat for a while)

    def describe(self) -> str:
        if not self.owner:  # a kill or a full disk between making the folder and writing its owner.json
            made = _mtime(self.path)
            since = datetime.fromtimestamp(made, timezone.utc).isoformat(timespec="seconds") if made else "?"
            return (f"a claim without its owner record ({self.path.name}/owner.json) since {since}, taken over "
                    f"once its owner cannot be known to live ({STALE_AFTER_SECONDS / 60:g} minutes)")
        who = f"{self.owner.get('host', '?')} pid {self.owner.get('pid', '?')}"
        note = f" ({self.owner['note']})" if self.owner.get("note") else ""
        return f"{who}{note} since {self.owner.get('claimed_at', '?')}"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def read_claim(path: Path, *, stale_after: float = STALE_AFTER_SECONDS) -> ClaimState:
    """The state of the claim folder ``path``."""
    try:
        owner = json.loads((path / "owner.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        owner = {}  # being written by a process that has just made the folder: its age decides
    if (path / "released").exists():
        return ClaimState(path, owner, False, "released")
    if _local(owner):
        alive = _owner_alive(owner)
        return ClaimState(path, owner, alive, "live" if alive else "owner gone")
    # without an owner record the folder's age alone tells: like an owner on another host, it is
    # taken over once stale
    last = max(_mtime(p) for p in (path / "heartbeat", path / "owner.json", path))
    fresh = time.time() - last < stale_after
    return ClaimState(path, owner, fresh, "live" if fresh else "stale")


def _generations(run_dir: Path) -> list[int]:
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for m in map(_CLAIM_NAME.match, names) if m)


def current_claim(run_dir: Path, *, stale_after: float = STALE_AFTER_SECONDS) -> ClaimState | None:
    """The claim in force on ``run_dir`` (the highest generation), None if it was never claimed."""
    generations = _generations(run_dir)
    if not generations:
        return None
    return read_claim(run_dir / f"{CLAIM_PREFIX}{generations[-1]}", stale_after=stale_after)


class Claim:
    """A claim this process holds: a thread keeps its heartbeat until :meth:`release`."""

    def __init__(self, path: Path, heartbeat: float) -> None:
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), name=f"claim {path.parent.name}",
                                        daemon=True)
        self._touch()
        self._thread.start()

    def _touch(self) -> None:
        with contextlib.suppress(OSError):  # a missed beat only brings staleness closer
            (self.path / "heartbeat").touch()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            self._touch()

    def release(self) -> None:
        """Let go: the run may be claimed again (by a launch that redoes it, or retries it after a failure)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        try:
            (self.path / "released").touch()
        except OSError as err:  # its owner is gone once this process ends: the claim frees itself then
            logger.warning("could not release the claim %s: %s", self.path, err)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_claim(run_dir: Path, *, note: str = "", heartbeat: float = HEARTBEAT_SECONDS,
              stale_after: float = STALE_AFTER_SECONDS) -> Claim | None:
    """Claim ``run_dir`` (created if missing) for this process; None if a live process holds it.
    OutputError when the folder cannot be written."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(err, run_dir) from err
    for _ in range(_ATTEMPTS):
        generations = _generations(run_dir)
        if generations:
            state = read_claim(run_dir / f"{CLAIM_PREFIX}{generations[-1]}", stale_after=stale_after)
            if state.live:
                return None
            if state.why in ("owner gone", "stale"):
                logger.info("%s: taking over the claim of %s (%s)", run_dir.name, state.describe(), state.why)
        path = run_dir / f"{CLAIM_PREFIX}{generations[-1] + 1 if generations else 1}"
        try:
            os.mkdir(path)
        except FileExistsError:
            continue  # another process made this generation first: look at its claim
        except OSError as err:
            raise output_error(err, path) from err
        try:
            atomic_write_json(path / "owner.json", {
                "host": socket.gethostname(), "pid": os.getpid(), "pid_started": _process_started(os.getpid()),
                "pid_namespace": _pid_namespace(),
                "claimed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "note": note,
                "heartbeat_seconds": heartbeat, "stale_after_seconds": stale_after,
            })
        except BaseException:
            _remove_claim_folder(path)  # a claim without its owner would hold the run until it goes stale
            raise
        for old in generations:  # superseded: only the newest claim counts
            _remove_claim_folder(run_dir / f"{CLAIM_PREFIX}{old}")
        return Claim(path, heartbeat)
    return None


def _remove_claim_folder(path: Path) -> None:
    with contextlib.suppress(OSError):
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


# ------------------------------------------------------------------------------------------------ a run


def claim_run(run_dir: Path, *, redo: bool, note: str = "") -> tuple[str, Claim | None]:
    """What to do with the run in ``run_dir``, and the claim when it is this process's to train.

    ``("done", None)``: its ``all_results.json`` exists (and ``redo`` is false); ``("claimed",
    None)``: a live process holds it; ``("train", claim)``: train it, then ``claim.release()``.
    The results are looked at again once claimed: another process may have finished the run
    between the first look and the claim.
    """
    done = run_dir / "all_results.json"
    if done.is_file() and not redo:
        return "done", None
    claim = try_claim(run_dir, note=note)
    if claim is None:
        return "claimed", None
    if done.is_file() and not redo:
        claim.release()
        return "done", None
    return "train", claim


# ------------------------------------------------------------------------------------------------ several processes


@dataclass(frozen=True)
class Processes:
    """This process among those of one launch; the main one decides what all of them train."""

    index: int = 0
    count: int = 1

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def decide(self, choose: Callable[[], T]) -> T:
        """``choose()`` run on the main process; every process gets its value (or its exception).

        A collective: every process calls it at the same point, or they wait for each other forever.
        """
        if self.count == 1:
            return choose()
        from accelerate.utils import broadcast_object_list

        box: list[Any] = [None]
        failure: BaseException | None = None
        if self.is_main:
            try:
                box[0] = ("ok", choose())
            except Exception as err:  # the others must hear of it, or they wait in the broadcast
                failure = err
                box[0] = ("error", f"{type(err).__name__}: {err}")
        broadcast_object_list(box, from_process=0)
        if failure is not None:
            raise failure
        kind, value = box[0]
        if kind == "error":
            raise RuntimeError(f"the main process failed: {value}")
        return value
