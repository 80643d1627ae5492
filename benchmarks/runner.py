"""``python -m benchmarks``: the same stdlib code on kernel sockets and in ``usersock.patched()``.

Every scenario (``benchmarks/scenarios.py``) is plain standard-library code talking to
127.0.0.1. The runner runs each one twice per round, in the same process: once on real
kernel sockets and once inside ``usersock.patched()`` (a fresh virtual network per run),
alternating which goes first from round to round, for several rounds, pinned to one CPU
where the OS allows (``os.sched_setaffinity``; threads inherit it). It reports per metric
the median and min-max over the rounds, the ratio usersock/kernel of the medians, and the
issue-4 target with whether it is met: a markdown table on stdout (also written next to
the JSON) and a JSON file (``benchmarks/results/latest.json`` by default; git-ignored).

``--profile SCENARIO`` instead runs one scenario once under usersock with cProfile on every
thread (the stack's work happens in the socket-calling threads), prints the top functions
and optionally writes a ``.prof`` for ``pstats``/snakeviz.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import faulthandler
import gc
import io
import json
import pstats
import resource
import shlex
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from benchmarks import scenarios as sc
from benchmarks.common import fmt, machine, plural
from benchmarks.common import pin as pin_cpu
from benchmarks.scenarios import GROUPS, KERNEL, SCENARIOS, USERSOCK, Scenario

RESULTS = Path(__file__).resolve().parent / "results"

#: Size flags: scenario name -> (flag, help).
SIZE_FLAGS = {
    "bulk": ("--bulk-mib", "MiB moved by bulk"),
    "ping1": ("--pings", "round trips for ping1 and ping1k"),
    "ping1k": ("--pings", None),
    "connect": ("--connects", "connections for connect"),
    "http-requests": ("--http-requests", "requests per HTTP client scenario"),
    "http-urllib": ("--http-requests", None),
    "http-client": ("--http-requests", None),
    "asyncio": ("--asyncio-trips", "round trips for asyncio"),
    "many": ("--conns", "concurrent connections for many"),
    "patch": ("--patch-loops", "enter+exit loops for patch"),
}


# --------------------------------------------------------------------------------------------
# Running one scenario in one environment


class Run:
    """What one run of one scenario in one environment gave."""

    def __init__(self, values: dict[str, float], info: dict[str, Any], seconds: float) -> None:
        self.values = values
        self.info = info
        self.seconds = seconds


def _arm_watchdog(timeout: float) -> bool:
    """Dump every thread's traceback and exit if the run hangs past *timeout* seconds."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            # __stderr__ may be None, which faulthandler takes as sys.stderr (typeshed: no None)
            faulthandler.dump_traceback_later(timeout, exit=True, file=stream)  # type: ignore[arg-type]
            return True
        except (AttributeError, ValueError, OSError):  # no real descriptor (captured)
            continue
    return False


def run_once(scenario: Scenario, env: str, size: int, timeout: float = 0) -> Run:
    """Run *scenario* at *size* on kernel sockets or inside a fresh ``patched()``."""
    from usersock.patch import is_patched, patched

    gc.collect()
    watchdog = timeout > 0 and _arm_watchdog(timeout)
    info: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        if env == KERNEL or scenario.own_patch:
            if is_patched():
                raise RuntimeError("a kernel run inside patched()")
            values = scenario.func(size)
        else:
            with patched() as net:
                values = scenario.func(size)
                st = net.stack.stats
                info["segments"] = st.tcp_segments_in
                info["retransmissions"] = st.tcp_retransmissions
                info["resets_sent"] = st.tcp_resets_sent
                if st.tcp_segments_in == 0:
                    raise RuntimeError(
                        f"{scenario.name}: no segment crossed the virtual network: the code"
                        " used real sockets inside patched()"
                    )
    finally:
        if watchdog:
            faulthandler.cancel_dump_traceback_later()
    seconds = time.perf_counter() - start
    if scenario.name == "many":
        info.update(sc.many_info)
    return Run(values, info, seconds)


