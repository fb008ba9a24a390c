"""A small SVG builder for the report's two figures: F1 per group with every seed, and stacked counts.

Hand-written rather than matplotlib's SVG output: the numbers stay text (tooltips and ``data-value``
attributes the tests read back, no glyphs drawn as paths), the markup is a few kB per figure instead
of tens, it takes the page's CSS (fonts, colours) and it needs no ids that could clash when several
figures share a page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

#: Row colours (Tableau 10): rows of the table keep their colour in every figure.
ROW_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
              "#9c755f", "#bab0ac")
_CHAR_PX = 6.5  # width of a character at the figures' 11 px sans-serif, for the layout


def row_color(i: int) -> str:
    return ROW_COLORS[i % len(ROW_COLORS)]


def _attrs(**kw: object) -> str:
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in kw.items() if v is not None)


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


@dataclass
class Point:
    """A value in [0, 1] and what its tooltip says; ``value`` goes into ``data-value`` unrounded."""

    value: float
    seed: int


@dataclass
class Bar:
    """One series (a table row) in one group (an entity type): the mean, its std and the seeds' points."""

    row: int
    mean: float
    std: float
    points: list[Point]
    title: str


def _y_top(bars: Sequence[Bar]) -> float:
    hi = max([b.mean + b.std for b in bars] + [p.value for b in bars for p in b.points] + [0.1])
    return min(1.0, math.ceil(hi * 10 - 1e-9) / 10)


def _bar_svg(bar: Bar, x: float, y: Callable[[float], float], width: float, group: str) -> list[str]:
    col = row_color(bar.row)
    y0, ym = y(0.0), y(bar.mean)
    rect = _attrs(x=_num(x), y=_num(ym), width=_num(width), height=_num(max(y0 - ym, 0.5)), fill=col,
                  fill_opacity="0.35", data_value=repr(bar.mean))
    out = [f"<g{_attrs(class_='bar', data_row=bar.row, data_group=group)}><title>{escape(bar.title)}</title>",
           f"<rect{rect}/>"]
    if bar.std > 0:
        lo, hi = y(max(0.0, bar.mean - bar.std)), y(min(1.0, bar.mean + bar.std))
        cx = x + width / 2
        out.append(f'<path d="M{_num(cx)} {_num(lo)}V{_num(hi)}M{_num(cx - 3)} {_num(lo)}h6M{_num(cx - 3)} '
                   f'{_num(hi)}h6" stroke="{col}" fill="none"/>')
    for k, p in enumerate(bar.points):
        # seeds side by side inside the bar, so equal values stay visible
        px = x + width * (k + 1) / (len(bar.points) + 1)
        dot = _attrs(cx=_num(px), cy=_num(y(p.value)), r="3", fill=col, stroke="#222", data_seed=p.seed,
                     data_value=repr(p.value))
        out.append(f"<circle{dot}/>")
    out.append("</g>")
    return out


def grouped_chart(groups: Sequence[tuple[str, Sequence[Bar]]], label: str) -> str:
    """Vertical bars (mean, whisker ± std) with a dot per seed, one cluster per group, y in percent."""
    n = max((len(bars) for _, bars in groups), default=1)
    bar_w = 16.0
    group_w = max(n * bar_w + 24, max((len(g) for g, _ in groups), default=1) * _CHAR_PX + 10)
    left, top, plot_h, bottom = 44.0, 12.0, 200.0, 34.0
    width = left + group_w * len(groups) + 8
    y_top = _y_top([b for _, bars in groups for b in bars])

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_top)

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" '
           f'height="{_num(top + plot_h + bottom)}" role="img" aria-label="{escape(label)}">']
    step = 0.1 if y_top <= 0.5 else 0.2
    for k in range(int(round(y_top / step)) + 1):
        v = min(k * step, y_top)
        out.append(f'<line x1="{_num(left)}" x2="{_num(width - 8)}" y1="{_num(y(v))}" y2="{_num(y(v))}" '
                   f'class="grid"/><text x="{_num(left - 6)}" y="{_num(y(v) + 4)}" text-anchor="end">'
                   f"{round(v * 100)}</text>")
    out.append(f'<text x="12" y="{_num(top + plot_h / 2)}" transform="rotate(-90 12 {_num(top + plot_h / 2)})" '
               f'text-anchor="middle">F1 (%)</text>')
    for gi, (group, bars) in enumerate(groups):
        gx = left + gi * group_w
        x0 = gx + (group_w - len(bars) * bar_w) / 2
        for bi, bar in enumerate(bars):
            out += _bar_svg(bar, x0 + bi * bar_w + 1, y, bar_w - 2, group)
        out.append(f'<text x="{_num(gx + group_w / 2)}" y="{_num(top + plot_h + 18)}" text-anchor="middle">'
                   f"{escape(group)}</text>")
    out.append(f'<line x1="{_num(left)}" x2="{_num(width - 8)}" y1="{_num(y(0))}" y2="{_num(y(0))}" class="axis"/>')
    out.append("</svg>")
    return "".join(out)


def stacked_bar(parts: Sequence[tuple[str, int, str, str]], scale: int, width: float = 200.0) -> str:
    """One horizontal bar of counts, ``parts`` = (key, count, colour, tooltip); ``scale`` is the count that
    fills ``width`` (the largest bar of the table, so bars compare across rows)."""
    out = [f'<svg class="stack" xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="14">']
    x = 0.0
    for key, count, color, title in parts:
        w = width * count / max(scale, 1)
        if w > 0:
            rect = _attrs(x=_num(x), y="1", width=f"{w:.2f}", height="12", fill=color, data_class=key)
            out.append(f"<rect{rect}><title>{escape(title)}</title></rect>")
        x += w
    out.append("</svg>")
    return "".join(out)
