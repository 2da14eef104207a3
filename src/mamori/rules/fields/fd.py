"""``fd.*``: the file or socket a system call works on."""

from __future__ import annotations

from typing import Any

from mamori.core.events import Event, NetworkInfo
from mamori.rules.fields.base import Extractor, FieldSpec, FieldType, Multi, field

S = FieldType.STRING
I = FieldType.INT  # noqa: E741 - short alias in a table
OPEN = "open"
NET = "connect"
_SERVER_SIDE = frozenset(("accept", "accept4", "listen", "bind"))


def _path(e: Event) -> str | None:
    f = e.file
    return f.path if f is not None else None


def _family(ip: str | None) -> str | None:
    if ip is None:
        return None
    return "ipv6" if ":" in ip else "ipv4"


def _net_name(e: Event) -> str | None:
    n = e.network
    if n is None:
        return None
    if n.protocol == "unix":
        return n.dst_ip or n.src_ip
    # An end not known yet (a connect's source before the kernel picks it) renders as libsinsp
    # renders an unset address: 0.0.0.0:0, never "None".
    src = f"{n.src_ip or '0.0.0.0'}:{n.src_port or 0}"  # noqa: S104 (a rendering, not a bind)
    return f"{src}->{n.dst_ip or '0.0.0.0'}:{n.dst_port or 0}"  # noqa: S104


def _name(e: Event) -> str | None:
    f = e.file
    if f is not None:
        return f.path
    return _net_name(e)


def dirname(path: str) -> str:
    """``posixpath.dirname`` without its generality (str only): hot in open rules."""
    head = path[: path.rfind("/") + 1]
    return head.rstrip("/") or head


def _directory(e: Event) -> str | None:
    f = e.file
    if f is None:
        return None
    return f.path if f.directory else dirname(f.path)


def _filename(e: Event) -> str | None:
    f = e.file
    if f is None or f.directory:
        return None
    return f.path.rpartition("/")[2]


def _type(e: Event) -> str | None:
    if e.file is not None:
        return "directory" if e.file.directory else "file"
    n = e.network
    if n is None:
        return None
    if n.protocol == "unix":
        return "unix"
    return _family(n.dst_ip or n.src_ip)


_TYPECHAR = {"file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u"}


def _typechar(e: Event) -> str | None:
    t = _type(e)
    return _TYPECHAR.get(t) if t is not None else None


def _local_is_server(e: Event) -> bool:
    return e.syscall in _SERVER_SIDE


def _n(get: Any) -> Extractor:
    def extract(e: Event) -> Any:
        n = e.network
        return get(n) if n is not None and n.protocol != "unix" else None

    return extract


def _local(e: Event, ip: bool) -> Any:
    n = e.network
    if n is None or n.protocol == "unix":
        return None
    server = _local_is_server(e)
    if ip:
        return n.dst_ip if server else n.src_ip
    return n.dst_port if server else n.src_port


def _remote(e: Event, ip: bool) -> Any:
    n = e.network
    if n is None or n.protocol == "unix":
        return None
    server = _local_is_server(e)
    if ip:
        return n.src_ip if server else n.dst_ip
    return n.src_port if server else n.dst_port


def _remote_name(e: Event) -> str | None:
    n = e.network
    if n is None:
        return None
    return n.src_name if _local_is_server(e) else n.dst_name


def _local_name(e: Event) -> str | None:
    n = e.network
    if n is None:
        return None
    return n.dst_name if _local_is_server(e) else n.src_name


def _both(get_c: Any, get_s: Any) -> Extractor:
    def extract(e: Event) -> tuple[Any, ...] | None:
        n = e.network
        if n is None or n.protocol == "unix":
            return None
        c, s = get_c(n), get_s(n)
        if c is None:
            return () if s is None else (s,)
        return (c,) if s is None else (c, s)

    return extract


def _sockfamily(e: Event) -> str | None:
    n = e.network
    if n is None:
        return None
    if n.protocol == "unix":
        return "unix"
    return "ip"


def _l4proto(n: NetworkInfo) -> str | None:
    return n.protocol if n.protocol in ("tcp", "udp", "icmp", "raw") else None


