"""The closed error space of the stack, and its translation to ``OSError``.

Lower layers never raise ``OSError``: they report one of the :class:`Err` values (as gVisor's
``tcpip.Error`` does). The facade turns an :class:`Err` into the ``OSError`` subclass Linux would
raise in exactly one place, :func:`to_oserror`. This module imports nothing of ours, so every
layer may use it.
"""

from __future__ import annotations

import enum
import errno
import os


class Err(enum.Enum):
    """An error a stack operation can end in; the value is the Linux errno it maps to."""

    CONNECTION_REFUSED = errno.ECONNREFUSED
    CONNECTION_RESET = errno.ECONNRESET
    CONNECTION_ABORTED = errno.ECONNABORTED
    TIMED_OUT = errno.ETIMEDOUT
    BROKEN_PIPE = errno.EPIPE
    NOT_CONNECTED = errno.ENOTCONN
    ALREADY_CONNECTED = errno.EISCONN
    ALREADY_CONNECTING = errno.EALREADY
    IN_PROGRESS = errno.EINPROGRESS
    WOULD_BLOCK = errno.EAGAIN
    ADDRESS_IN_USE = errno.EADDRINUSE
    ADDRESS_NOT_AVAILABLE = errno.EADDRNOTAVAIL
    NETWORK_UNREACHABLE = errno.ENETUNREACH
    HOST_UNREACHABLE = errno.EHOSTUNREACH
    INVALID_ARGUMENT = errno.EINVAL
    BAD_FILE_DESCRIPTOR = errno.EBADF
    MESSAGE_TOO_LONG = errno.EMSGSIZE
    NOT_SUPPORTED = errno.EOPNOTSUPP
    PROTOCOL_NOT_AVAILABLE = errno.ENOPROTOOPT
    DESTINATION_REQUIRED = errno.EDESTADDRREQ
    ADDRESS_FAMILY_NOT_SUPPORTED = errno.EAFNOSUPPORT
    NO_BUFFER_SPACE = errno.ENOBUFS
    PERMISSION_DENIED = errno.EACCES
    PROTOCOL_ERROR = errno.EPROTO


class StackError(Exception):
    """Raised by stack, network and transport operations; carries one :class:`Err`."""

    def __init__(self, err: Err, detail: str = "") -> None:
        super().__init__(err, detail)
        self.err = err
        self.detail = detail

    def __str__(self) -> str:
        base = os.strerror(self.err.value)
        return f"{base}: {self.detail}" if self.detail else base


def to_oserror(err: Err, detail: str = "") -> OSError:
    """Return the ``OSError`` Linux raises for *err*.

    ``OSError(errno, strerror)`` picks the subclass from the errno itself
    (``ConnectionRefusedError``, ``BlockingIOError``...), as CPython's socket module does.
    ``TimeoutError`` keeps the ``socket.timeout`` shape (``"timed out"``) only where the
    facade raises it for an expired socket timeout; a TCP connection that timed out is
    ``ETIMEDOUT`` with the kernel's text.
    """
    message = os.strerror(err.value)
    if detail:
        message = f"{message} ({detail})"
    return OSError(err.value, message)
