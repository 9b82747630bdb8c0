"""CPU and memory of processes read from /proc: what the perf scripts charge to each tier (web, worker, database).

CPU seconds are utime + stime of a process and its children; a database tier is the PostgreSQL backends serving one
database (optionally only those whose client ports belong to given processes).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found + [grandchild for child in found for grandchild in children(child)]


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def machine_busy() -> float:
    """CPU-seconds the whole machine spent busy so far (every process: the stack, its clients, anything else)."""
    user, nice, system, idle, iowait, *rest = map(int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:])
    return (user + nice + system + sum(rest[:3])) / CLK_TCK  # + irq, softirq, steal


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def local_ports(pids: list[int]) -> set[int]:
    """Local TCP ports of the sockets these processes hold (to tell whose database backend is whose)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def postgres_pids(db_name: str, *, client_ports: set[int] | None = None, exclude: bool = False) -> list[int]:
    """Backends of the bench database (their command line names it), optionally only/except some clients."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not (text.startswith("postgres:") and f" {db_name} " in text):
            continue
        if client_ports is not None:
            port = int(text.split("(", 1)[1].split(")", 1)[0]) if "(" in text else -1
            if (port in client_ports) == exclude:
                continue
        pids.append(int(cmdline.parent.name))
    return pids


class CpuMeter:
    """CPU seconds per group (web / worker / database) between start() and stop().

    Samples every `interval` seconds in a thread: a process that exits meanwhile (a database backend whose client
    closed its connection: the Celery worker's, after a task) still counts up to its last sample, in the first
    group it was seen in.
    """

    def __init__(self, groups: dict[str, callable], interval: float = 1.0) -> None:
        self.groups, self.interval = groups, interval
        self.before: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                cpu = cpu_seconds(pid)
                if cpu:  # 0.0: gone before it was read
                    self.last[pid] = (self.last.get(pid, (name, 0.0))[0], cpu)

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._sample()
        self.before = {pid: cpu for pid, (_, cpu) in self.last.items()}
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._done.set()
        self._thread.join()
        self._sample()
        spent = dict.fromkeys(self.groups, 0.0)
        for pid, (name, cpu) in self.last.items():
            spent[name] += cpu - self.before.get(pid, 0.0)
        return spent


def postgres_server_pids() -> list[int]:
    """Every PostgreSQL server process on the machine (postmaster, backends, WAL writer, checkpointer …)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in ("postgres", "postmaster"):
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


def pin(pids: list[int], cpus: set[int]) -> None:
    """Restricts these processes to `cpus` (their threads and later forks inherit it); gone ones are skipped."""
    for pid in pids:
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                os.sched_setaffinity(int(task.name), cpus)
        except (OSError, ProcessLookupError):
            continue
