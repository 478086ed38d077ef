"""The few HTML pages the App serves to people (setup, status): one layout, no assets.

Server-rendered, self-contained (inline CSS, no scripts, nothing fetched from elsewhere) and
readable on a phone. Every value interpolated into a page goes through `escape`; pages never
carry a key, token or secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from aiohttp import web

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:46rem;padding:1rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
.scroll{overflow-x:auto}
button,.button{font:inherit;background:#1f883d;color:#fff;border:0;border-radius:6px;
padding:.5rem 1rem;cursor:pointer;text-decoration:none;display:inline-block}
input{font:inherit;padding:.4rem;border:1px solid #d0d7de;border-radius:6px;max-width:100%}
form{margin:.75rem 0}.muted{color:#59636e}.error{color:#d1242f}
"""


def page(title: str, body: str, *, status: int = 200) -> web.Response:
    """A whole page around `body` (already HTML; build it with `escape`)."""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · dropsafe</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(status=status, text=html, content_type="text/html")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> str:
    """An HTML table of escaped cells, or `empty` as a paragraph when there are no rows."""
    cells = [
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    ]
    if not cells:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(cells)}</table></div>'
