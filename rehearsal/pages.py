"""The pages a person opens from a rehearsal's links (a JIRA ticket's ``/browse/KEY``, a
Terraform run's ``/app/ORG/workspaces/WS/runs/RUN``, a workflow run's ``OWNER/REPO/actions/runs/N``).

The real products answer those links with their web UI for a signed-in person; a rehearsal has
no UI and no sign-in, so each simulator answers them with one small self-contained HTML page
(no scripts, styles inline, nothing fetched from elsewhere): the simulated object's state, that
it is a rehearsal, and the commands that move it. The API endpoints keep requiring their token.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from rehearsal.sim.http import Reply

HTML = "text/html; charset=utf-8"
VERBS = ("resolve", "reject", "fail")
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "color:#1b1f24}.banner{background:#fff4ce;border:1px solid #d4a72c;padding:.75rem 1rem;"
    "border-radius:6px}table{border-collapse:collapse;margin:1rem 0}th,td{text-align:left;"
    "padding:.3rem .8rem .3rem 0;vertical-align:top}th{color:#57606a;font-weight:600}"
    "code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}"
)


def object_page(
    *,
    product: str,
    title: str,
    system: str,
    ref: str,
    rows: Iterable[tuple[str, object]],
    settled: bool,
) -> Reply:
    """The page of one simulated object: ``rows`` of (label, value) describe its state;
    ``system``/``ref`` name it for ``pao rehearsal VERB SYSTEM REF``; a ``settled`` object has
    nothing left to decide. It reloads itself while the object can still move."""
    table = "".join(
        f"<tr><th>{escape(label)}</th><td>{escape('' if value is None else str(value))}</td></tr>"
        for label, value in rows
    )
    if settled:
        moves = "<p>It has settled: nothing is left to decide.</p>"
    else:
        commands = "".join(
            f"<li><code>pao rehearsal {verb} {escape(system)} {escape(ref)}</code></li>"
            for verb in VERBS
        )
        moves = (
            "<p>To decide it as a person would in the real product, run one of:</p>"
            f"<ul>{commands}</ul><p>(or <code>POST /rehearsal/control/{escape(system)}/"
            f"{escape(ref)}/{{resolve|reject|fail}}</code> on PAO's port). This page reloads "
            "itself every 5 seconds.</p>"
        )
    refresh = "" if settled else '<meta http-equiv="refresh" content="5">'
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{refresh}'
        f"<title>Rehearsal: {escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<p class="banner"><strong>Rehearsal.</strong> This is a simulated {escape(product)}, '
        "served by <code>pao serve</code>: nothing here exists in a real system.</p>"
        f"<h1>{escape(title)}</h1><table>{table}</table>{moves}"
        "<p>Every simulated object: <code>pao rehearsal list</code>.</p></body></html>"
    )
    return Reply(200, body.encode(), content_type=HTML)


def missing_page(product: str, what: str) -> Reply:
    """The page for a link to an object the simulator does not have (e.g. after a restart:
    simulated objects live in memory only)."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Rehearsal: not found</title><style>{_STYLE}</style></head><body>"
        f'<p class="banner"><strong>Rehearsal.</strong> This is a simulated {escape(product)}, '
        "served by <code>pao serve</code>.</p>"
        f"<h1>No simulated {escape(what)}</h1><p>Simulated objects live in memory: a restarted "
        "<code>pao serve</code> has forgotten them. Every simulated object: "
        "<code>pao rehearsal list</code>.</p></body></html>"
    )
    return Reply(404, body.encode(), content_type=HTML)
