"""A streamed run stopped by a signal leaves no partition files behind (real processes, real
signals): SIGTERM and SIGINT remove the scratch directory; an ignored SIGHUP (``nohup``)
keeps it, since the run goes on; a forked child stopped by SIGTERM leaves its parent's.

The handler is the command line's (:func:`features.cli_signals.install_scratch_cleanup`,
which the ``features`` and ``score`` verbs call); the library only registers the directory
(test_process_hygiene.py shows it installs nothing)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from raw_factory import valid_tables

import features
from features.raw import write_raw

ROOT = Path(features.__file__).resolve().parents[1]

# Installs the CLI's handler, opens a registry (scratch under TMPDIR), optionally has a
# forked child stopped by SIGTERM, says where its files are, then waits to be stopped.
SCRIPT = """
import os, signal, sys, time
from features.cli_signals import install_scratch_cleanup
from features.partitioned_raw import open_registry

install_scratch_cleanup()
registry = open_registry(sys.argv[1], n_partitions=2)
if sys.argv[2] == "fork":
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, b"up")  # past fork's own signal set-up: SIGTERM now reaches Python
        time.sleep(60)
        os._exit(0)
    os.read(read, 2)
    os.kill(child, signal.SIGTERM)
    _, status = os.waitpid(child, 0)
    print("child", os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1, flush=True)
print("ready", registry.buckets, flush=True)
time.sleep(120)
"""


def _start(
    raw: Path, tmp: Path, mode: str = "plain", *, ignore_hup: bool = False
) -> subprocess.Popen[str]:
    def ignore() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(raw), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT), "TMPDIR": str(tmp), "PATH": "/usr/bin:/bin"},
        preexec_fn=ignore if ignore_hup else None,
    )
    _started.append(proc)
    return proc


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _reap() -> Iterator[None]:
    """Every started process is killed if a test left it running, and its pipes closed."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def _ready(proc: subprocess.Popen[str]) -> tuple[list[str], Path]:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith("ready "):
            return lines, Path(line.split(" ", 1)[1].strip())
    proc.wait(timeout=30)
    raise AssertionError(
        f"never ready ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}"
    )


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    return write_raw(valid_tables(), tmp_path / "raw")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_run_leaves_no_partition_files(raw: Path, tmp_path: Path, signum: int) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = _start(raw, tmp)
    _, buckets = _ready(proc)
    assert buckets.parent == tmp and any(buckets.glob("events-*.parquet"))
    proc.send_signal(signum)
    proc.wait(timeout=60)
    assert proc.returncode == -signum  # still ends as the signal ends it
    assert list(tmp.iterdir()) == []


def test_an_ignored_hangup_keeps_the_files_of_the_running_process(
    raw: Path, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = _start(raw, tmp, ignore_hup=True)
    _, buckets = _ready(proc)
    proc.send_signal(signal.SIGHUP)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=2)  # ignored: still running
    assert any(buckets.glob("events-*.parquet"))
    proc.terminate()
    proc.wait(timeout=60)
    assert list(tmp.iterdir()) == []


def test_a_stopped_forked_worker_leaves_its_parents_files(raw: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = _start(raw, tmp, "fork")
    lines, buckets = _ready(proc)
    assert f"child {int(signal.SIGTERM)}" in lines  # the worker did die of SIGTERM
    assert any(buckets.glob("events-*.parquet"))
    proc.terminate()
    proc.wait(timeout=60)
    assert list(tmp.iterdir()) == []
