"""`report.html`: the eval run as one self-contained page, with its plots embedded as PNG data URIs.

Written beside results.json and report.md. It also appends the run to `history.jsonl` in the same
folder and plots the last runs kept there, so an output folder reused across runs (`--out DIR`)
shows how the metrics moved.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import datetime
from pathlib import Path

from .metrics import ABSTAIN_TYPES

HISTORY = "history.jsonl"
HISTORY_SHOWN = 20
KEY_METRICS = ("answer_contains", "recall_at_k", "citation_recall", "abstain_accuracy", "crag")
TABLE_METRICS = ("answer_contains", "f1", "recall_at_k", "mrr", "citation_recall", "citation_precision",
                 "evidence_cited", "both_sides_cited", "abstain_accuracy", "answered", "crag")


def write_report_html(out_dir, results: dict) -> Path:
    """Append this run to history.jsonl and write report.html; returns the page's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    history = _append_history(out_dir, results)
    sections: list[str] = []
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        sections.append("<p>matplotlib is not installed, so this page has no plots.</p>")
    else:
        sections += _plots(results, history)
    page = _page(results, sections, len(history))
    target = out_dir / "report.html"
    target.write_text(page, encoding="utf-8")
    return target


# -- history ---------------------------------------------------------------------------------
def _append_history(out_dir: Path, results: dict) -> list[dict]:
    config = results.get("config") or {}
    line = {"time": config.get("when") or datetime.now().isoformat(timespec="seconds"),
            "mode": config.get("mode", ""),
            "metrics": {k: v for k, v in (results.get("metrics") or {}).items() if _number(v)}}
    path = out_dir / HISTORY
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    runs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(raw)
        except ValueError:
            continue  # a torn or hand-edited line costs that run, not the report
        if isinstance(obj, dict) and isinstance(obj.get("metrics"), dict):
            runs.append(obj)
    return runs[-HISTORY_SHOWN:]


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# -- plots -----------------------------------------------------------------------------------
def _plots(results: dict, history: list[dict]) -> list[str]:
    out = []
    by_type = results.get("by_type") or {}
    shown = [m for m in KEY_METRICS if any(_number(v.get(m)) for v in by_type.values())]
    if by_type and shown:
        out.append(_figure("Key metrics by question type", _bars_by_type(by_type, shown),
                           "Each metric is averaged over the items of a type it applies to; CRAG runs from -1 to 1."))
    items = results.get("items") or []
    confident = [it for it in items if _number(it.get("confidence"))]
    if confident:
        out.append(_figure("Calibration of confidence", _calibration(confident),
                           "Items binned by their confidence; a calibrated system sits on the diagonal. "
                           "Correct means a correct answer, or an abstention where one was due."))
    elif items:
        out.append(_figure("Answered and abstained, by question type", _abstention(items),
                           "The items carry no numeric confidence, so this is not a calibration plot: it counts, "
                           "per type, the items answered correctly or wrongly and the abstentions that were "
                           "due or not."))
    if len(history) >= 2:
        out.append(_figure(f"The last {len(history)} runs in this folder", _history(history),
                           f"From {HISTORY}, oldest first."))
    else:
        out.append(f"<h2>History</h2><p>This is the only run recorded in {HISTORY} here; the history plot "
                   "appears from the second run written to this folder.</p>")
    return out


