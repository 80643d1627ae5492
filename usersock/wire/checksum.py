"""The internet checksum (RFC 1071) and the pseudo-header sum of TCP, UDP and ICMPv6.

This is the only place in usersock where a checksum is computed.

Theory of operation. The ones'-complement sum of a buffer's 16-bit big-endian words is
congruent, modulo ``0xFFFF``, to the whole buffer read as one big-endian integer, because
``2**16 == 1 (mod 0xFFFF)``: this is RFC 1071 section 2(C), "parallel summation" and
"deferred carries", taken to its limit. ``int.from_bytes`` and ``%`` both run in C, which makes
this the fastest ones'-complement sum in pure Python (no per-word loop). Above 4 KiB the buffer
is converted in 4 KiB pieces that are added up before the one ``%``: each piece starts an
even number of bytes before the end, so its weight is ``1 (mod 0xFFFF)``, and dividing one
short integer is about twice as fast as dividing one 64 KiB integer. The only subtlety is
that ones'-complement arithmetic has two zeros: the end-around-carry sum of RFC 1071 is 0 only
when every word is 0 and is ``0xFFFF`` ("negative zero") for any other multiple of ``0xFFFF``;
:func:`ones_sum` reproduces that exactly, so the results are bit-identical to the reference C
code of RFC 1071 section 4.1.

An odd-length buffer is summed as if padded with one zero byte (RFC 1071 section 1 step 2,
RFC 9293 section 3.1 "Checksum").
"""

from __future__ import annotations

#: What every parser and checksum function accepts: any contiguous buffer of bytes.
Buffer = bytes | bytearray | memoryview

_PIECE = 4096


def ones_sum(data: Buffer, initial: int = 0) -> int:
    """Return the 16-bit ones'-complement sum (RFC 1071 section 1) of *data* plus *initial*.

    *initial* is a partial sum to continue from (a previous :func:`ones_sum`, or
    :func:`pseudo_header_sum`); any non-negative integer is accepted. A partial sum only
    continues correctly when the bytes before *data* had an even length. The result is in
    ``0..0xFFFF``; it is 0 only when *data* and *initial* are both all zero.
    """
    size = len(data)
    if size <= _PIECE:
        total = int.from_bytes(data, "big")
    else:
        view = memoryview(data)
        first = size % _PIECE
        total = int.from_bytes(view[:first], "big")
        for start in range(first, size, _PIECE):
            total += int.from_bytes(view[start : start + _PIECE], "big")
    if size & 1:
        total <<= 8
    total += initial
    if not total:
        return 0
    folded = total % 0xFFFF
    return folded if folded else 0xFFFF


def checksum(data: Buffer, initial: int = 0) -> int:
    """Return the internet checksum of *data*: the ones'-complement of :func:`ones_sum`
    (RFC 1071 section 1 step 3), as the 16-bit value to store in a checksum field.

    To verify a received header, call this over the header *including* its checksum field
    (and with the pseudo-header sum as *initial* where the protocol has one): the result is 0
    exactly when the checksum is correct (RFC 1071 section 1 step 4).
    """
    return 0xFFFF - ones_sum(data, initial)


def pseudo_header_sum(src: bytes, dst: bytes, protocol: int, length: int) -> int:
    """Return the ones'-complement sum of the pseudo-header that TCP, UDP and ICMPv6
    checksums cover, for use as ``initial`` of :func:`checksum`.

    IPv4 (RFC 9293 section 3.1, RFC 768): source and destination address, zero, protocol,
    TCP/UDP length. IPv6 (RFC 8200 section 8.1): source and destination address, 32-bit
    upper-layer packet length, three zero bytes, next header. Both layouts sum to the same
    value, so one function serves both. *src* and *dst* are packed addresses, both 4 or both
    16 bytes; :class:`ValueError` otherwise.
    """
    alen = len(src)
    if alen != len(dst) or (alen != 4 and alen != 16):
        raise ValueError(
            f"pseudo-header addresses must both be 4 or 16 bytes, got {alen} and {len(dst)}"
        )
    total = int.from_bytes(src, "big") + int.from_bytes(dst, "big") + protocol + length
    if not total:
        return 0
    folded = total % 0xFFFF
    return folded if folded else 0xFFFF
