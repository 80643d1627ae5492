"""Benchmarks: usersock against real kernel sockets, side by side, in one run."""
