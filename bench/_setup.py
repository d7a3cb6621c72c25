"""What every bench script needs: Django set up from the repository root, and a page timer.

Import it first: ``import _setup`` (the script's own folder is on sys.path when run as
``.venv/bin/python bench/<name>.py``).
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iacplatform.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()


def time_page(client, url: str, repeat: int) -> tuple[float, list[float]]:
    """Median server time (ms) of ``repeat`` GETs of ``url`` after one warm-up request."""
    response = client.get(url)  # warm-up (templates, caches)
    assert response.status_code == 200, (url, response.status_code)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(samples), samples
