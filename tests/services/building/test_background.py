"""The rebuild process yields the CPU: every one of its threads, BLAS's included, runs niced."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# numpy first, as in the rebuild process: its BLAS threads exist before the priority is lowered.
PROBE = """
import json, os, threading
import numpy as np
np.ones((300, 300)) @ np.ones((300, 300))
from app.services.building.background import lower_priority

def nice_of(tid):
    with open(f"/proc/self/task/{tid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])

before = os.getpriority(os.PRIO_PROCESS, 0)
lower_priority(7)
later = []
t = threading.Thread(target=lambda: later.append(os.getpriority(os.PRIO_PROCESS, 0)))
t.start()
t.join()
threads = [nice_of(tid) for tid in os.listdir("/proc/self/task")]
print(json.dumps({"before": before, "threads": threads, "later": later[0]}))
"""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="per-thread niceness is read from /proc")
def test_every_thread_of_the_rebuild_process_is_niced():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out)
    want = min(19, seen["before"] + 7)
    assert seen["threads"] and set(seen["threads"]) == {want}
    assert seen["later"] == want  # threads started afterwards (the top-N pool) inherit it
