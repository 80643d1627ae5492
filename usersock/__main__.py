"""Command line: ``python -m usersock demo [--trace] [--pcap FILE]``."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {"demo": "usersock.demo"}
    if not args or args[0] in ("-h", "--help") or args[0] not in commands:
        print("usage: python -m usersock demo [--trace] [--pcap FILE] [--clients N]")
        return 0 if args and args[0] in ("-h", "--help") else 2
    from usersock import demo

    return demo.main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
