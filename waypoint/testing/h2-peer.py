"""An independent HTTP/2 peer for the waypoint's bad-input tests (driven by waypoint/src/proxy/h2-peer.test.ts).

Python's `h2` (Debian python3-h2) is a second HTTP/2 implementation, so these checks do not rest on Node's client
agreeing with Node's server. The peer speaks HBONE itself: TLS 1.3 with the client certificate the test's mesh CA
issued, ALPN h2, CONNECT streams; inside a CONNECT stream it can speak h2c with a second h2 connection.

Modes (argv[1]); settings come as one JSON object in argv[2]; the result is one JSON line on stdout. Progress lines
({"event": ...}) come first, and the peer waits for a line on stdin where the test must act in between.
  connect-flood  `count` CONNECT streams on one HBONE connection, all sent before the server's SETTINGS are read
                 (so the peer ignores SETTINGS_MAX_CONCURRENT_STREAMS); accepted tunnels are held open until stdin.
  h2c-flood      one tunnel, then `count` h2c GETs of `path` inside it at once: sent right behind the CONNECT,
                 before the inner SETTINGS are read, or (`after_ack`) past the SETTINGS the peer acknowledged.
  big-headers    an oversized header block on a CONNECT stream, and inside a tunnel on an h2c request, each followed
                 by a normal one on the same connection.
"""

import collections
import json
import select
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

