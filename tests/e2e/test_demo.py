"""The seed demo, and its pcap read by a dissector we did not write (scapy)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from usersock import demo


def test_demo_three_clients(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="usersock.demo")
    assert demo.run(3) == ["Hey TCP Client"] * 3
    lines = [r.getMessage() for r in caplog.records if r.name == "usersock.demo"]
    assert lines.count("Received message on Server: Hello, TCP Server!") == 3
    assert lines.count("Received response: Hey TCP Client") == 3
    remote = [line for line in lines if line.startswith("Remote Addr 192.168.1.1:")]
    assert len(remote) == 3
    assert all(line.endswith("Local Address 192.168.1.1:8080") for line in remote)


def test_demo_trace_shows_the_handshake(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    demo.run(1, trace=True)
    sniffed = [r.getMessage() for r in caplog.records if r.name == "usersock.sniffer"]
    assert any("flags=S " in line for line in sniffed)
    assert any("flags=SA " in line or "flags=S. " in line for line in sniffed)
    assert all(line.startswith(("send ", "recv ")) for line in sniffed)


def test_demo_pcap_has_three_clean_handshakes(tmp_path: Path) -> None:
    scapy_all = pytest.importorskip("scapy.all")
    path = tmp_path / "demo.pcap"
    demo.run(3, pcap_path=str(path))
    packets = scapy_all.rdpcap(str(path))
    IP, TCP, Raw = scapy_all.IP, scapy_all.TCP, scapy_all.Raw
    assert len(packets) > 0
    syn, synack, handshakes = {}, {}, 0
    for pkt in packets:
        assert IP in pkt and TCP in pkt, "every packet dissects as IPv4/TCP"
        ip, tcp = pkt[IP], pkt[TCP]
        # checksums as the dissector recomputes them
        rebuilt_ip = ip.copy()
        del rebuilt_ip.chksum
        assert IP(bytes(rebuilt_ip)).chksum == ip.chksum, "bad IPv4 header checksum"
        rebuilt = ip.copy()
        del rebuilt[TCP].chksum
        assert IP(bytes(rebuilt))[TCP].chksum == tcp.chksum, "bad TCP checksum"
        assert ip.len == len(bytes(ip)), "IP total length"
        flags = str(tcp.flags)
        key = (tcp.sport, tcp.dport)
        if flags == "S":
            syn[key] = tcp.seq
        elif flags == "SA" and (tcp.dport, tcp.sport) in syn:
            assert tcp.ack == syn[(tcp.dport, tcp.sport)] + 1
            synack[(tcp.dport, tcp.sport)] = tcp.seq
        elif flags == "A" and key in synack and tcp.ack == synack[key] + 1 and Raw not in pkt:
            handshakes += 1
            del synack[key]
    assert handshakes == 3


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_demo_pcap_with_tshark(tmp_path: Path) -> None:
    path = tmp_path / "demo.pcap"
    demo.run(3, pcap_path=str(path))
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-Y",
            "_ws.malformed || _ws.expert.severity >= error"
            " || tcp.checksum.status == 0 || ip.checksum.status == 0",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""


def test_module_entry_point_runs_the_demo() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "usersock", "demo", "--clients", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("Received response: Hey TCP Client") == 2
    assert "Starting TCP server" in out.stdout


def test_demo_into_a_closed_pipe_ends_quietly() -> None:
    """``python -m usersock demo | head -1``: no traceback per log line once the reader left."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "usersock", "demo", "--clients", "3"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert reader.readline().endswith(b"Starting TCP server\n")
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"Logging error" not in err, err.decode()


def test_the_stack_and_demo_need_nothing_but_python() -> None:
    """The quick start's first command runs on a bare interpreter: importing usersock and
    running the seed demo must not load wrapt (only ``patched()`` needs it)."""
    code = (
        "import sys, usersock, usersock.demo\n"
        "assert 'wrapt' not in sys.modules, 'usersock imported wrapt'\n"
        "assert usersock.demo.run(1) == ['Hey TCP Client']\n"
        "assert 'wrapt' not in sys.modules\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
