"""`report.html`: the page to open after an eval run, self-contained (plots embedded as PNG data URIs,
no request to anywhere).

What it holds, top to bottom: the headline figures (with their change against a `--baseline`), the setup
that produced them (gold files, corpus, embedder, scorer, commit), the metrics by question type, the
comparison with the baseline, the plots (metrics by type, calibration, the history of runs), and every
question in a table that sorts by any column and filters by type, verdict and text (its state is kept in
the address, e.g. `report.html#type=numeric&verdict=wrong&sort=confidence`). It is laid out to fit a
1,280-pixel window without a horizontal scrollbar.

Written beside results.json and report.md. It also appends the run to `history.jsonl` (in the output
folder, or with `newsqa eval`'s default output in `runs/`, shared by every run) and plots the last runs
kept there, each labelled with its mode, k and commit.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from datetime import datetime
from pathlib import Path

from .metrics import ABSTAIN_TYPES

HISTORY = "history.jsonl"
HISTORY_SHOWN = 20
KEY_METRICS = ("answer_contains", "recall_at_k", "citation_recall", "abstain_accuracy", "crag")
TABLE_METRICS = ("answer_contains", "first_sentence_contains", "evidence_doc", "f1", "exact_match", "recall_at_k",
                 "mrr", "citation_recall", "citation_precision", "citation_recall_judge", "citation_precision_judge",
                 "evidence_cited", "both_sides_cited", "abstain_accuracy", "answered", "crag")
VERDICTS = ("correct", "wrong", "abstained, as due", "abstained, not due", "answered, should abstain", "error")


def write_report_html(out_dir, results: dict, history_dir=None) -> Path:
    """Append this run to history.jsonl (in `history_dir`, default `out_dir`) and write report.html;
    returns the page's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    history_path = Path(history_dir or out_dir) / HISTORY
    history = _append_history(history_path, results)
    sections: list[str] = []
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        sections.append("<p>matplotlib is not installed, so this page has no plots.</p>")
    else:
        sections += _plots(results, history, history_path, out_dir)
    page = _page(results, sections, len(history))
    target = out_dir / "report.html"
    target.write_text(page, encoding="utf-8")
    return target


# -- history ---------------------------------------------------------------------------------
def _append_history(path: Path, results: dict) -> list[dict]:
    config = results.get("config") or {}
    setup = config.get("setup") or {}
    line = {"time": config.get("when") or datetime.now().isoformat(timespec="seconds"),
            "mode": config.get("mode", ""), "k": config.get("k"), "commit": setup.get("commit", ""),
            "gold": setup.get("gold_label", ""),
            "metrics": {k: v for k, v in (results.get("metrics") or {}).items() if _number(v)}}
    path.parent.mkdir(parents=True, exist_ok=True)
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
def _plots(results: dict, history: list[dict], history_path: Path, out_dir: Path) -> list[str]:
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
    where = HISTORY if history_path.parent == out_dir else str(history_path)
    if len(history) >= 2:
        out.append(_figure(f"The last {len(history)} runs recorded in {where}", _history(history),
                           f"From {history_path}, oldest first; each run is labelled with its date, mode, k and "
                           "commit."))
    else:
        out.append(f"<h2>History</h2><p>This is the only run recorded in {html.escape(str(history_path))}; the "
                   "history plot appears from the second run recorded there.</p>")
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
        bars = ax.bar(xs, [by_type[t].get(m) if _number(by_type[t].get(m)) else 0.0 for t in types], width, label=m)
        ax.bar_label(bars, labels=[f"{by_type[t][m]:.2f}" if _number(by_type[t].get(m)) else "" for t in types],
                     fontsize=6, padding=1)
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
    labels = [f"{str(h.get('time', ''))[5:16].replace('T', ' ')}\n{h.get('mode', '')}"
              + (f" k={h['k']}" if h.get("k") is not None else "")
              + (f"\n{str(h['commit'])[:9]}" if h.get("commit") else "") for h in history]
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


def verdict(it: dict) -> str:
    """One word on an item: correct, wrong, abstained (as due or not), answered where it should have
    abstained, or a pipeline error."""
    if it.get("error"):
        return "error"
    due = it.get("type") in ABSTAIN_TYPES
    if it.get("abstained"):
        return "abstained, as due" if due else "abstained, not due"
    if due:
        return "answered, should abstain"
    return "correct" if _correct(it) else "wrong"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(v: object) -> str:
    return f"{v:.3f}" if _number(v) else ""


