"""The send buffer: the user's queued bytes, from SND.UNA on, sliced into segments without copying.

Theory of operation
-------------------
:class:`SendBuffer` holds every byte from SND.UNA to the end of what the user queued, as a list
of immutable chunks; segments are ``memoryview`` slices of those chunks, so no byte is copied
after :meth:`SendBuffer.append` (which copies once, and only if the caller's object is
mutable). Positions are *stream offsets*, unbounded integers counting data bytes from the first
one (the :class:`~usersock.transport.tcp.sender.Sender` maps them to sequence numbers).

The data between SND.UNA and SND.MAX is also the retransmission queue: a retransmission
re-slices the same chunks. Acknowledged data is released from the front (:meth:`release`);
the chunk list is compacted only when more than half of it is dead, so a long transfer costs
amortised O(1) per chunk. :meth:`get` finds a chunk by bisection, so a slice anywhere in the
buffer is O(log chunks).
"""

from __future__ import annotations

from bisect import bisect_right

__all__ = ["SendBuffer"]


class SendBuffer:
    """The bytes from SND.UNA to the end of the user's queued data.

    ``start`` and ``end`` are stream offsets. Chunks are kept as ``memoryview`` objects over
    immutable ``bytes``; :meth:`get` returns a zero-copy slice unless a segment spans chunks.
    """

    __slots__ = ("_chunks", "_head", "_starts", "end", "start")

    def __init__(self) -> None:
        self._chunks: list[memoryview] = []
        self._starts: list[int] = []
        self._head = 0
        self.start = 0
        self.end = 0

    def __len__(self) -> int:
        return self.end - self.start

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Queue *data* (copied once if it is mutable; a view of ``bytes`` is kept as is)."""
        if isinstance(data, bytes):
            view = memoryview(data)
        elif isinstance(data, memoryview) and type(data.obj) is bytes and data.c_contiguous:
            view = data.cast("B") if data.format != "B" or data.ndim != 1 else data
        else:
            view = memoryview(bytes(data))
        n = len(view)
        if n:
            self._chunks.append(view)
            self._starts.append(self.end)
            self.end += n

    def get(self, off: int, n: int) -> bytes | memoryview:
        """Return *n* bytes starting at stream offset *off* (a view when in one chunk)."""
        i = bisect_right(self._starts, off, self._head) - 1
        chunk = self._chunks[i]
        rel = off - self._starts[i]
        if rel + n <= len(chunk):
            return chunk[rel : rel + n]
        parts = [chunk[rel:]]
        n -= len(chunk) - rel
        while n > 0:
            i += 1
            chunk = self._chunks[i]
            parts.append(chunk[:n])
            n -= len(chunk)
        return b"".join(parts)

    def release(self, upto: int) -> None:
        """Forget everything before stream offset *upto* (acknowledged data)."""
        if upto <= self.start:
            return
        self.start = upto
        chunks, starts = self._chunks, self._starts
        head = self._head
        last = len(chunks)
        while head < last and starts[head] + len(chunks[head]) <= upto:
            head += 1
        if head == last:
            chunks.clear()
            starts.clear()
            head = 0
        elif head > 64 and head * 2 > last:
            del chunks[:head]
            del starts[:head]
            head = 0
        self._head = head