def run_isolated(scenario: Scenario, env: str, size: int, trace: bool, timeout: float) -> Run:
    """:func:`run_once` in a fresh interpreter (it inherits the CPU pinning)."""
    root = Path(__file__).resolve().parent.parent
    cmd = [
        sys.executable,
        "-m",
        "benchmarks",
        "--child",
        json.dumps([scenario.name, env, size, trace, timeout]),
    ]
    proc = subprocess.run(
        cmd,
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout + 60 if timeout > 0 else None,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"child exited {proc.returncode}: {last}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return Run(out["values"], out["info"], out["seconds"])


def child(spec: str) -> int:
    name, env, size, trace, timeout = json.loads(spec)
    sc.many_trace[0] = trace
    run = run_once(SCENARIOS[name], env, size, timeout)
    print(json.dumps({"values": run.values, "info": run.info, "seconds": run.seconds}))
    return 0


# --------------------------------------------------------------------------------------------
# Statistics, table, JSON


def summary(samples: list[float]) -> dict[str, Any] | None:
    if not samples:
        return None
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": samples,
    }


def cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "—"
    return f"{fmt(s['median'])} ({fmt(s['min'])}-{fmt(s['max'])})"


def results_json(
    selected: list[Scenario],
    sizes: dict[str, int],
    samples: dict[Any, list[float]],
    infos: dict[str, list[dict[str, Any]]],
    errors: dict[str, str],
) -> list[dict[str, Any]]:
    out = []
    for s in selected:
        metrics = []
        for m in s.metrics:
            k = summary(samples[(s.name, m.key, KERNEL)])
            u = summary(samples[(s.name, m.key, USERSOCK)])
            ratio = u["median"] / k["median"] if k and u and k["median"] else None
            target = None
            if m.target is not None:
                target = {
                    "op": m.target.op,
                    "value": m.target.value,
                    "of": "usersock value" if m.target.absolute else "usersock/kernel",
                    "text": m.target.text(m.unit),
                    "met": m.target.met(ratio, u["median"] if u else None),
                }
            metrics.append(
                {
                    "key": m.key,
                    "label": m.label,
                    "unit": m.unit,
                    "higher_is_better": m.higher_is_better,
                    KERNEL: k,
                    USERSOCK: u,
                    "ratio": ratio,
                    "target": target,
                }
            )
        out.append(
            {
                "name": s.name,
                "summary": s.summary,
                "size": sizes[s.name],
                "size_unit": s.size_label,
                "envs": list(s.envs),
                "metrics": metrics,
                "runs": infos.get(s.name, []),
                "error": errors.get(s.name),
            }
        )
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | size | unit | kernel median (min-max) | usersock median (min-max) "
        "| usersock/kernel | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in results:
        size = f"{r['size']:,} {r['size_unit']}"
        if r["error"]:
            lines.append(f"| {r['name']} | {size} | | error | error | | | ✗ |")
            notes.append(f"{r['name']}: {r['error']}")
            continue
        for m in r["metrics"]:
            t = m["target"]
            met = "" if t is None else {True: "✓", False: "✗", None: "?"}[t["met"]]
            ratio = "—" if m["ratio"] is None else f"{m['ratio']:.2f}x"
            lines.append(
                f"| {m['label']} | {size} | {m['unit']} | {cell(m[KERNEL])} "
                f"| {cell(m[USERSOCK])} | {ratio} | {t['text'] if t else ''} | {met} |"
            )
        if r["name"] == "many" and r["runs"]:
            capped = [x for x in r["runs"] if x.get("capped")]
            if capped:
                notes.append(
                    f"many: the kernel side was capped at {capped[0]['opened']:,} connections"
                    f" (RLIMIT_NOFILE hard limit {resource.getrlimit(resource.RLIMIT_NOFILE)[1]:,};"
                    " two descriptors per connection); per-connection figures are per opened"
                    " connection. Kernel socket memory lives in the kernel, not in the process."
                )
            else:
                notes.append("many: kernel socket memory lives in the kernel, not in the process.")
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n".join(f"- {n}" for n in notes)
    return text


