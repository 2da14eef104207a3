"""OpenVEX statements that take matches out: ``not_affected`` and ``fixed`` for a product."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from mamori.vulns.errors import VulnsError

SUPPRESS = {"not_affected", "fixed"}


def purl_key(text: str) -> tuple[str, str | None, str, str | None] | None:
    try:
        p = PackageURL.from_string(text)
    except ValueError:
        return None
    return (p.type, p.namespace, p.name, p.version)


@dataclass(frozen=True, slots=True)
class Statement:
    vulnerability: str
    products: tuple[str, ...]
    status: str
    justification: str
    document: str


class Vex:
    def __init__(self, statements: list[Statement]) -> None:
        self.statements = statements

    @classmethod
    def load(cls, paths: list[Path]) -> Vex:
        out: list[Statement] = []
        for path in paths:
            try:
                doc: Any = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise VulnsError(f"not a readable OpenVEX document: {exc}", str(path)) from None
            for n, st in enumerate(doc.get("statements") or []):
                vuln = st.get("vulnerability") or {}
                vid = vuln.get("name") or vuln.get("@id") if isinstance(vuln, dict) else vuln
                if not vid or not st.get("status"):
                    raise VulnsError(
                        "statement needs a vulnerability and a status", f"{path}:statements[{n}]"
                    )
                products = tuple(
                    str(p.get("@id") if isinstance(p, dict) else p)
                    for p in st.get("products") or []
                )
                out.append(
                    Statement(
                        str(vid),
                        products,
                        str(st["status"]),
                        str(st.get("justification") or ""),
                        str(path),
                    )
                )
        return cls(out)

    def suppressing(self, ids: set[str], purl: str) -> Statement | None:
        """The statement that says this package is not affected by (or fixed for) ``ids``."""
        key = purl_key(purl)
        if key is None:
            return None
        for st in self.statements:
            if st.status not in SUPPRESS or st.vulnerability not in ids:
                continue
            for product in st.products:
                pk = purl_key(product)
                if pk and pk[:3] == key[:3] and (pk[3] is None or pk[3] == key[3]):
                    return st
        return None
