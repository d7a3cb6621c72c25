"""Where a run's own time goes: named phases measured in the worker (``bench/overhead.py`` prints
them as ``BENCH phase_<name>_ms``). Stored with the run's end in ``context["timings"]`` (seconds),
in the same write as its status: measuring costs no extra query."""

import time
from contextlib import contextmanager


class Timings(dict):
    @contextmanager
    def timed(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self[name] = round(self.get(name, 0.0) + seconds, 4)