def _new_figure(width=8.0, height=4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.subplots()


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _bars_by_type(by_type: dict, metrics: list[str]) -> bytes:
    fig, ax = _new_figure(max(8.0, 1.2 * len(by_type) + 2), 4.2)
    types = list(by_type)
    width = 0.8 / len(metrics)
    for j, m in enumerate(metrics):
        xs = [i + (j - (len(metrics) - 1) / 2) * width for i in range(len(types))]
        ax.bar(xs, [by_type[t].get(m) if _number(by_type[t].get(m)) else 0.0 for t in types], width, label=m)
    ax.set_xticks(range(len(types)), [f"{t}\n(n={by_type[t].get('items', '?')})" for t in types], fontsize=8)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylim(min(-1.05, ax.get_ylim()[0]) if any(_number(v.get("crag")) and v["crag"] < 0 for v in by_type.values())
                else 0, 1.05)
    ax.legend(fontsize=8, ncols=min(len(metrics), 5), loc="upper center", bbox_to_anchor=(0.5, -0.18))
    return _png(fig)


def _correct(it: dict) -> bool:
    return (it.get("scores") or {}).get("crag", -1) > 0


def _calibration(items: list[dict], bins: int = 10) -> bytes:
    groups: dict[int, list[dict]] = {}
    for it in items:
        c = min(max(float(it["confidence"]), 0.0), 1.0)
        groups.setdefault(min(int(c * bins), bins - 1), []).append(it)
    keys = sorted(groups)
    conf = [sum(min(max(float(i["confidence"]), 0.0), 1.0) for i in groups[k]) / len(groups[k]) for k in keys]
    acc = [sum(_correct(i) for i in groups[k]) / len(groups[k]) for k in keys]
    fig, ax = _new_figure(5.5, 5.0)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    ax.plot(conf, acc, marker="o", label="this run")
    for x, y, k in zip(conf, acc, keys):
        ax.annotate(f"n={len(groups[k])}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("mean confidence in the bin")
    ax.set_ylabel("share correct")
    ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def _abstention(items: list[dict]) -> bytes:
    kinds = ("answered, correct", "answered, wrong", "abstained, as due", "abstained, not due")
    colors = ("tab:green", "tab:red", "tab:blue", "tab:orange")
    types = list(dict.fromkeys(it.get("type", "?") for it in items))
    counts = {t: dict.fromkeys(kinds, 0) for t in types}
    for it in items:
        due = it.get("type") in ABSTAIN_TYPES
        if it.get("abstained"):
            kind = kinds[2] if due else kinds[3]
        else:
            kind = kinds[0] if _correct(it) and not due else kinds[1]
        counts[it.get("type", "?")][kind] += 1
    fig, ax = _new_figure(max(8.0, 1.1 * len(types) + 2), 4.2)
    bottom = [0] * len(types)
    for kind, color in zip(kinds, colors):
        vals = [counts[t][kind] for t in types]
        ax.bar(range(len(types)), vals, 0.6, bottom=bottom, label=kind, color=color)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(types)), types, fontsize=8, rotation=20)
    ax.set_ylabel("items")
    ax.legend(fontsize=8, ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return _png(fig)


def _history(history: list[dict]) -> bytes:
    fig, ax = _new_figure(8.0, 4.0)
    xs = list(range(1, len(history) + 1))
    for m in KEY_METRICS:
        ys = [h["metrics"].get(m) if _number(h["metrics"].get(m)) else float("nan") for h in history]
        if any(not math.isnan(y) for y in ys):
            ax.plot(xs, ys, marker="o", label=m)
    labels = [f"{str(h.get('time', ''))[5:16].replace('T', ' ')}\n{h.get('mode', '')}" for h in history]
    ax.set_xticks(xs, labels, fontsize=7, rotation=30 if len(xs) > 8 else 0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("score")
    ax.legend(fontsize=8, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return _png(fig)


# -- the page --------------------------------------------------------------------------------
def _figure(title: str, png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f"<h2>{html.escape(title)}</h2><figure><img alt=\"{html.escape(title)}\" "
            f"src=\"data:image/png;base64,{data}\"><figcaption>{html.escape(caption)}</figcaption></figure>")


def _page(results: dict, sections: list[str], runs: int) -> str:
    config = results.get("config") or {}
    metrics = results.get("metrics") or {}
    by_type = results.get("by_type") or {}
    cols = [m for m in TABLE_METRICS if _number(metrics.get(m)) or any(_number(v.get(m)) for v in by_type.values())]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["type", "n", *cols])
    rows = []
    for name, m in [*by_type.items(), ("all", metrics)]:
        cells = "".join(f"<td>{m[c]:.3f}</td>" if _number(m.get(c)) else "<td></td>" for c in cols)
        rows.append(f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(m.get('items', '')))}</td>{cells}</tr>")
    lat = ""
    if _number(metrics.get("latency_p50")) and _number(metrics.get("latency_p95")):
        lat = (f"<p>latency p50 {metrics['latency_p50'] * 1000:.0f} ms, "
               f"p95 {metrics['latency_p95'] * 1000:.0f} ms</p>")
    summary = (f"mode <code>{html.escape(str(config.get('mode', '?')))}</code>, k={html.escape(str(config.get('k', '?')))}, "
               f"{html.escape(str(config.get('gold_items', len(results.get('items') or []))))} items, "
               f"{html.escape(str(config.get('when', '')))}; {runs} run(s) in {HISTORY}")
    style = ("body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
             "tr th:first-child{text-align:left}img{max-width:100%}figcaption{color:#555;font-size:90%}")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>newsqa eval</title>"
            f"<style>{style}</style></head><body><h1>newsqa eval</h1><p>{summary}</p>"
            f"<h2>Metrics by type</h2><table><tr>{head}</tr>{''.join(rows)}</table>{lat}"
            f"{''.join(sections)}</body></html>\n")
