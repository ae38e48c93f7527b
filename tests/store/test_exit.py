"""A script that uses the embedded Client and exits must exit cleanly: the store's idle-release
timer must never close DuckDB while the interpreter finalizes (that aborted with status 134,
"terminate called ... FATAL: exception not rethrown")."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from clustermetrics import Client
    path, pause, how = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    c = Client(path=path)
    ds = c.Dataset("p")
    n = 20_000  # enough that closing (a checkpoint) takes a while
    X = np.random.default_rng(0).normal(size=(n, 32)).astype(np.float32)
    ds.insert_documents(X, ids=[str(i) for i in range(n)], vector_field="v")
    ds.set_cluster_labels("v", "a", {str(i): i % 3 for i in range(n)})
    if how == "report":
        ds.metrics("v", "a", sample_size=500)
    time.sleep(pause)  # the last call ended this long ago; the release comes at 0.5 s
    if how == "close":
        c.close()
""")




@pytest.mark.parametrize("how", ["exit", "report", "close"])
def test_a_script_exits_cleanly_whenever_it_ends(tmp_path, how):
    # pauses around the half-second idle release, where the timer's close met finalization
    pauses = [0.0, 0.46, 0.5, 0.5, 0.52, 0.55] if how != "close" else [0.0, 0.5]
    failed = []
    procs = []
    for i, pause in enumerate(pauses):
        env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
        procs.append((pause, subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(tmp_path / f"s{i}.duckdb"), str(pause), how],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    for pause, proc in procs:
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failed.append((pause, proc.returncode, err[-300:]))
    assert failed == [], f"runs that did not exit with status 0 (pause, status, stderr): {failed}"
