"""`newsqa eval`: run `answer()` (or read someone else's predictions) over gold items and score them."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path

from retrieval.errors import BadInput, NewsqaError

from .metrics import ABSTAIN_TYPES, TYPES, aggregate, score_item
from .report_html import write_report_html

REQUIRED = {"id": str, "question": str, "answers": list, "evidence": list, "type": str}
SHOWN = ("answer_contains", "first_sentence_contains", "evidence_doc", "f1", "exact_match", "recall_at_k", "mrr", "citation_recall", "citation_precision",
         "citation_recall_judge", "citation_precision_judge", "evidence_cited", "both_sides_cited",
         "abstain_accuracy", "answered", "wrongful_abstention", "crag")


def default_gold() -> list[Path]:
    return sorted(Path(str(resources.files("evals") / "gold")).glob("*.jsonl"))


def load_gold(paths: Sequence[Path], articles: dict[str, str] | None = None, strict_docs: bool = True) -> list[dict]:
    """Gold items; a malformed line is a BadInput naming the file and line.

    With `articles`, every non-empty evidence quote must be an exact substring of its doc's text when that
    text is known; an evidence doc missing from `articles` is an error only with `strict_docs` (the bundled
    corpus). An empty quote means "any passage of this doc"."""
    items, seen = [], set()
    for path in paths:
        if not Path(path).is_file():
            raise BadInput(f"gold file not found: {path}")
        for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{where}: invalid JSON ({exc.msg})") from None
            problem = gold_problem(obj, articles, strict_docs)
            if problem:
                raise BadInput(f"{where}: {problem}")
            if obj["id"] in seen:
                raise BadInput(f"{where}: duplicate id {obj['id']!r}")
            seen.add(obj["id"])
            items.append(obj)
    if not items:
        raise BadInput("the gold set is empty")
    return items


def gold_problem(obj, articles: dict[str, str] | None, strict_docs: bool = True) -> str | None:
    """Why a gold item is malformed, or None."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    for key, typ in REQUIRED.items():
        if not isinstance(obj.get(key), typ):
            return f"field {key!r} missing or not a {typ.__name__}"
    if obj["type"] not in TYPES:
        return f"unknown type {obj['type']!r} (one of {', '.join(TYPES)})"
    if not obj["question"].strip():
        return "empty question"
    if obj["type"] not in ABSTAIN_TYPES and not obj["answers"]:
        return "an answerable item needs at least one answer"
    if not all(isinstance(a, str) and a.strip() for a in obj["answers"]):
        return "answers must be non-empty strings"
    for ev in obj["evidence"]:
        if not isinstance(ev, dict) or not isinstance(ev.get("doc"), str) or not isinstance(ev.get("quote"), str):
            return "evidence items need 'doc' and 'quote' strings"
        if articles is not None:
            if ev["doc"] not in articles:
                if strict_docs:
                    return f"evidence doc {ev['doc']!r} is not in the corpus"
            elif ev["quote"] and ev["quote"] not in articles[ev["doc"]]:
                return f"evidence quote is not an exact substring of {ev['doc']}: {ev['quote'][:60]!r}"
    docs = obj.get("docs")
    if docs is not None and not (isinstance(docs, list) and all(isinstance(d, str) and d for d in docs)):
        return "'docs' must be a list of document ids"
    return None


def corpus_articles(paths: Sequence[Path] | None = None) -> dict[str, str]:
    """Article text by document id (what gold evidence points into): the bundled articles by default, else
    the articles newsqa loads from `paths` (files or folders, as `newsqa ingest` reads them)."""
    from retrieval.loading import bundled_corpus, load_paths

    if not paths:
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(bundled_corpus().glob("*.txt"))}
    for p in paths:
        if not Path(p).exists():
            raise BadInput(f"corpus not found: {p}")
    articles, _skipped = load_paths([Path(p) for p in paths])
    return {a.doc: a.text for a in articles}


def write_run(res: dict, target: Path, comparison: dict | None = None, history_dir: Path | None = None) -> None:
    """results.json, report.md and report.html for one run, under `target`; the run is also added to
    history.jsonl in `history_dir` (default `target`)."""
    target.mkdir(parents=True, exist_ok=True)
    res["comparison"] = comparison
    (target / "results.json").write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    (target / "report.md").write_text(report_markdown(res, comparison), encoding="utf-8")
    write_report_html(target, res, history_dir)  # report.html (plots as data URIs) and history.jsonl


