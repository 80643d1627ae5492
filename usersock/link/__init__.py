"""Link endpoints: how whole IP packets enter and leave a stack's NICs.

:class:`Loopback` is the in-process FIFO (no serialisation, checksum offload);
:class:`Channel` is the test seam where a test plays the peer; :class:`Sniffer` and
:class:`Faults` wrap any link to log and capture (:class:`PcapWriter`) or to inject seeded
faults. The interface they share is :class:`LinkEndpoint` (see ``base``).
"""

from usersock.link.base import LinkEndpoint, NetworkDispatcher
from usersock.link.channel import Channel
from usersock.link.faults import Faults
from usersock.link.loopback import Loopback
from usersock.link.pcap import LINKTYPE_RAW, PcapWriter
from usersock.link.sniffer import Sniffer

__all__ = [
    "LINKTYPE_RAW",
    "Channel",
    "Faults",
    "LinkEndpoint",
    "Loopback",
    "NetworkDispatcher",
    "PcapWriter",
    "Sniffer",
]
