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


def text_width(text: str, size: float) -> float:
    """A generous estimate of a text's width in DejaVu Sans (wide glyphs: Cyrillic capitals take ~0.7 em)."""
    return len(text) * size * 0.66


class _Extent:
    """The bounding box of everything drawn, so the viewBox holds every label and edge whole (nothing clipped)."""

    def __init__(self):
        self.x0 = self.y0 = float("inf")
        self.x1 = self.y1 = float("-inf")

    def point(self, x: float, y: float) -> None:
        self.x0, self.y0, self.x1, self.y1 = min(self.x0, x), min(self.y0, y), max(self.x1, x), max(self.y1, y)

    def text(self, x: float, y: float, text: str, size: float, anchor: str = "start") -> None:
        w = text_width(text, size)
        left = x - w / 2 if anchor == "middle" else x
        self.point(left, y - size)
        self.point(left + w, y + size * 0.3)


def svg(wf: Workflow, current: str | None = None) -> str:
    """An SVG document: one box per state (the current one highlighted), one labelled arrow per (source, transition).

    Boxes are as wide as the longest state title; the viewBox is the bounding box of every box, curve (its control
    points) and label, so nothing is cut off however long a translated title is.
    """
    pos = layout(wf)
    box_w = max([BOX_W] + [text_width(gettext(st.title), 12) + 20 for st in wf.states.values()])
    ext = _Extent()

    def box(s):
        c, r = pos[s]
        return PAD + c * (box_w + COL_GAP), PAD + 30 + r * (BOX_H + ROW_GAP)

    def label(x, y, text, size=10, anchor="start", extra=""):
        ext.text(x, y, text, size, anchor)
        anchor_attr = ' text-anchor="middle"' if anchor == "middle" else ""
        return f'<text x="{x}" y="{y}"{anchor_attr} fill="#333" font-size="{size}"{extra}>{escape(text)}</text>'

    body = []
    for t in wf.transitions.values():
        title = gettext(t.title)
        for s in t.source:
            x1, y1 = box(s)
            x2, y2 = box(t.dest)
            sx, sy = x1 + box_w, y1 + BOX_H / 2
            ex, ey = x2, y2 + BOX_H / 2
            if x2 == x1:  # same column: a straight line down (or up) between the boxes
                down = y2 > y1
                sx, sy = x1 + box_w / 2, y1 + (BOX_H if down else 0)
                ex, ey = sx, y2 + (0 if down else BOX_H)
                ext.point(sx, sy)
                ext.point(ex, ey)
                body.append(f'<path d="M{sx},{sy} L{ex},{ey}" fill="none" stroke="#555" marker-end="url(#arrow)"/>')
                body.append(label(sx + 6, (sy + ey) / 2 + 4, title))
                continue
            if x2 < x1:  # backwards: loop under the boxes
                sx, sy, ex, ey = x1 + box_w / 2, y1 + BOX_H, x2 + box_w / 2, y2 + BOX_H
                mid_y = max(y1, y2) + BOX_H + ROW_GAP * 0.8
                path = f"M{sx},{sy} C{sx},{mid_y} {ex},{mid_y} {ex},{ey}"
                points = [(sx, sy), (sx, mid_y), (ex, mid_y), (ex, ey)]
                lx, ly = (sx + ex) / 2, mid_y - 4
            else:
                path = f"M{sx},{sy} C{(sx + ex) / 2},{sy} {(sx + ex) / 2},{ey} {ex},{ey}"
                points = [(sx, sy), (ex, ey)]
                lx, ly = (sx + ex) / 2, (sy + ey) / 2 - 5
            for x, y in points:
                ext.point(x, y)
            body.append(f'<path d="{path}" fill="none" stroke="#555" marker-end="url(#arrow)"/>')
            body.append(label(lx, ly, title, anchor="middle"))
    for s, state in wf.states.items():
        x, y = box(s)
        ext.point(x, y)
        ext.point(x + box_w, y + BOX_H)
        fill = "#cfe2ff" if s == current else ("#e9ecef" if s != wf.initial else "#fff3cd")
        body.append(f'<rect x="{x}" y="{y}" width="{box_w}" height="{BOX_H}" rx="8" fill="{fill}" stroke="#0d6efd"/>')
        body.append(label(x + box_w / 2, y + BOX_H / 2 + 4, gettext(state.title), size=12, anchor="middle"))
    body.append(label(PAD, PAD + 4, gettext(wf.title), size=14, extra=' font-weight="bold"'))
    x0, y0 = min(ext.x0, 0) - PAD / 2, min(ext.y0, 0)
    width, height = round(ext.x1 + PAD - x0), round(ext.y1 + PAD - y0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="{round(x0)} {round(y0)} {width} {height}" font-family="DejaVu Sans, sans-serif" font-size="12" '
             f'role="img" aria-label="{escape(gettext(wf.title))}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
             *body, "</svg>"]
    return "\n".join(parts)