def machine_meta() -> dict[str, Any]:
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        root = Path(__file__).resolve().parent.parent

        def git(*argv: str) -> str:
            return subprocess.run(
                ["git", *argv], cwd=root, capture_output=True, text=True, timeout=5, check=False
            ).stdout.strip()

        commit = git("rev-parse", "--short", "HEAD") or None
        if commit and git("status", "--porcelain", "--", "usersock"):
            commit += "+dirty"  # uncommitted changes to the library
    import usersock

    return {
        **machine(),
        "usersock": getattr(usersock, "__version__", None),
        "commit": commit,
    }


# --------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="scenarios: "
        + ", ".join(SCENARIOS)
        + "; groups: "
        + ", ".join(f"{g}={'+'.join(v)}" for g, v in GROUPS.items()),
    )
    p.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help="scenarios or groups to run (default: all)"
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="SCENARIO",
        help="leave a scenario or group out (repeatable)",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and sizes, and exit")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes and 3 rounds (about 20 s)")
    mode.add_argument(
        "--tiny",
        action="store_true",
        help="minimal sizes, 1 round: checks that everything runs (the smoke test)",
    )
    p.add_argument("--rounds", type=int, help="rounds per scenario (default 5; --quick 3)")
    seen = set()
    for flag, help_ in SIZE_FLAGS.values():
        if flag not in seen:
            seen.add(flag)
            p.add_argument(flag, type=int, metavar="N", help=help_)
    p.add_argument(
        "--cpu", type=int, default=None, help="pin to this CPU (default: the highest one allowed)"
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the untimed tiny run of each scenario before round 1 (or before --profile)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="abort with every thread's traceback if one run takes longer (s; 0: off)",
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run every scenario in this process (by default 'many' gets a fresh"
        " interpreter per run, so its memory figures start from a clean heap)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument(
        "--json",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write the JSON (default benchmarks/results/latest.json);"
        " the markdown table goes next to it with .md",
    )
    prof = p.add_argument_group("profiling")
    prof.add_argument(
        "--profile",
        metavar="SCENARIO",
        help="run SCENARIO once under usersock with cProfile and print the top"
        " functions instead of benchmarking",
    )
    prof.add_argument("--prof-out", type=Path, metavar="FILE", help="also write a .prof file")
    prof.add_argument("--top", type=int, default=25, help="functions to print (default 25)")
    prof.add_argument(
        "--sort",
        default="tottime",
        help="pstats sort key: tottime (default), cumulative, ncalls...",
    )
    prof.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="profile thread CPU time (default; waits are not counted) or wall time",
    )
    prof.add_argument(
        "--kernel",
        action="store_true",
        help="profile the kernel-socket run instead (for comparison)",
    )
    return p.parse_args(argv)


def select(args: argparse.Namespace) -> list[Scenario]:
    def expand(names: list[str]) -> list[str]:
        out: list[str] = []
        for n in names:
            for part in n.split(","):
                if not part:
                    continue
                if part in GROUPS:
                    out.extend(GROUPS[part])
                elif part in SCENARIOS:
                    out.append(part)
                else:
                    raise SystemExit(
                        f"unknown scenario {part!r}; choose from "
                        + ", ".join([*SCENARIOS, *GROUPS])
                    )
        return out

    wanted = expand(args.scenarios) or list(SCENARIOS)
    skip = set(expand(args.skip))
    return [SCENARIOS[n] for n in SCENARIOS if n in wanted and n not in skip]


def size_of(s: Scenario, args: argparse.Namespace) -> int:
    flag = SIZE_FLAGS[s.name][0]
    given = getattr(args, flag.lstrip("-").replace("-", "_"))
    if given is not None:
        return int(given)
    if args.tiny:
        return s.tiny
    return s.quick if args.quick else s.default


def pin(args: argparse.Namespace) -> int | None:
    return pin_cpu(args.cpu, args.no_pin)


# --------------------------------------------------------------------------------------------
# Benchmark


