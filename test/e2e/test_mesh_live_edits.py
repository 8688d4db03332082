"""Issue 7's must-show in the local mesh: editing a VirtualService in remora-pilot's config
directory while a client pod sends a steady stream of requests through its sidecar changes the
routing within one second of the write, and fails no request.

The stream (steady_load.py, run in the client pod) calls reviews directly, half on keep-alive
connections and half on a new connection per request; every request is logged with its start
and end time, so the switch is measured against the time of the write.

Needs root, `ip netns` and a built remora-pilot; skipped otherwise. Ends with `mesh down`."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

import conftest as h  # noqa: E402
from test_mesh_bookinfo import _SKIP, REMORACTL, RUN, SAMPLES, mesh_down, remoractl  # noqa: E402,F401

pytestmark = pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))

LOADER = Path(__file__).parent / "steady_load.py"
VS_FILE = RUN / "config" / "virtualservice.default.reviews.yaml"


def reviews_vs(subset):
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: default}}
spec:
  hosts: [reviews]
  http:
  - route: [{{destination: {{host: reviews, subset: {subset}}}}}]
"""


def records(path):
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    # The last line may be half written while the loader runs.
    return [json.loads(line) for line in lines if line.endswith("}")]


def rewrite(text):
    """Replaces the VirtualService's file as editors and `mesh apply` do (write aside, rename);
    returns the time of the rename."""
    tmp = VS_FILE.with_name(".reviews.edit.tmp")
    tmp.write_text(text)
    os.replace(tmp, VS_FILE)
    return time.time()


def test_virtual_service_edits_under_steady_load_fail_nothing(mesh_down, tmp_path):
    shutil.copy(SAMPLES / "bookinfo.py", tmp_path)
    shutil.copy(SAMPLES / "bookinfo.yaml", tmp_path)
    (tmp_path / "client.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: client-0, labels: {app: client}}\n"
        "spec:\n  containers:\n  - {name: client, command: [sleep, infinity]}\n")
    remoractl("mesh", "up", "-f", str(tmp_path), "--wait", "120")
    remoractl("mesh", "apply", "-f", str(SAMPLES / "networking" / "destination-rule-all.yaml"))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "vs.yaml").write_text(reviews_vs("v1"))
    remoractl("mesh", "apply", "-f", str(rules / "vs.yaml"))
    assert VS_FILE.exists()

    def versions_now():
        r = remoractl("mesh", "exec", "client-0", "--", "curl", "-sf",
                      "http://reviews:9080/reviews/0", check=False)
        return json.loads(r.stdout)["version"] if r.returncode == 0 else None
    h.wait_until(lambda: all(versions_now() == "v1" for _ in range(5)), 30, interval=0.5,
                 what="reviews routed to v1")

    out, stop = tmp_path / "load.jsonl", tmp_path / "stop"
    loader = subprocess.Popen(
        [str(REMORACTL), "mesh", "exec", "client-0", "--", "python3", str(LOADER),
         "--workers", "8", "--stop", str(stop), "--out", str(out), "--max-seconds", "90"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def served_since(t, version, n):
            return sum(1 for r in records(out)
                       if r["start"] > t and r["version"] == version) >= n

        h.wait_until(lambda: served_since(0, "v1", 100), 30, interval=0.2,
                     what="the steady stream answered by v1")
        writes = []
        for subset in ("v3", "v1", "v2", "v1"):
            written = rewrite(reviews_vs(subset))
            writes.append((subset, written))
            # The new version serves, and keeps serving for a while, before the next edit.
            h.wait_until(lambda: served_since(written + 1.0, subset, 60), 20, interval=0.1,
                         what=f"the stream answered by {subset} after the edit")
    finally:
        stop.touch()
        try:
            _, err = loader.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            loader.kill()
            _, err = loader.communicate()
    assert loader.returncode == 0, err

    log = records(out)
    failed = [r for r in log if r["error"] is not None]
    assert not failed, f"{len(failed)} of {len(log)} requests failed: {failed[:5]}"
    assert len(log) > 500, len(log)
    print(f"{len(log)} requests, none failed")
    assert {r["keep_alive"] for r in log} == {True, False}
    ends = [w for _, w in writes[1:]] + [float("inf")]
    for (subset, written), next_write in zip(writes, ends):
        # The first answer from the new version came within 1 s of the write ...
        first_new = min(r["end"] for r in log if r["version"] == subset and r["start"] >= written)
        assert first_new - written < 1.0, (subset, first_new - written)
        print(f"edit to {subset}: first answer from it {first_new - written:.3f} s after the write")
        # ... and from 1 s after the write until the next edit, only the new version answered.
        stale = [r for r in log
                 if written + 1.0 <= r["start"] and r["end"] < next_write and r["version"] != subset]
        assert not stale, (subset, stale[:3])
