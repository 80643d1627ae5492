"""``python -m benchmarks.patch_cost``: what entering and leaving ``patched()`` costs.

Four measurements, each the best of several runs, in microseconds per enter+exit:

* ``given network, outermost`` — ``with patched(net):`` with a network made beforehand: the
  patch machinery alone (push the network, save and install the patch sites, pop, restore);
* ``given network, nested`` — the same inside an outer ``patched()``: only push and pop;
* ``fresh network`` — ``with patched():``, which also makes a :class:`usersock.Network`
  (stack, loopback NIC, addresses, routes) and closes it on the way out;
* ``getaddrinfo`` — one patched ``socket.getaddrinfo("localhost", 80)`` call (wrapper and
  virtual resolver), for scale.

The target for the machinery is well under 100 us (ARCHITECTURE.md section 5).
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from collections.abc import Callable

from usersock.net import Network
from usersock.patch import patched


def best_us(fn: Callable[[], object], loops: int, runs: int) -> float:
    """Best-of-*runs* mean time of *fn* over *loops* calls, in microseconds."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - start) / loops)
    return best * 1e6


def measure(loops: int = 2000, runs: int = 5) -> dict[str, float]:
    net = Network()
    ctx = patched(net)

    def given() -> None:
        with ctx:
            pass

    def fresh() -> None:
        with patched():
            pass

    results = {
        "given network, outermost": best_us(given, loops, runs),
        "fresh network": best_us(fresh, max(loops // 10, 10), runs),
    }
    with patched():
        results["given network, nested"] = best_us(given, loops, runs)
        results["getaddrinfo"] = best_us(
            lambda: socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM), loops, runs
        )
    net.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    results = measure(args.loops, args.runs)
    if args.json:
        print(json.dumps({k: round(v, 2) for k, v in results.items()}, indent=2))
        return
    for name, value in results.items():
        print(f"{name:<28} {value:8.2f} us")


if __name__ == "__main__":
    main()
