"""Smoke test of ``python -m benchmarks.floor``: every measurement runs at a tiny size and
gives a positive finite number, and ``main`` writes the documented JSON. No timing
assertions: timings belong in the benchmark, not in the suite."""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import floor  # noqa: E402

KEYS = ["cond_rtt_us", "lock_rtt_us", "eventfd_rtt_us", "kernel_rtt_us", "call_ns", "lock_ns"]


def positive_finite(x: object) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


@pytest.mark.parametrize(
    "func",
    [
        floor.cond_rtt_us,
        floor.lock_rtt_us,
        floor.eventfd_rtt_us,
        floor.kernel_rtt_us,
        floor.call_ns,
        floor.lock_ns,
    ],
)
def test_each_measurement_gives_a_positive_finite_float(func: Callable[[int], float]) -> None:
    assert positive_finite(func(200))


def test_measure_and_summarize_have_every_figure() -> None:
    samples = floor.measure(200, 1, warmup=False)
    assert list(samples) == KEYS
    assert all(len(v) == 1 and positive_finite(v[0]) for v in samples.values())

    results = floor.summarize(samples)
    assert list(results) == KEYS
    for key, r in results.items():
        assert r["unit"] and r["what"]
        assert r["min"] <= r["median"] <= r["max"]
        assert all(positive_finite(r[k]) for k in ("median", "min", "max"))
        extra = {"ratio_to_kernel", "kernel_2x_target_us"}
        if key in floor.HANDOFFS:
            assert all(positive_finite(r[k]) for k in extra)
        else:
            assert not extra & set(r)
    text = floor.table(results)
    assert all(key in text for key in KEYS)
    assert text.count("2x kernel target = ") == len(floor.HANDOFFS)


def test_main_tiny_writes_the_json(tmp_path: Path) -> None:
    out = tmp_path / "floor.json"
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    assert floor.main(["--tiny", "--json", str(out)]) == 0
    if before is not None:  # main pins for the run, then gives the CPUs back
        assert os.sched_getaffinity(0) == before

    doc = json.loads(out.read_text())
    meta = doc["meta"]
    assert meta["rounds"] == 1 and meta["count"] == 200
    assert meta["command"] == "python -m benchmarks.floor --tiny --json " + shlex.quote(str(out))
    assert list(doc["metrics"]) == KEYS
    for r in doc["metrics"].values():
        assert len(r["samples"]) == 1
        assert all(positive_finite(r[k]) for k in ("median", "min", "max"))
    for key in floor.HANDOFFS:
        assert positive_finite(doc["metrics"][key]["ratio_to_kernel"])