def run_setup(*, gold: Sequence[Path], corpus, engine=None, predictions=None, judge=None) -> dict:
    """What produced a run, for results.json and report.html: gold files, corpus, embedder, scorer, commit."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"

    embedder = ""
    if engine is not None:
        embedder = f"{engine.settings.embedding} ({engine.embedder.model_id})"
    gold_files = [str(g) for g in gold]
    return {"gold": gold_files, "gold_label": ", ".join(Path(g).name for g in gold_files),
            "corpus": str(corpus) if corpus else "the bundled corpus (retrieval/corpus/articles)",
            "embedder": embedder or ("(none: scoring given predictions)" if predictions else ""),
            "scorer": "lexical support rule (retrieval/citations.py)"
                      + (f" and the LLM judge {judge.settings.llm.model}" if judge is not None else ""),
            "predictions": str(predictions) if predictions else None,
            "index": str(engine.settings.chroma_url or engine.settings.data_dir) if engine is not None else None,
            "commit": git_commit(),
            "versions": f"newsqa {ver('newsqa')}, chromadb {ver('chromadb')}"}


def git_commit() -> str:
    """The checkout's commit (12 digits, "+dirty" with uncommitted changes), or why there is none."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git is not available)"


def load_predictions(path: Path) -> dict[str, dict]:
    if not path.is_file():
        raise BadInput(f"predictions file not found: {path}")
    preds = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(obj.get("answer"), str):
            raise BadInput(f"{path}:{lineno}: each line needs 'id' and 'answer' strings")
        if not isinstance(obj.get("sources", []), list):
            raise BadInput(f"{path}:{lineno}: 'sources' must be a list")
        preds[obj["id"]] = obj
    return preds


def looks_abstained(answer: str) -> bool:
    """For outside predictions without an `abstained` field: an empty answer or a refusal phrase."""
    a = answer.strip().lower()
    return not a or any(p in a for p in ("don't say", "do not say", "don't know", "cannot answer", "can't answer",
                                         "not in the articles", "no answer", "don't support the premise",
                                         "do not support the premise", "unanswerable"))


def evaluate(gold: list[dict], engine=None, predictions: dict[str, dict] | None = None, mode: str | None = None,
             k: int | None = None, articles: dict[str, str] | None = None, progress=None, judge=None) -> dict:
    """Score every gold item; a pipeline error on one item is recorded and scored as wrong."""
    articles = articles if articles is not None else corpus_articles()
    k_eff = k or (engine.settings.k if engine else 8)
    judged_before = (judge.calls, len(judge.failures)) if judge is not None else (0, 0)
    items = []
    for i, g in enumerate(gold):
        rec = {"id": g["id"], "type": g["type"], "question": g["question"], "gold_answers": g["answers"],
               "evidence": g["evidence"], "error": None}
        if "docs" in g:
            rec["docs"] = g["docs"]
        retrieved = None
        if predictions is not None:
            p = predictions.get(g["id"])
            if p is None:
                rec["error"] = "no prediction for this id"
                answer, abstained, sources = "", False, []
            else:
                answer, sources = p["answer"], p.get("sources", [])
                abstained = bool(p["abstained"]) if "abstained" in p else looks_abstained(answer)
                if isinstance(p.get("confidence"), (int, float)):
                    rec["confidence"] = p["confidence"]
                sources = [dict(s, n=s.get("n", j + 1)) for j, s in enumerate(sources)]
            rec["latency"] = None
            rec["mode"] = "predictions"
        else:
            t = time.perf_counter()
            try:
                r = engine.answer(g["question"], k=k, mode=mode)
                answer, abstained = r.answer, r.abstained
                data = r.to_dict(include_retrieved=True)
                sources, retrieved = data["sources"], data["retrieved"]
                rec.update(mode=r.mode, notes=r.notes, sentences=data["sentences"], timings=r.timings,
                           confidence=r.confidence)
            except NewsqaError as exc:
                if exc.exit_code in (3, 4, 5, 6):  # the index or model itself is broken: stop, say why
                    raise
                answer, abstained, sources, rec["error"] = "", False, [], f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - one item's failure must not stop the run
                answer, abstained, sources, rec["error"] = "", False, [], f"{type(exc).__name__}: {exc}"
            rec["latency"] = time.perf_counter() - t
        rec.update(answer=answer, abstained=abstained, sources=sources)
        if retrieved is not None:
            rec["retrieved"] = [{k2: p[k2] for k2 in ("id", "doc", "start", "end", "text", "rank")} for p in retrieved]
        scores = score_item(g, answer, abstained, sources, retrieved, articles, k_eff, judge=judge)
        if rec["error"]:
            scores = {name: (-1.0 if name == "crag" else 0.0) for name in scores}
        rec["scores"] = scores
        items.append(rec)
        if progress:
            progress(i + 1, len(gold))
    by_type = {t: aggregate([it for it in items if it["type"] == t]) for t in TYPES if any(it["type"] == t for it in items)}
    return {"metrics": aggregate(items), "by_type": by_type, "items": items,
            "config": {"mode": mode or (engine.settings.mode if engine else "predictions"), "k": k_eff,
                       "gold_items": len(gold), "when": datetime.now().isoformat(timespec="seconds"),
                       "judge": _judge_config(judge, *judged_before)}}


