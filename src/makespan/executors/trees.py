"""A task's process tree: signal all of it, measure its memory. Shared by the command executor
(each command leads its own session) and the process executor (each worker leads its own).

A task's processes stay in its leader's process group unless they leave it, so one `killpg`
reaches them at once; the descendants that moved to another group or session are found by
walking the tree first. Linux lists each thread's children in /proc, which reads only the tree:
psutil's `children(recursive=True)`, the fallback, reads the stat file of every process on the
machine, milliseconds per call.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import psutil

PROC_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
"""Whether Linux lists each thread's children in /proc (CONFIG_PROC_CHILDREN)."""
_PAGE = os.sysconf("SC_PAGE_SIZE") if PROC_CHILDREN else 0


def signal_tree(pid: int, sig: int) -> None:
    """`sig` to a task's process group, leader included, and to descendants that left it."""
    strays = descendants(pid)  # listed first: once the group is signalled, the tree unravels
    with contextlib.suppress(ProcessLookupError):  # the whole group at once, leader included,
        os.killpg(pid, sig)  # so the leader cannot see its children die and exit 0 first
    for child in strays:  # descendants that moved to another group or session
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, sig)


def descendants(pid: int) -> list[int]:
    """The PIDs of `pid`'s descendants (none once it has exited: they went to another parent)."""
    if PROC_CHILDREN:
        return list(_walk(pid))[1:]
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(pid: int) -> int | None:
    """Resident bytes of `pid` and its descendants (what psutil's `memory_info().rss` sums),
    or None once `pid` is gone. Memory is sampled for every running task four times a second:
    /proc is read directly where it lists children, psutil is the fallback."""
    if not PROC_CHILDREN:
        return _tree_rss_psutil(pid)
    total = 0
    for p in _walk(pid):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            if p == pid:
                return None  # the task's own process is gone
    return total


def _tree_rss_psutil(pid: int) -> int | None:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def _walk(pid: int) -> Iterator[int]:
    """`pid`, then its descendants, each before its own children, through
    /proc/<pid>/task/<tid>/children (a process that ends meanwhile is passed over)."""
    tree = [pid]
    for p in tree:  # grows while it is walked
        yield p
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue
        for tid in tids:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError), \
                    open(f"/proc/{p}/task/{tid}/children") as f:
                tree.extend(int(child) for child in f.read().split())
