"""The machine draws itself: an SVG state diagram computed from a workflow definition (no Graphviz needed)."""

from __future__ import annotations

from html import escape

from flask_babel import gettext

from workflows.engine import Workflow

BOX_W, BOX_H, COL_GAP, ROW_GAP, PAD = 150, 46, 140, 50, 20


def layout(wf: Workflow) -> dict[str, tuple[int, int]]:
    """Columns by distance from the initial state (breadth-first), rows in definition order."""
    depth = {wf.initial: 0}
    frontier = [wf.initial]
    while frontier:
        nxt = []
        for s in frontier:
            for t in wf.transitions.values():
                if s in t.source and t.dest not in depth:
                    depth[t.dest] = depth[s] + 1
                    nxt.append(t.dest)
        frontier = nxt
    for s in wf.states:
        depth.setdefault(s, max(depth.values()) + 1)
    rows: dict[int, int] = {}
    pos = {}
    for s in wf.states:
        col = depth[s]
        pos[s] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    return pos


def svg(wf: Workflow, current: str | None = None) -> str:
    """An SVG document: one box per state (the current one highlighted), one labelled arrow per (source, transition)."""
    pos = layout(wf)
    cols = max(c for c, _ in pos.values()) + 1
    rows = max(r for _, r in pos.values()) + 1
    width = PAD * 2 + cols * BOX_W + (cols - 1) * COL_GAP
    height = PAD * 2 + rows * BOX_H + (rows - 1) * ROW_GAP + 30

    def box(s):
        c, r = pos[s]
        return PAD + c * (BOX_W + COL_GAP), PAD + 30 + r * (BOX_H + ROW_GAP)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, sans-serif" font-size="12" role="img" '
             f'aria-label="{escape(gettext(wf.title))}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for t in wf.transitions.values():
        for s in t.source:
            x1, y1 = box(s)
            x2, y2 = box(t.dest)
            sx, sy = x1 + BOX_W, y1 + BOX_H / 2
            ex, ey = x2, y2 + BOX_H / 2
            if x2 == x1:  # same column: a straight line down (or up) between the boxes
                down = y2 > y1
                sx, sy = x1 + BOX_W / 2, y1 + (BOX_H if down else 0)
                ex, ey = sx, y2 + (0 if down else BOX_H)
                parts.append(f'<path d="M{sx},{sy} L{ex},{ey}" fill="none" stroke="#555" marker-end="url(#arrow)"/>')
                parts.append(f'<text x="{sx + 6}" y="{(sy + ey) / 2 + 4}" fill="#333" font-size="10">'
                             f'{escape(gettext(t.title))}</text>')
                continue
            if x2 < x1:  # backwards: loop under the boxes
                sx, sy, ex, ey = x1 + BOX_W / 2, y1 + BOX_H, x2 + BOX_W / 2, y2 + BOX_H
                mid_y = max(y1, y2) + BOX_H + ROW_GAP * 0.8
                path = f"M{sx},{sy} C{sx},{mid_y} {ex},{mid_y} {ex},{ey}"
                lx, ly = (sx + ex) / 2, mid_y - 4
            else:
                path = f"M{sx},{sy} C{(sx + ex) / 2},{sy} {(sx + ex) / 2},{ey} {ex},{ey}"
                lx, ly = (sx + ex) / 2, (sy + ey) / 2 - 5
            parts.append(f'<path d="{path}" fill="none" stroke="#555" marker-end="url(#arrow)"/>')
            parts.append(f'<text x="{lx}" y="{ly}" text-anchor="middle" fill="#333" font-size="10">'
                         f'{escape(gettext(t.title))}</text>')
    for s, state in wf.states.items():
        x, y = box(s)
        fill = "#cfe2ff" if s == current else ("#e9ecef" if s != wf.initial else "#fff3cd")
        parts.append(f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" stroke="#0d6efd"/>')
        parts.append(f'<text x="{x + BOX_W / 2}" y="{y + BOX_H / 2 + 4}" text-anchor="middle">{escape(gettext(state.title))}</text>')
    parts.append(f'<text x="{PAD}" y="{PAD + 4}" font-size="14" font-weight="bold">{escape(gettext(wf.title))}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
