"""Smoke test of ``python -m benchmarks``: every scenario runs once at a tiny size on both
kernel sockets and usersock, and the JSON has the documented shape. No timing assertions:
timings belong in the benchmark, not in the suite."""

from __future__ import annotations

import json
import pstats
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.runner import main  # noqa: E402
from benchmarks.scenarios import ENVS, GROUPS, SCENARIOS  # noqa: E402

pytest.importorskip("requests")


def test_every_scenario_runs_once_and_the_json_has_its_shape(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert main(["--tiny", "--no-pin", "--json", str(out)]) == 0

    doc = json.loads(out.read_text())
    meta = doc["meta"]
    for key in (
        "python",
        "platform",
        "command",
        "duration_s",
        "pinned_cpu",
        "rounds",
        "mode",
        "rlimit_nofile",
    ):
        assert key in meta
    assert meta["mode"] == "tiny" and meta["rounds"] == 1 and meta["pinned_cpu"] is None

    assert [s["name"] for s in doc["scenarios"]] == list(SCENARIOS)
    for s in doc["scenarios"]:
        scenario = SCENARIOS[s["name"]]
        assert s["error"] is None, s["error"]
        assert s["size"] == scenario.tiny
        assert set(s["envs"]) <= set(ENVS)
        assert [m["key"] for m in s["metrics"]] == [m.key for m in scenario.metrics]
        for m in s["metrics"]:
            assert isinstance(m["higher_is_better"], bool)
            assert m["unit"] and m["label"]
            for env in ENVS:
                summary = m[env]
                if env not in s["envs"]:
                    assert summary is None
                    continue
                assert len(summary["samples"]) == 1
                assert summary["min"] <= summary["median"] <= summary["max"]
                assert summary["median"] >= 0
            if len(s["envs"]) == 2 and m["kernel"]["median"] > 0:
                assert m["ratio"] == pytest.approx(m["usersock"]["median"] / m["kernel"]["median"])
            if m["target"] is not None:
                assert m["target"]["op"] in (">=", "<=")
                assert m["target"]["met"] in (True, False)
        runs = s["runs"]
        assert sorted(r["env"] for r in runs) == sorted(s["envs"])
        for r in runs:
            if r["env"] == "usersock" and not scenario.own_patch:
                assert r["segments"] > 0  # really ran on the virtual network

    table = out.with_suffix(".md").read_text()
    assert "| scenario |" in table and "usersock/kernel" in table
    for m in (m for s in SCENARIOS.values() for m in s.metrics):
        assert m.label in table


def test_profile_prints_the_top_functions_and_writes_a_prof(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prof = tmp_path / "ping.prof"
    assert (
        main(["--profile", "ping1", "--tiny", "--no-pin", "--top", "5", "--prof-out", str(prof)])
        == 0
    )
    text = capsys.readouterr().out
    assert "ping1 on usersock" in text and "tottime" in text and "time by thread" in text
    assert pstats.Stats(str(prof)).total_calls > 0  # type: ignore[attr-defined]


def test_selection_groups_and_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list", "http", "--skip", "http-urllib"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [n for n in GROUPS["http"] if n != "http-urllib"]
    with pytest.raises(SystemExit):
        main(["--list", "no-such-scenario"])