def _cited(it: dict) -> list[dict]:
    """The sources the answer cites ([n] markers), or every listed source when it has no marker."""
    sources = it.get("sources") or []
    marks = {int(n) for n in re.findall(r"\[(\d+)\]", it.get("answer") or "")}
    cited = [s for s in sources if s.get("n") in marks]
    return cited if marks else sources


def _items_table(results: dict, comparison: dict | None) -> str:
    items = results.get("items") or []
    before = (comparison or {}).get("before") or {}
    types = list(dict.fromkeys(str(it.get("type", "?")) for it in items))
    verdicts = [v for v in VERDICTS if any(verdict(it) == v for it in items)]
    rows = []
    for it in items:
        v = verdict(it)
        conf = it.get("confidence")
        cited = "".join(
            f"<details><summary>[{_e(src.get('n'))}] {_e(src.get('outlet') or src.get('doc'))}</summary>"
            f"<p>{_e(src.get('text'))}</p><p class=doc>{_e(src.get('doc'))}</p></details>" for src in _cited(it))
        change = ""
        if comparison is not None:
            old = before.get(it.get("id"))
            if old is None:
                change = "<td data-sort=\"\">new</td>"
            else:
                d = ((it.get("scores") or {}).get("crag", 0) or 0) - (old.get("crag") or 0)
                word = "better" if d > 0 else "worse" if d < 0 else "same"
                change = f"<td class={word} data-sort=\"{d}\">{word}</td>"
        gold = "; ".join(str(g) for g in it.get("gold_answers") or []) or "(abstain)"
        rows.append(
            f"<tr id=\"item-{_e(it.get('id'))}\" data-type=\"{_e(it.get('type'))}\" data-verdict=\"{_e(v)}\">"
            f"<td>{_e(it.get('id'))}</td><td>{_e(it.get('type'))}</td><td>{_e(it.get('question'))}</td>"
            f"<td>{_e(gold)}</td><td>{_e(it.get('answer') or '(no answer)')}"
            + (f"<p class=err>{_e(it.get('error'))}</p>" if it.get("error") else "") + "</td>"
            f"<td class=\"v v{VERDICTS.index(v)}\">{_e(v)}</td>"
            f"<td data-sort=\"{conf if _number(conf) else ''}\">{_fmt(conf)}</td>{change}<td>{cited}</td></tr>")
    cols = ["id", "type", "question", "gold", "answer", "verdict", "confidence"] + (
        ["vs baseline"] if comparison is not None else []) + ["cited passages"]
    widths = {"id": 6, "type": 8, "question": 17, "gold": 11, "answer": 24, "verdict": 8, "confidence": 8,
              "vs baseline": 8, "cited passages": 15}
    scale = 100 / sum(widths[c] for c in cols)
    colgroup = "".join(f"<col style=\"width:{widths[c] * scale:.1f}%\">" for c in cols)
    head = "".join(f"<th data-col={i} tabindex=0 title=\"sort by {c}\">{_e(c)}</th>" for i, c in enumerate(cols))
    options = lambda values: "".join(f"<option>{_e(x)}</option>" for x in values)  # noqa: E731
    return (f"<h2>Every question</h2><div class=filters><label>type <select id=f-type><option value=\"\">all"
            f"</option>{options(types)}</select></label> <label>verdict <select id=f-verdict><option value=\"\">"
            f"all</option>{options(verdicts)}</select></label> <label>text <input id=f-text type=search "
            f"placeholder=\"question, answer, id\"></label> <span id=shown></span>"
            f"<span class=hint>click a column to sort; the address keeps the view</span></div>"
            f"<table id=items class=items><colgroup>{colgroup}</colgroup><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


SCRIPT = r"""
(function () {
  var table = document.getElementById('items');
  var body = table ? table.tBodies[0] : null;
  var rows = body ? Array.prototype.slice.call(body.rows) : [];
  var fType = document.getElementById('f-type'), fVerdict = document.getElementById('f-verdict'),
      fText = document.getElementById('f-text'), shown = document.getElementById('shown');
  var state = {type: '', verdict: '', text: '', sort: '', desc: false};
  function key(row, col) {
    var cell = row.cells[col];
    var v = cell.getAttribute('data-sort');
    if (v !== null) { return v === '' ? -Infinity : parseFloat(v); }
    return cell.textContent.toLowerCase();
  }
  function apply() {
    var heads = table ? table.tHead.rows[0].cells : [];
    var col = -1;
    for (var i = 0; i < heads.length; i++) {
      var on = heads[i].textContent === state.sort;
      heads[i].className = on ? (state.desc ? 'sorted desc' : 'sorted') : '';
      if (on) { col = i; }
    }
    if (col >= 0) {
      rows.sort(function (a, b) {
        var x = key(a, col), y = key(b, col);
        var c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return state.desc ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    }
    var n = 0, text = state.text.toLowerCase();
    rows.forEach(function (r) {
      var ok = (!state.type || r.getAttribute('data-type') === state.type) &&
               (!state.verdict || r.getAttribute('data-verdict') === state.verdict) &&
               (!text || r.textContent.toLowerCase().indexOf(text) >= 0);
      r.hidden = !ok;
      if (ok) { n++; }
    });
    if (shown) { shown.textContent = n + ' of ' + rows.length + ' questions'; }
    if (fType) { fType.value = state.type; fVerdict.value = state.verdict; fText.value = state.text; }
    document.body.setAttribute('data-rows-shown', String(n));
    document.body.setAttribute('data-order', rows.filter(function (r) { return !r.hidden; })
      .map(function (r) { return r.cells[0].textContent; }).join(' '));
  }
  function save() {
    var parts = [];
    ['type', 'verdict', 'text', 'sort'].forEach(function (k) {
      if (state[k]) { parts.push(k + '=' + encodeURIComponent(state[k])); }
    });
    if (state.desc) { parts.push('desc=1'); }
    history.replaceState(null, '', '#' + parts.join('&'));
  }
  function load() {
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i < 0) { return; }
      var k = kv.slice(0, i), v = decodeURIComponent(kv.slice(i + 1));
      if (k === 'desc') { state.desc = v === '1'; } else if (k in state) { state[k] = v; }
    });
  }
  if (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      function sort() {
        var name = th.textContent;
        state.desc = state.sort === name ? !state.desc : false;
        state.sort = name; apply(); save();
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { sort(); } });
    });
    [fType, fVerdict].forEach(function (el) {
      el.addEventListener('change', function () { state.type = fType.value; state.verdict = fVerdict.value; apply(); save(); });
    });
    fText.addEventListener('input', function () { state.text = fText.value; apply(); save(); });
  }
  load(); apply();
  function measure() {
    var d = document.documentElement;
    document.body.setAttribute('data-viewport', String(window.innerWidth));
    document.body.setAttribute('data-scroll-width', String(Math.max(d.scrollWidth, document.body.scrollWidth)));
  }
  measure(); window.addEventListener('load', measure); window.addEventListener('resize', measure);
})();
"""

STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;max-width:1220px;margin:1.5em auto;padding:0 20px;color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:anywhere}
.metrics td{text-align:right}.metrics th{text-align:left}
.metrics thead th{text-align:right;font-weight:600}.metrics thead th:first-child{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:1em 0}
.card{border:1px solid #ccc;border-radius:6px;padding:8px 14px;min-width:150px}
.card b{display:block;font-size:26px}.card span{color:#555;font-size:13px}
.up{color:#176317}.down{color:#a11}
dl.setup{display:grid;grid-template-columns:160px minmax(0,1fr);gap:2px 12px;font-size:14px}
dl.setup dt{color:#555}dl.setup dd{margin:0;overflow-wrap:anywhere}
img{max-width:100%;height:auto}figure{margin:0}figcaption{color:#555;font-size:90%}
.items{table-layout:fixed;width:100%}
.items thead th{cursor:pointer;background:#f4f4f4;position:sticky;top:0;text-align:left}
.items th.sorted:after{content:" \\25B2"}.items th.sorted.desc:after{content:" \\25BC"}
.items details summary{cursor:pointer}.items details p{margin:.3em 0}.items .doc{color:#666;font-size:12px}
.v0{background:#e5f4e5}.v1,.v4,.v5{background:#f8e1e1}.v2{background:#e3edf8}.v3{background:#fdf0dc}
.better{color:#176317}.worse{color:#a11;font-weight:600}.err{color:#a11}
.filters{margin:.6em 0;display:flex;flex-wrap:wrap;gap:14px;align-items:center;font-size:14px}
.hint{color:#777;font-size:12px}
"""


def _cards(metrics: dict, comparison: dict | None) -> str:
    deltas = (comparison or {}).get("deltas") or {}
    cards = []
    for m in KEY_METRICS:
        if not _number(metrics.get(m)):
            continue
        d = deltas.get(m)
        change = ""
        if _number(d):
            change = f" <span class={'up' if d > 0 else 'down' if d < 0 else ''}>{d:+.3f} vs baseline</span>"
        cards.append(f"<div class=card><span>{_e(m.replace('_', ' '))}</span><b>{metrics[m]:.3f}</b>{change}</div>")
    return f"<div class=cards>{''.join(cards)}</div>" if cards else ""


def _setup(config: dict) -> str:
    setup = config.get("setup") or {}
    rows = [("mode", config.get("mode")), ("k (passages)", config.get("k")), ("items", config.get("gold_items")),
            ("run at", config.get("when")), ("gold files", ", ".join(setup.get("gold") or []) or None),
            ("corpus", setup.get("corpus")), ("embedder", setup.get("embedder")), ("scorer", setup.get("scorer")),
            ("predictions", setup.get("predictions")), ("index", setup.get("index")),
            ("commit", setup.get("commit")), ("versions", setup.get("versions"))]
    judge = config.get("judge")
    if judge:
        rows.append(("judge", f"{judge.get('model')}: {judge.get('calls')} verdicts, {judge.get('failures')} failed"))
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows if v not in (None, ""))
    return f"<h2>Setup</h2><dl class=setup>{body}</dl>"


def _metrics_table(metrics: dict, by_type: dict) -> str:
    """Metrics as rows and question types as columns: narrow enough for any screen."""
    cols = [m for m in TABLE_METRICS if _number(metrics.get(m)) or any(_number(v.get(m)) for v in by_type.values())]
    groups = [*by_type.items(), ("all", metrics)]
    head = "<th>metric</th>" + "".join(f"<th>{_e(name)}</th>" for name, _ in groups)
    counts = "".join(f"<td>{_e(m.get('items', ''))}</td>" for _, m in groups)
    rows = [f"<tr><th>items</th>{counts}</tr>"]
    for c in cols:
        rows.append(f"<tr><th>{_e(c)}</th>" + "".join(f"<td>{_fmt(m.get(c))}</td>" for _, m in groups) + "</tr>")
    return f"<h2>Metrics by type</h2><table class=metrics><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _baseline(metrics: dict, comparison: dict | None) -> str:
    if not comparison:
        return ""
    base = comparison.get("baseline") or {}
    old = base.get("metrics") or {}
    rows = []
    for m, d in (comparison.get("deltas") or {}).items():
        if m == "items" or not _number(d):
            continue
        cls = "up" if d > 0 else "down" if d < 0 else ""
        rows.append(f"<tr><th>{_e(m)}</th><td>{_fmt(metrics.get(m))}</td><td>{_fmt(old.get(m))}</td>"
                    f"<td class={cls}>{d:+.3f}</td></tr>")
    worse = comparison.get("worse") or []
    links = ", ".join(f"<a href=\"#item-{_e(i)}\">{_e(i)}</a>" for i in worse) or "none"
    what = " ".join(x for x in (f"<code>{_e(base.get('path'))}</code>" if base.get("path") else "",
                                f"({_e(base.get('mode'))}, {_e(base.get('when'))})" if base.get("when") else "") if x)
    return (f"<h2>Compared with the baseline</h2><p>Baseline {what}. CRAG, and the other metrics, of this run "
            "against it; the table of questions below says per question whether it got better or worse.</p>"
            f"<table class=metrics><thead><tr><th>metric</th><th>this run</th><th>baseline</th><th>change</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table><p>Questions that got worse: {links}</p>")


def _page(results: dict, sections: list[str], runs: int) -> str:
    config = results.get("config") or {}
    metrics = results.get("metrics") or {}
    by_type = results.get("by_type") or {}
    comparison = results.get("comparison")
    lat = ""
    if _number(metrics.get("latency_p50")) and _number(metrics.get("latency_p95")):
        lat = (f"<p>latency p50 {metrics['latency_p50'] * 1000:.0f} ms, "
               f"p95 {metrics['latency_p95'] * 1000:.0f} ms</p>")
    summary = (f"mode <code>{_e(config.get('mode', '?'))}</code>, k={_e(config.get('k', '?'))}, "
               f"{_e(config.get('gold_items', len(results.get('items') or [])))} items, "
               f"{_e(config.get('when', ''))}; {runs} run(s) in {HISTORY}")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>newsqa eval</title>"
            f"<style>{STYLE}</style></head><body><h1>newsqa eval</h1><p>{summary}</p>"
            f"{_cards(metrics, comparison)}{_setup(config)}{_metrics_table(metrics, by_type)}{lat}"
            f"{_baseline(metrics, comparison)}{''.join(sections)}{_items_table(results, comparison)}"
            f"<script>{SCRIPT}</script></body></html>\n")