CFG = json.loads(sys.argv[2])
DEADLINE_S = float(CFG.get("timeout_s", 20))


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def hbone_socket():
    """TLS 1.3 to the waypoint with the mesh client certificate; the peer's SPIFFE ID is checked by hand (URI SAN)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=CFG["ca"])
    ctx.load_cert_chain(certfile=CFG["cert"], keyfile=CFG["key"])
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", CFG["port"]), timeout=DEADLINE_S)
    tls = ctx.wrap_socket(raw)
    assert tls.selected_alpn_protocol() == "h2", "no h2 from ALPN"
    sans = [v for (k, v) in tls.getpeercert().get("subjectAltName", ()) if k == "URI"]
    assert CFG["expect_id"] in sans, "waypoint presented %r" % (sans,)
    return tls


def h2conn():
    return h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8", validate_outbound_headers=False)
    )


class Outer:
    """The HBONE connection: an h2 client over TLS; every event is handed to `on_event`."""

    def __init__(self):
        self.sock = hbone_socket()
        self.conn = h2conn()
        self.conn.initiate_connection()
        self.flush()
        self.closed_by_peer = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, on_event, until, timeout_s=DEADLINE_S):
        """Reads and dispatches events until `until()` is true; False when the time ran out or the socket closed."""
        end = time.monotonic() + timeout_s
        while not until():
            left = end - time.monotonic()
            if left <= 0:
                return False
            if self.sock.pending() == 0:
                ready, _, _ = select.select([self.sock], [], [], min(left, 0.5))
                if not ready:
                    continue
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                return until()
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.ConnectionTerminated):
                    self.closed_by_peer = int(ev.error_code)
                if isinstance(ev, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                on_event(ev)
            self.flush()
        return True

    def connect(self, authority, extra=()):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", authority)] + list(extra), end_stream=False)
        return sid


def wait_stdin():
    sys.stdin.readline()


def connect_flood():
    outer = Outer()
    count = CFG["count"]
    status = {}
    resets = {}
    settings = {}
    for _ in range(count):
        outer.connect(CFG["authority"])
    outer.flush()
    emit({"event": "sent"})

    def on(ev):
        if isinstance(ev, h2.events.ResponseReceived):
            status[ev.stream_id] = dict(ev.headers).get(":status")
        elif isinstance(ev, h2.events.StreamReset):
            resets[ev.stream_id] = int(ev.error_code)
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                settings[int(k)] = v.new_value

    outer.pump(on, lambda: len(status) + len(resets) >= count or outer.closed_by_peer is not None)
    emit({"event": "held", "accepted": sum(1 for s in status.values() if s == "200")})
    wait_stdin()
    held_ok = outer.closed_by_peer is None
    outer.conn.close_connection()
    outer.flush()
    outer.sock.close()
    codes = sorted(set(resets.values()))
    emit(
        {
            "maxConcurrentStreams": settings.get(3),
            "accepted": sum(1 for s in status.values() if s == "200"),
            "otherStatus": sorted(set(s for s in status.values() if s != "200")),
            "refused": sum(1 for c in resets.values() if c == ErrorCodes.REFUSED_STREAM),
            "resetCodes": codes,
            "goaway": outer.closed_by_peer,
            "heldOpen": held_ok,
        }
    )


class Tunnel:
    """One CONNECT stream carrying an inner h2c connection (the h2 bytes travel as the tunnel's DATA)."""

    def __init__(self, outer, authority, on_inner, early=None):
        self.outer = outer
        # The inner connection exists before the CONNECT goes out: the server's inner SETTINGS may share a read
        # with the tunnel's 200.
        self.inner = h2conn()
        self.inner.initiate_connection()
        self.on_inner = on_inner
        if early is not None:
            early(self)
        self.sid = outer.connect(authority)
        if early is not None:
            # Early bytes follow the CONNECT at once, so the waypoint reads them before the peer saw any SETTINGS.
            self.flush()
        outer.flush()
        got = {}
        outer.pump(lambda ev: self._outer_event(ev, got), lambda: "status" in got)
        assert got["status"] == "200", "tunnel refused: %r" % (got,)

    def _outer_event(self, ev, got):
        if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == self.sid:
            got["status"] = dict(ev.headers).get(":status")
        elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == self.sid:
            got["status"] = "reset %d" % int(ev.error_code)
        elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == self.sid:
            for inner_ev in self.inner.receive_data(ev.data):
                if isinstance(inner_ev, h2.events.DataReceived):
                    self.inner.acknowledge_received_data(inner_ev.flow_controlled_length, inner_ev.stream_id)
                self.on_inner(inner_ev)
            self.flush()
        elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == self.sid:
            got["ended"] = True

    def flush(self):
        data = self.inner.data_to_send()
        while data:
            # The tunnel's own flow control: send what its window allows, the rest after WINDOW_UPDATEs.
            n = max(0, min(self.outer.conn.local_flow_control_window(self.sid), self.outer.conn.max_outbound_frame_size))
            piece, data = data[:n], data[n:]
            if piece:
                self.outer.conn.send_data(self.sid, piece)
                self.outer.flush()
            else:
                self.outer.pump(self.dispatch, lambda: self.outer.conn.local_flow_control_window(self.sid) > 0, 5)
        self.outer.flush()

    def dispatch(self, ev):
        self._outer_event(ev, {})

    def run(self, until, timeout_s=DEADLINE_S):
        return self.outer.pump(self.dispatch, until, timeout_s)

    def request(self, path, extra=()):
        sid = self.inner.get_next_available_stream_id()
        self.inner.send_headers(
            sid,
            [(":method", "GET"), (":scheme", "http"), (":authority", CFG["authority"]), (":path", path)] + list(extra),
            end_stream=True,
        )
        return sid


class Results:
    """What happened to each inner stream."""

    def __init__(self):
        self.status = {}
        self.resets = {}
        self.ended = set()
        self.trailers = 0
        self.body = {}
        self.settings = {}
        self.goaway = None

    def on(self, ev):
        if isinstance(ev, h2.events.ResponseReceived):
            self.status[ev.stream_id] = dict(ev.headers).get(":status")
        elif isinstance(ev, h2.events.DataReceived):
            self.body[ev.stream_id] = self.body.get(ev.stream_id, b"") + ev.data
        elif isinstance(ev, h2.events.TrailersReceived):
            self.trailers += 1
        elif isinstance(ev, h2.events.StreamEnded):
            self.ended.add(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            self.resets[ev.stream_id] = int(ev.error_code)
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                self.settings[int(k)] = v.new_value
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = int(ev.error_code)


def h2c_flood():
    outer = Outer()
    res = Results()
    count = CFG["count"]

    def flood(tunnel):
        for _ in range(count):
            tunnel.request(CFG["path"])

    if CFG["after_ack"]:
        tunnel = Tunnel(outer, CFG["authority"], res.on)
        # Wait for the server's inner SETTINGS (they may come in a later read than the tunnel's 200): h2 acknowledges
        # them as they are read and the ACK goes out then, ahead of the flood, so the server has its limit acknowledged
        # when the flood arrives (before that, nghttp2 refuses the excess with REFUSED_STREAM instead of a GOAWAY).
        assert tunnel.run(lambda: 3 in res.settings), "no inner SETTINGS from the server"
        # h2 would now refuse to open more than the server allows, so the peer forgets the limit (h2 keeps settings as
        # queues of values, the first in force).
        tunnel.inner.remote_settings._settings[SettingCodes.MAX_CONCURRENT_STREAMS] = collections.deque([2**31 - 1])
        flood(tunnel)
        tunnel.flush()
    else:
        # Preface and requests go out right behind the CONNECT, before the peer has read the inner SETTINGS.
        tunnel = Tunnel(outer, CFG["authority"], res.on, early=flood)
    emit({"event": "sent"})
    tunnel.run(lambda: len(res.ended) + len(res.resets) >= count or res.goaway is not None)
    served = [sid for sid in res.ended if res.status.get(sid) == "200"]
    # The HBONE connection itself: still open, and another tunnel on it still works.
    other = Results()
    Tunnel(outer, CFG["authority"], other.on)
    emit(
        {
            "maxConcurrentStreams": res.settings.get(3),
            "served": len(served),
            "refused": sum(1 for c in res.resets.values() if c == ErrorCodes.REFUSED_STREAM),
            "resetCodes": sorted(set(res.resets.values())),
            "trailers": res.trailers,
            "bodies": sorted(set(res.body.get(sid, b"").decode() for sid in served)),
            "goaway": res.goaway,
            "hboneGoaway": outer.closed_by_peer,
        }
    )
    outer.sock.close()


def big_headers():
    big = [("x-big-%d" % i, "b" * 4096) for i in range(CFG["fields"])]
    outer = Outer()
    res = Results()
    # The tunnel first: by then both ends have acknowledged SETTINGS, so the advertised header list limits apply
    # (nghttp2 enforces the acknowledged ones; a burst sent before the ACK meets no limit).
    tunnel = Tunnel(outer, CFG["authority"], res.on)
    got = {}

    def on_outer(ev):
        if isinstance(ev, h2.events.ResponseReceived):
            got[ev.stream_id] = dict(ev.headers).get(":status")
        elif isinstance(ev, h2.events.StreamReset):
            got[ev.stream_id] = "reset %d" % int(ev.error_code)
        else:
            tunnel.dispatch(ev)

    # 1. On the HBONE connection: an oversized CONNECT.
    first = outer.connect(CFG["authority"], big)
    outer.flush()
    outer.pump(on_outer, lambda: first in got or outer.closed_by_peer is not None)
    # 2. Inside the tunnel: a normal h2c request, an oversized one, a normal one on the same inner connection.
    a = tunnel.request("/before")
    tunnel.flush()
    tunnel.run(lambda: a in res.ended or a in res.resets or res.goaway is not None)
    b = tunnel.request("/too-big", big)
    tunnel.flush()
    tunnel.run(lambda: b in res.ended or b in res.resets or res.goaway is not None)
    c = tunnel.request("/after")
    tunnel.flush()
    tunnel.run(lambda: c in res.ended or c in res.resets or res.goaway is not None)
    # 3. A new CONNECT on the same HBONE connection after the oversized one.
    last = outer.connect(CFG["authority"])
    outer.flush()
    outer.pump(on_outer, lambda: last in got or outer.closed_by_peer is not None)

    def outcome(status, resets, sid):
        if sid in status:
            return status[sid]
        return "reset %d" % resets[sid] if sid in resets else None

    emit(
        {
            "outerBig": got.get(first),
            "outerAfter": got.get(last),
            "outerGoaway": outer.closed_by_peer,
            "innerBefore": outcome(res.status, res.resets, a),
            "innerBig": outcome(res.status, res.resets, b),
            "innerAfter": outcome(res.status, res.resets, c),
            "innerGoaway": res.goaway,
        }
    )
    outer.sock.close()


{"connect-flood": connect_flood, "h2c-flood": h2c_flood, "big-headers": big_headers}[sys.argv[1]]()
