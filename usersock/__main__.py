"""Command line: ``python -m usersock demo [--trace] [--pcap FILE]`` and ``demo http``."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

USAGE = """usage:
  python -m usersock demo [--trace] [--pcap FILE] [--clients N]
      the gVisor seed: a TCP server on 192.168.1.1:8080 and clients, on one stack
  python -m usersock demo http [--requests N]
      http.server and requests/urllib, unmodified, inside usersock.patched()"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "demo":
        print(USAGE)
        return 0 if args and args[0] in ("-h", "--help") else 2
    if args[1:2] == ["http"]:
        from usersock import demo_http

        return demo_http.main(args[2:])
    from usersock import demo

    return demo.main(args[1:])


if __name__ == "__main__":
    if hasattr(signal, "SIGPIPE"):
        # A closed pipe (``python -m usersock demo | head``) ends the program quietly, as
        # with other command-line tools, instead of a traceback per log line.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
