"""Keep the measured app and its load (wrk, redis-server) on different CPUs.

With 2 cores shared by the server, the load generator and Redis, letting the scheduler move
them around makes runs noisier than any difference being measured. When ``taskset`` exists and
there are at least two CPUs, the app gets the last CPU and everything else the first.
"""

import os
import resource
import shutil
import time


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pin(command: list[str], role: str) -> list[str]:
    """Prefix ``command`` with ``taskset`` for its role: ``"app"`` or ``"load"``."""
    cpus = _cpus()
    taskset = shutil.which("taskset")
    if taskset is None or len(cpus) < 2:
        return command
    if role == "app":
        chosen = cpus[-1:]
    elif role == "load":
        chosen = cpus[:-1]
    else:
        raise ValueError(f"unknown role {role!r}")
    return [taskset, "-c", ",".join(map(str, chosen)), *command]


def raise_priority() -> str:
    """Run this process and its children ahead of the machine's other work, if allowed.

    On a shared machine other jobs come and go; at a higher priority they disturb less.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        return "normal priority"
    return "nice -10"


def describe() -> str:
    if shutil.which("taskset") is None or len(_cpus()) < 2:
        return "not pinned"
    app, load = pin([], "app")[2], pin([], "load")[2]
    return f"app on CPU {app}; wrk and redis-server on CPU {load}"


class ForeignLoad:
    """How busy the machine was with other work while this process and its children ran.

    From ``/proc/stat`` (user, nice and system time of every CPU) minus the CPU time of this
    process and its waited-for children. Share of the whole machine, 0 to 1; above a few
    percent, absolute numbers and the HTTP figures are suspect.
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, _irq, _softirq, steal = (
                int(v) for v in stat.readline().split()[1:9]
            )
        ours = sum(
            usage.ru_utime + usage.ru_stime
            for usage in (
                resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN),
            )
        )
        return (user + nice + system) / ticks - ours, steal / ticks, time.monotonic()

    def result(self) -> dict[str, float]:
        foreign, steal, now = self._sample()
        capacity = (now - self._start[2]) * len(_cpus())
        return {
            "other_processes": max(0.0, foreign - self._start[0]) / capacity,
            "hypervisor_steal": (steal - self._start[1]) / capacity,
        }