def _fd_num(e: Event) -> int | None:
    if e.file is not None and e.file.fd is not None:
        return e.file.fd
    if e.network is not None and e.network.fd is not None:
        return e.network.fd
    raw = e.args.get("fd")
    return int(raw) if raw is not None and raw.lstrip("-").isdigit() else None


FIELDS: tuple[FieldSpec, ...] = (
    field("fd.num", I, "File descriptor number.", _fd_num, sensor=OPEN),
    field("fd.type", S, "file, directory, ipv4, ipv6 or unix.", _type, sensor="open, connect"),
    field("fd.typechar", S, "f, d, 4, 6 or u.", _typechar, sensor="open, connect"),
    field(
        "fd.name",
        S,
        "File path, or 'cip:cport->sip:sport' for sockets.",
        _name,
        sensor="open, connect",
    ),
    field("fd.nameraw", S, "File path as passed to the system call.", _path, sensor=OPEN),
    field(
        "fd.name_changed",
        FieldType.BOOL,
        "The name changed (rename); mamori: false.",
        lambda e: False if e.file is not None else None,
    ),
    field("fd.directory", S, "Directory of the file.", _directory, sensor=OPEN),
    field("fd.filename", S, "File name without the directory.", _filename, sensor=OPEN),
    field("fd.cip", FieldType.IPADDR, "Client address.", _n(lambda n: n.src_ip), sensor=NET),
    field("fd.sip", FieldType.IPADDR, "Server address.", _n(lambda n: n.dst_ip), sensor=NET),
    field("fd.lip", FieldType.IPADDR, "Local address.", lambda e: _local(e, True), sensor=NET),
    field("fd.rip", FieldType.IPADDR, "Remote address.", lambda e: _remote(e, True), sensor=NET),
    field(
        "fd.ip",
        FieldType.IPADDR,
        "Client or server address (filters only).",
        _both(lambda n: n.src_ip, lambda n: n.dst_ip),
        multi=Multi.ANY,
        sensor=NET,
    ),
    field("fd.cport", I, "Client port.", _n(lambda n: n.src_port), sensor=NET),
    field("fd.sport", I, "Server port.", _n(lambda n: n.dst_port), sensor=NET),
    field("fd.lport", I, "Local port.", lambda e: _local(e, False), sensor=NET),
    field("fd.rport", I, "Remote port.", lambda e: _remote(e, False), sensor=NET),
    field(
        "fd.port",
        I,
        "Client or server port (filters only).",
        _both(lambda n: n.src_port, lambda n: n.dst_port),
        multi=Multi.ANY,
        sensor=NET,
    ),
    field(
        "fd.cnet",
        FieldType.IPNET,
        "Client address, compared against networks.",
        _n(lambda n: n.src_ip),
        sensor=NET,
    ),
    field(
        "fd.snet",
        FieldType.IPNET,
        "Server address, compared against networks.",
        _n(lambda n: n.dst_ip),
        sensor=NET,
    ),
    field(
        "fd.lnet",
        FieldType.IPNET,
        "Local address, compared against networks.",
        lambda e: _local(e, True),
        sensor=NET,
    ),
    field(
        "fd.rnet",
        FieldType.IPNET,
        "Remote address, compared against networks.",
        lambda e: _remote(e, True),
        sensor=NET,
    ),
    field(
        "fd.net",
        FieldType.IPNET,
        "Client or server address, against networks.",
        _both(lambda n: n.src_ip, lambda n: n.dst_ip),
        multi=Multi.ANY,
        sensor=NET,
    ),
    field("fd.cip.name", S, "Client domain name.", _n(lambda n: n.src_name)),
    field("fd.sip.name", S, "Server domain name.", _n(lambda n: n.dst_name)),
    field("fd.lip.name", S, "Local domain name.", _local_name),
    field("fd.rip.name", S, "Remote domain name.", _remote_name),
    field("fd.l4proto", S, "tcp, udp, icmp or raw.", _n(_l4proto), sensor=NET),
    field("fd.sockfamily", S, "ip or unix.", _sockfamily, sensor=NET),
    field(
        "fd.connected",
        FieldType.BOOL,
        "The socket is connected.",
        lambda e: (e.result in (None, "SUCCESS")) if e.network is not None else None,
        sensor=NET,
    ),
)
