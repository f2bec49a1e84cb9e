"""A real TCP connection on 127.0.0.1 that carries a head's features to a tail, counted.

The full-stack baselines of paper 003 Sec. IV-B ship float32 features over TCP. Here a server
thread (the edge server) accepts one connection, reads length-prefixed messages, runs a
handler (the tail) and answers with its result; the client (the mobile device) sends.

The segments and bytes on the wire are read from the kernel (``TCP_INFO``: segs_out,
data_segs_out, snd_mss) on both sockets before and after each message. Both sockets clamp
their MSS to Ethernet's (MTU 1500: 1460 bytes, 1448 with the timestamp option), since the
loopback interface's 64 KiB MTU is not what a Wi-Fi link would carry. Linux only.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from phydnn.errors import PhyDNNError

__all__ = ["TcpLink", "TcpTransfer", "tcp_info"]

ETHERNET_MSS = 1460
_TCPI_OPT_TIMESTAMPS = 1
_TCP_INFO_LEN = 232


def tcp_info(sock: socket.socket) -> dict[str, int]:
    """The fields of Linux's ``struct tcp_info`` used here (include/uapi/linux/tcp.h)."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    if len(raw) < 160:
        raise PhyDNNError("this kernel's TCP_INFO is too old to count segments (Linux >= 4.6)")
    options = raw[5]
    snd_mss = struct.unpack_from("I", raw, 16)[0]
    segs_out, segs_in = struct.unpack_from("II", raw, 136)
    data_segs_in, data_segs_out = struct.unpack_from("II", raw, 152)
    return {"options": options, "snd_mss": snd_mss, "segs_out": segs_out, "segs_in": segs_in,
            "data_segs_in": data_segs_in, "data_segs_out": data_segs_out}


@dataclass(frozen=True)
class TcpTransfer:
    """One message client -> server: payload, segments each way, wire bytes and wall time."""

    payload_bytes: int          # application bytes sent (the features + an 8-byte length)
    data_segments: int          # client data segments
    ack_segments: int           # server segments without data (pure ACKs)
    header_bytes: int           # IP + TCP header bytes per segment
    seconds: float              # wall time from send to the server's answer

    @property
    def overhead_bytes(self) -> int:
        """IP/TCP header bytes of every segment of the exchange (data and ACKs)."""
        return (self.data_segments + self.ack_segments) * self.header_bytes

    @property
    def wire_bytes(self) -> int:
        return self.payload_bytes + self.overhead_bytes


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        buf += chunk
    return bytes(buf)


class TcpLink:
    """Client and server ends of one TCP connection on 127.0.0.1 (port chosen by the OS)."""

    def __init__(self, handler: Callable[[bytes], bytes], mss: int = ETHERNET_MSS) -> None:
        self.handler = handler
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self.client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.connect(self._listener.getsockname())
        self.server, _ = self._listener.accept()
        self.server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while True:
                (n,) = struct.unpack("!Q", _recv_exact(self.server, 8))
                reply = self.handler(_recv_exact(self.server, n))
                self.server.sendall(struct.pack("!Q", len(reply)) + reply)
        except (ConnectionError, OSError):
            return

    def header_bytes(self) -> int:
        ts = tcp_info(self.client)["options"] & _TCPI_OPT_TIMESTAMPS
        return 20 + 20 + (12 if ts else 0)

    def send(self, payload: bytes) -> tuple[bytes, TcpTransfer]:
        """Send one message, wait for the server's answer; count the upload's segments."""
        c0, s0 = tcp_info(self.client), tcp_info(self.server)
        t0 = time.perf_counter()
        self.client.sendall(struct.pack("!Q", len(payload)) + payload)
        (n,) = struct.unpack("!Q", _recv_exact(self.client, 8))
        reply = _recv_exact(self.client, n)
        seconds = time.perf_counter() - t0
        c1, s1 = tcp_info(self.client), tcp_info(self.server)
        data = c1["data_segs_out"] - c0["data_segs_out"]
        # the server's answer is one data segment (it also acknowledges); the rest are ACKs
        acks = (s1["segs_out"] - s0["segs_out"]) - (s1["data_segs_out"] - s0["data_segs_out"])
        return reply, TcpTransfer(len(payload) + 8, data, acks, self.header_bytes(), seconds)

    def close(self) -> None:
        for s in (self.client, self.server, self._listener):
            s.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> TcpLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