def _judge_config(judge, calls_before: int, failures_before: int) -> dict | None:
    """The judge's work in this run (a judge shared by several runs keeps its cache)."""
    if judge is None:
        return None
    failures = judge.failures[failures_before:]
    return {"model": judge.settings.llm.model, "calls": judge.calls - calls_before, "failures": len(failures),
            "first_failure": failures[0] if failures else None}


def item_failed(it: dict) -> bool:
    s = it["scores"]
    return bool(it.get("error")) or s.get("crag", 0) < 0 or s.get("abstain_accuracy", 1) < 1 or \
        s.get("citation_recall", 1) < 1 or s.get("both_sides_cited", 1) < 1


def compare(results: dict, baseline: dict, path: Path | str | None = None) -> dict:
    """Each metric's change, the items whose CRAG score got worse, and what the baseline was (for the
    report: its metrics, and each item's CRAG before)."""
    deltas = {m: results["metrics"][m] - baseline["metrics"][m] for m in results["metrics"]
              if isinstance(results["metrics"][m], (int, float)) and isinstance(baseline.get("metrics", {}).get(m), (int, float))}
    old = {it["id"]: it for it in baseline.get("items", [])}
    worse = [it["id"] for it in results["items"]
             if it["id"] in old and it["scores"].get("crag", 0) < old[it["id"]]["scores"].get("crag", 0)]
    config = baseline.get("config") or {}
    return {"deltas": deltas, "worse": worse,
            "baseline": {"path": str(path) if path else None, "when": config.get("when"), "mode": config.get("mode"),
                         "metrics": {m: v for m, v in (baseline.get("metrics") or {}).items()
                                     if isinstance(v, (int, float))}},
            "before": {i: {"crag": (it.get("scores") or {}).get("crag", 0)} for i, it in old.items()}}


def parse_fail_under(specs: Sequence[str]) -> dict[str, float]:
    out = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise BadInput(f"--fail-under takes METRIC=VALUE, not {spec!r}") from None
        if not sep:
            raise BadInput(f"--fail-under takes METRIC=VALUE, not {spec!r}")
    return out