def benchmark(args: argparse.Namespace) -> int:
    selected = select(args)
    if args.list:
        for s in selected:
            print(
                f"{s.name:14} {s.summary}; default {s.default:,} {s.size_label}"
                f" (--quick {s.quick:,}, --tiny {s.tiny:,}); on {'+'.join(s.envs)}"
            )
        return 0
    rounds = args.rounds or (1 if args.tiny else 3 if args.quick else 5)
    sizes = {s.name: size_of(s, args) for s in selected}
    nofile_before = resource.getrlimit(resource.RLIMIT_NOFILE)
    cpu = pin(args)
    started = time.time()
    t0 = time.perf_counter()
    samples: dict[Any, list[float]] = {
        (s.name, m.key, env): [] for s in selected for m in s.metrics for env in (KERNEL, USERSOCK)
    }
    infos: dict[str, list[dict[str, Any]]] = {s.name: [] for s in selected}
    errors: dict[str, str] = {}
    print(
        f"# python -m benchmarks: {len(selected)} scenarios x {plural(rounds, 'round')}, "
        + (f"pinned to CPU {cpu}" if cpu is not None else "not pinned"),
        file=sys.stderr,
    )

    if not args.no_warmup and not args.tiny:
        for s in selected:
            for env in s.envs:
                try:
                    sc.many_trace[0] = False
                    if not s.isolate:
                        run_once(s, env, s.tiny, args.timeout)
                except Exception as exc:  # reported by the timed runs
                    print(f"  warm-up {s.name} on {env}: {exc!r}", file=sys.stderr)
    for r in range(rounds):
        for s in selected:
            if s.name in errors:
                continue
            envs = s.envs if r % 2 == 0 else tuple(reversed(s.envs))
            for env in envs:
                # tracemalloc slows a run several-fold: measure it in the first round only.
                trace = sc.many_trace[0] = r == 0
                try:
                    if s.isolate and not args.in_process:
                        run = run_isolated(s, env, sizes[s.name], trace, args.timeout)
                    else:
                        run = run_once(s, env, sizes[s.name], args.timeout)
                except Exception as exc:
                    errors[s.name] = f"{env}: {type(exc).__name__}: {exc}"
                    traceback.print_exc()
                    print(f"  {s.name} on {env}: FAILED {exc!r}", file=sys.stderr)
                    break
                for key, value in run.values.items():
                    samples[(s.name, key, env)].append(value)
                infos[s.name].append(
                    {"round": r + 1, "env": env, "seconds": round(run.seconds, 3), **run.info}
                )
                shown = ", ".join(f"{k}={fmt(v)}" for k, v in run.values.items())
                print(
                    f"  round {r + 1}/{rounds} {s.name:13} {env:8} {shown}  [{run.seconds:.1f}s]",
                    file=sys.stderr,
                )
    duration = time.perf_counter() - t0
    sc.many_trace[0] = True

    results = results_json(selected, sizes, samples, infos, errors)
    table = markdown(results)
    command = "python -m benchmarks" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if args.argv is None else args.argv)
    )
    meta = {
        **machine_meta(),
        "command": command,
        "started": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "duration_s": round(duration, 1),
        "pinned_cpu": cpu,
        "rounds": rounds,
        "mode": "tiny" if args.tiny else "quick" if args.quick else "default",
        "rlimit_nofile": {
            "before": list(nofile_before),
            "after": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        },
    }
    print(table)
    print(
        f"\n{command}: {duration:.0f} s, {plural(rounds, 'round')}, "
        + (f"pinned to CPU {cpu}" if cpu is not None else "not pinned")
        + f"; Python {meta['python']} on {meta['cpu']}"
    )
    out: Path = args.json
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "scenarios": results}, indent=2) + "\n")
    out.with_suffix(".md").write_text(f"`{command}` ({duration:.0f} s)\n\n{table}\n")
    print(f"JSON: {out}", file=sys.stderr)
    return 1 if errors else 0


# --------------------------------------------------------------------------------------------
# Profile


#: From Python 3.12 cProfile runs on ``sys.monitoring``: one profiler sees every thread, and
#: a second one cannot be enabled ("Another profiling tool is already active").
ONE_PROFILER_SEES_ALL = sys.version_info >= (3, 12)


