"""A writer for classic libpcap capture files, readable by tcpdump, Wireshark and scapy.

Format (https://wiki.wireshark.org/Development/LibpcapFileFormat): a 24-byte global header
(magic ``0xa1b2c3d4``, little-endian like every field, version 2.4, thiszone 0, sigfigs 0,
snaplen, link type) followed by one record per packet: a 16-byte header (seconds,
microseconds, captured length, original length) and the captured bytes. The link type is
``LINKTYPE_RAW`` (101): each record is a bare IPv4 or IPv6 packet, told apart by its version
nibble, with no link-layer header.

Timestamps: callers pass the stack clock's ``now``, which may be monotonic or manual time.
So that captures look real, the first ``now`` written is mapped to *epoch* (by default the
wall-clock time of that first write) and later ones keep their distance from it.

Locking: one internal lock serialises records, so a sniffer may write outbound packets under
the stack lock and inbound ones from an injecting test thread at the same time.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from types import TracebackType
from typing import BinaryIO

PCAP_MAGIC = 0xA1B2C3D4
PCAP_VERSION = (2, 4)
LINKTYPE_RAW = 101

_GLOBAL_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")


class PcapWriter:
    """Write packets to a pcap file.

    *path_or_file* is a path (opened for writing, truncated, closed by :meth:`close`) or a
    binary file object opened for writing (flushed but left open by :meth:`close`). Packets
    longer than *snaplen* are truncated in the file, their original length recorded.
    *epoch* fixes the wall-clock time of the first record (for deterministic tests).
    The global header is written at once. Raises ``ValueError`` for a *snaplen* below 1.
    """

    def __init__(
        self,
        path_or_file: str | os.PathLike[str] | BinaryIO,
        snaplen: int = 262144,
        *,
        epoch: float | None = None,
    ) -> None:
        if snaplen < 1:
            raise ValueError(f"snaplen must be at least 1, not {snaplen}")
        self.snaplen = snaplen
        self.epoch = epoch
        self.packets = 0
        self._offset: float | None = None
        self._lock = threading.Lock()
        self._closed = False
        if isinstance(path_or_file, (str, os.PathLike)):
            self._file: BinaryIO = open(path_or_file, "wb")  # noqa: SIM115 - closed in close()
            self._owns_file = True
        else:
            self._file = path_or_file
            self._owns_file = False
        self._file.write(
            _GLOBAL_HEADER.pack(PCAP_MAGIC, *PCAP_VERSION, 0, 0, snaplen, LINKTYPE_RAW)
        )

    def wall_time(self, now: float) -> float:
        """The wall-clock time a record stamped at stack time *now* gets (fixes the mapping
        on the first call)."""
        if self._offset is None:
            epoch = time.time() if self.epoch is None else self.epoch
            self._offset = epoch - now
        return now + self._offset

    def write(self, data: bytes | bytearray | memoryview, now: float) -> None:
        """Append one record holding the IP packet *data*, captured at stack time *now*.

        Thread-safe. Raises ``ValueError`` if the writer is closed and ``OSError`` if the
        file cannot be written.
        """
        with self._lock:
            if self._closed:
                raise ValueError("write to a closed PcapWriter")
            micros = round(self.wall_time(now) * 1_000_000)
            seconds, micros = divmod(max(micros, 0), 1_000_000)
            captured = min(len(data), self.snaplen)
            self._file.write(_RECORD_HEADER.pack(seconds, micros, captured, len(data)))
            self._file.write(data[:captured])
            self.packets += 1

    def flush(self) -> None:
        """Push buffered records to the file. Raises ``ValueError`` if closed."""
        with self._lock:
            if self._closed:
                raise ValueError("flush of a closed PcapWriter")
            self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._owns_file:
                self._file.close()
            else:
                self._file.flush()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