def report_markdown(res: dict, comparison: dict | None) -> str:
    lines = ["# newsqa eval", "", f"mode `{res['config']['mode']}`, k={res['config']['k']}, "
             f"{res['config']['gold_items']} items, {res['config']['when']}", ""]
    setup = res["config"].get("setup") or {}
    if setup:
        lines += ["## Setup", ""] + [f"- {k}: {v}" for k, v in setup.items() if v and k != "gold_label"] + [""]
    lines += ["## Metrics by type", ""]
    cols = [c for c in SHOWN if any(c in m for m in res["by_type"].values())]
    lines.append("| type | n | " + " | ".join(cols) + " |")
    lines.append("|---|---|" + "---|" * len(cols))
    for t, m in list(res["by_type"].items()) + [("**all**", res["metrics"])]:
        lines.append(f"| {t} | {m['items']} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |")
    lat = res["metrics"]
    if "latency_p50" in lat:
        lines += ["", f"latency p50 {lat['latency_p50'] * 1000:.0f} ms, p95 {lat['latency_p95'] * 1000:.0f} ms"]
    if comparison:
        lines += ["", "## Against the baseline", ""]
        lines += [f"- {m}: {d:+.3f}" for m, d in comparison["deltas"].items() if m != "items"]
        lines += ["", "Items that got worse: " + (", ".join(comparison["worse"]) or "none")]
    worst = sorted((it for it in res["items"] if item_failed(it)), key=lambda it: it["scores"].get("crag", 0))
    lines += ["", "## Worst items", ""]
    for it in worst[:20]:
        lines += [f"### {it['id']} ({it['type']}): {it['question']}", "",
                  f"- answer: {it['answer'] or '(none)'}", f"- gold: {'; '.join(it['gold_answers']) or '(abstain)'}",
                  f"- abstained: {it['abstained']}; scores: " + ", ".join(f"{k}={v:.2f}" for k, v in it["scores"].items())]
        if it.get("error"):
            lines.append(f"- error: {it['error']}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    return "" if v is None else f"{v:.3f}"


def run_cli(*, gold, modes, k, out_dir, json_out, baseline, fail_under, predictions, make_engine, out, err,
            make_judge=None, corpus=None) -> int:
    """The `newsqa eval` command body; returns the exit code. Several modes run one after another and
    are reported side by side. With `corpus` (a file or folder), gold evidence is checked against its
    articles and, unless predictions are scored, it is ingested into the configured index first."""

    thresholds = parse_fail_under(fail_under)
    corpus_paths = [Path(corpus)] if corpus else None
    articles = corpus_articles(corpus_paths)
    gold_items = load_gold(gold or default_gold(), articles, strict_docs=corpus_paths is None)
    base = None
    if baseline:
        try:
            base = json.loads(Path(baseline).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInput(f"cannot read the baseline {baseline}: {exc}") from None
    preds = load_predictions(Path(predictions)) if predictions else None
    engines = [] if preds is not None else [make_engine(m) for m in modes]  # config errors before any work
    if corpus_paths and engines:
        report = engines[0].ingest(corpus_paths)  # the modes share one index; unchanged articles cost nothing
        err.print(f"corpus {corpus}: added {len(report.added)}, unchanged {len(report.unchanged)}, replaced "
                  f"{len(report.replaced)}, skipped {len(report.skipped)}", markup=False)
    judge = make_judge() if make_judge else None
    # Without --out every run gets a new folder under runs/, and the history is kept in runs/ for all of them.
    history_dir = None if out_dir else Path("runs")
    out_dir = Path(out_dir) if out_dir else Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    runs: dict[str, dict] = {}
    gold_files = list(gold or default_gold())
    if preds is not None:
        runs["predictions"] = evaluate(gold_items, predictions=preds, k=k, articles=articles, judge=judge)
        runs["predictions"]["config"]["setup"] = run_setup(gold=gold_files, corpus=corpus, predictions=predictions,
                                                           judge=judge)
    else:
        for m, engine in zip(modes, engines):
            res = evaluate(gold_items, engine=engine, mode=m, k=k, articles=articles, judge=judge)
            res["config"]["setup"] = run_setup(gold=gold_files, corpus=corpus, engine=engine, judge=judge)
            runs[res["config"]["mode"]] = res
    several = len(runs) > 1
    for name, res in runs.items():
        write_run(res, out_dir / name if several else out_dir, compare(res, base, baseline) if base else None,
                  history_dir)
    if json_out:
        if several:
            payload = {"modes": {n: {"metrics": r["metrics"], "by_type": r["by_type"], "items": r["items"]}
                                 for n, r in runs.items()}}
        else:
            (r,) = runs.values()
            payload = {"metrics": r["metrics"], "by_type": r["by_type"], "items": r["items"]}
            if r["comparison"]:
                payload["comparison"] = r["comparison"]
        out.file.write(json.dumps(payload, ensure_ascii=False) + "\n")  # the CLI's stdout: write errors reported
    else:
        for res in runs.values():
            _print_run(res, out, show_failing=not several)
        if several:
            _print_side_by_side(runs, out)
        out.print(f"results and reports under {out_dir}", markup=False)
    for name in thresholds:
        if any(name not in r["metrics"] for r in runs.values()):
            raise BadInput(f"--fail-under names an unknown metric {name!r}")
    below = [f"{n}: {name}={r['metrics'][name]:.3f} < {v}" if several else f"{name}={r['metrics'][name]:.3f} < {v}"
             for n, r in runs.items() for name, v in thresholds.items() if r["metrics"][name] < v]
    if below:
        err.print("newsqa: eval below threshold: " + "; ".join(below), markup=False)
        return 1
    return 0


def _print_run(res: dict, out, show_failing: bool) -> None:
    from rich.table import Table

    cols = [c for c in SHOWN if c in res["metrics"]]
    title = f"newsqa eval ({res['config']['mode']}, k={res['config']['k']})"
    rows = list(res["by_type"].items()) + [("all", res["metrics"])]
    if out.is_terminal and out.width >= table_width(cols, rows):
        table = Table(title=title, title_justify="left")
        table.add_column("type")
        table.add_column("n", justify="right")
        for c in cols:
            table.add_column(c.replace("_", " "), justify="right")
        for t, m in rows:
            table.add_row(t, str(m["items"]), *(_fmt(m.get(c)) for c in cols), style="bold" if t == "all" else None)
        out.print(table)
    else:
        for line in metric_lines(title, cols, res):  # narrow or piped: one metric per line, nothing squeezed
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    m = res["metrics"]
    if "latency_p50" in m:
        out.print(f"latency p50 {m['latency_p50'] * 1000:.0f} ms, p95 {m['latency_p95'] * 1000:.0f} ms")
    j = res["config"].get("judge")
    if j:
        out.print(f"judge {j['model']}: {j['calls']} verdicts asked, {j['failures']} failed or unreadable (counted 'no')"
                  + (f"; first: {j['first_failure']}" if j["first_failure"] else ""), markup=False)
    failing = [it for it in res["items"] if item_failed(it)]
    if failing and show_failing and not (out.is_terminal and out.width >= 100):
        out.print(f"{len(failing)} failing items", markup=False)
        for it in failing:  # one item a line: id, type, why, question, then the answer
            answer = " ".join((it["answer"] or "").split())[:160]
            out.print(f"- {it['id']} [{it['type']}] {_why(it)}: {it['question']} -> {answer}", markup=False,
                      highlight=False, soft_wrap=True)
    elif failing and show_failing:
        ft = Table(title=f"{len(failing)} failing items", title_justify="left", show_lines=False)
        for c in ("id", "type", "question", "answer", "why"):
            ft.add_column(c, overflow="fold")
        for it in failing:
            ft.add_row(it["id"], it["type"], it["question"], (it["answer"] or "")[:160], _why(it))
        out.print(ft)
    comparison = res.get("comparison")
    if comparison:
        out.print("vs baseline: " + ", ".join(f"{m} {d:+.3f}" for m, d in comparison["deltas"].items() if m != "items"))
        out.print("worse: " + (", ".join(comparison["worse"]) or "none"))


def table_width(cols: list[str], rows: list[tuple[str, dict]]) -> int:
    """The width the type-by-metric table needs without wrapping a header or a cell."""
    type_w = max(len(t) for t, _ in rows) if rows else 4
    return type_w + 5 + sum(max(len(w) for w in c.split("_")) + 3 for c in cols) + 4 + 3 * 2


def metric_lines(title: str, cols: list[str], res: dict) -> list[str]:
    """The run as lines that read anywhere (a narrow terminal, a pipe, a log): the items per type, then one
    line per metric, its overall value first and then each type's."""
    by_type = res["by_type"]
    name_w = max(len(c) for c in cols) if cols else 10
    lines = [title, f"{'items':<{name_w}}  {res['metrics']['items']} (" +
             ", ".join(f"{t} {m['items']}" for t, m in by_type.items()) + ")"]
    for c in cols:
        per = ", ".join(f"{t} {_fmt(m.get(c))}" for t, m in by_type.items() if m.get(c) is not None)
        lines.append(f"{c:<{name_w}}  {_fmt(res['metrics'].get(c)) or '-':>5}" + (f"   ({per})" if per else ""))
    return lines


def _print_side_by_side(runs: dict[str, dict], out) -> None:
    from rich.table import Table

    table = Table(title="modes side by side", title_justify="left")
    table.add_column("metric")
    for name in runs:
        table.add_column(name, justify="right")
    names = [c for c in SHOWN + ("latency_p50", "latency_p95") if any(c in r["metrics"] for r in runs.values())]
    for c in names:
        table.add_row(c, *(_fmt(r["metrics"].get(c)) for r in runs.values()))
    out.print(table)


def _why(it: dict) -> str:
    s = it["scores"]
    if it.get("error"):
        return "error: " + it["error"][:80]
    if s.get("abstain_accuracy", 1) < 1:
        return "should abstain" if it["type"] in ABSTAIN_TYPES else "abstained"
    if s.get("crag", 0) < 0:
        return "wrong answer"
    if s.get("citation_recall", 1) < 1:
        return "unsupported sentence"
    if s.get("both_sides_cited", 1) < 1:
        return "one side only"
    return ""