class ThreadProfiles:
    """cProfile on the calling thread and on every thread started while active (up to
    Python 3.11 cProfile sees only the thread that enabled it, so each thread gets its own
    profiler; from 3.12 one profiler sees them all, on the wall clock, since per-thread CPU
    clocks cannot be mixed in one profile)."""

    def __init__(self, clock: str) -> None:
        self.timer = time.thread_time if clock == "cpu" and not ONE_PROFILER_SEES_ALL else None
        self.profiles: list[tuple[str, cProfile.Profile]] = []
        self.threads: list[threading.Thread] = []

    def _new(self) -> cProfile.Profile:
        prof = cProfile.Profile(self.timer) if self.timer else cProfile.Profile()
        self.profiles.append((threading.current_thread().name, prof))
        return prof

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        # The first profile event of a new thread: hand the thread over to a profiler.
        sys.setprofile(None)
        self.threads.append(threading.current_thread())
        self._new().enable()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        if not ONE_PROFILER_SEES_ALL:
            threading.setprofile(self._hook)
        main = self._new()
        main.enable()
        try:
            yield
        finally:
            main.disable()
            threading.setprofile(None)
            for t in self.threads:
                t.join(timeout=5)

    def by_thread(self) -> str:
        """Profiled time per thread name (threads of one name summed)."""
        if ONE_PROFILER_SEES_ALL:
            return "# time by thread: not separable on Python 3.12+ (one profiler, wall clock)"
        totals: dict[str, list[float]] = {}
        for name, prof in self.profiles:
            prof.disable()
            st = pstats.Stats(prof, stream=io.StringIO())
            base = name.split(" (")[0].rstrip("-0123456789") or name
            entry = totals.setdefault(base, [0, 0.0])
            entry[0] += 1
            entry[1] += st.total_tt  # type: ignore[attr-defined]
        rows = sorted(totals.items(), key=lambda kv: -kv[1][1])
        return "# time by thread: " + "; ".join(
            f"{name} x{int(n)}: {t:.2f} s" for name, (n, t) in rows
        )

    def stats(self, stream: TextIO) -> pstats.Stats:
        stats = pstats.Stats(self.profiles[0][1], stream=stream)
        for _, prof in self.profiles[1:]:
            prof.disable()
            stats.add(prof)
        return stats


def profile(args: argparse.Namespace) -> int:
    name = args.profile
    if name not in SCENARIOS:
        raise SystemExit(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    s = SCENARIOS[name]
    env = KERNEL if args.kernel else USERSOCK
    if env not in s.envs:
        raise SystemExit(f"{name} runs on {'+'.join(s.envs)} only")
    size = size_of(s, args)
    cpu = pin(args)
    sc.many_trace[0] = False  # tracemalloc would dominate the profile
    if not args.no_warmup:  # imports and first-call costs stay out of the profile
        run_once(s, env, s.tiny, args.timeout)
    profiles = ThreadProfiles(args.clock)
    start = time.perf_counter()
    with profiles.active():
        run = run_once(s, env, size, args.timeout)
    wall = time.perf_counter() - start
    shown = ", ".join(f"{k}={fmt(v)}" for k, v in run.values.items())
    clock = "wall" if ONE_PROFILER_SEES_ALL else args.clock
    print(
        f"# {name} on {env}, {size:,} {s.size_label}, under cProfile ({clock} clock),"
        f" {len(profiles.profiles)} threads profiled, "
        + (f"pinned to CPU {cpu}" if cpu is not None else "not pinned")
        + f": {shown} in {wall:.1f} s (profiling slows it down)"
    )
    stats = profiles.stats(sys.stdout)
    print(profiles.by_thread())
    if args.prof_out:
        args.prof_out.parent.mkdir(parents=True, exist_ok=True)
        stats.dump_stats(args.prof_out)
        print(f"# wrote {args.prof_out} (python -m pstats {args.prof_out})")
    stats.sort_stats(args.sort).print_stats(args.top)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = argv
    if args.child:
        return child(args.child)
    if args.profile:
        return profile(args)
    return benchmark(args)
