"""RealTime QA (Kasai et al., NeurIPS 2023) as a newsqa corpus and gold set, and a runner that scores newsqa
and a baseline on it.

    python -m evals.realtimeqa convert --years 2024 --weeks 4 --seed 0 --holdout-frac 0.2 --out /tmp/rtqa
    python -m evals.realtimeqa run --dir /tmp/rtqa [--data-dir /tmp/rtqa/index] [--limit 50]

The dataset is third-party and is read where it lies (`--dataset`, env NEWSQA_REALTIMEQA, else
`../shared/datasets/realtimeqa` beside the repository); nothing of it belongs in the repository.

The split is fixed: tune on 2022-2023, report on 2024.

Abstention set: a seeded `--holdout-frac` of the selected questions become "unanswerable": their own
articles are left out of the corpus. An article is only left out when no kept (answerable) question
lists it too; a held-out question that still has any of its articles in the corpus after that is
dropped altogether (counted in split.json as `held_out_dropped`).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import sys
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = Path("..") / "shared" / "datasets" / "realtimeqa"
ENV_DATASET = "NEWSQA_REALTIMEQA"
TUNING_YEARS = ("2022", "2023")
REPORT_YEARS = ("2024",)
MIN_CHARS = 200
CHARS_PER_TOKEN = 4.2
CHUNK_TOKENS = 160
MAX_FILE_BYTES = 18 * 1024 * 1024  # under newsqa's per-file ingest limit (retrieval.loading.MAX_BYTES, 20 MB)
_QUOTES = "\"'“”‘’«»„"
_TYPOGRAPHIC = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "«": '"', "»": '"'})


# --- where the data is ------------------------------------------------------------------------
def dataset_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The dataset folder: the option, else env NEWSQA_REALTIMEQA, else ../shared/datasets/realtimeqa
    relative to the repository root (then to the working directory)."""
    if explicit:
        candidates = [Path(explicit).expanduser()]
    elif os.environ.get(ENV_DATASET):
        candidates = [Path(os.environ[ENV_DATASET]).expanduser()]
    else:
        candidates = [(REPO_ROOT / DEFAULT_DATASET).resolve(), (Path.cwd() / DEFAULT_DATASET).resolve()]
    for c in candidates:
        if (c / "questions.jsonl.gz").is_file() and (c / "articles.jsonl.gz").is_file():
            return c
    raise SystemExit(f"realtimeqa: no questions.jsonl.gz and articles.jsonl.gz in {', '.join(map(str, candidates))} "
                     f"(pass --dataset PATH or set {ENV_DATASET})")


def read_jsonl_gz(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


# --- field mapping ----------------------------------------------------------------------------
def doc_id(url: str) -> str:
    """A short id that depends on the url only: stable across runs and machines."""
    return "rtqa-" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:12]


def outlet_of(url: str) -> str:
    """The site name from the url's host: "www.cnn.com" -> "cnn.com", "edition.cnn.com" -> "edition.cnn.com"
    (only a leading www./m./amp. is dropped)."""
    host = (urlparse(url).hostname or "").lower().rstrip(".")
    for prefix in ("www.", "m.", "amp.", "mobile."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix):]
            break
    return host


def iso_date(d: str | None) -> str:
    """"2024/01/05" (or "2024-01-05T…") -> "2024-01-05"; "" when unreadable."""
    d = (d or "").strip().replace("/", "-")[:10]
    parts = d.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4:
        return f"{parts[0]}-{int(parts[1]):02d}-{int(parts[2]):02d}"
    return ""


def answer_aliases(gold: str) -> list[str]:
    """The gold choice with typographic quotes folded to ASCII, then the same without surrounding quotes and
    without a final full stop: general rules only, no hand-made aliases."""
    base = " ".join(gold.translate(_TYPOGRAPHIC).split())
    out = [base]
    bare = base
    while len(bare) > 2 and bare[0] in _QUOTES and bare[-1] in _QUOTES:
        bare = bare[1:-1].strip()
    out.append(bare)
    if bare.endswith(".") and not bare.endswith(".."):
        out.append(bare[:-1].rstrip())
    seen, res = set(), []
    for a in out:
        if a and a not in seen:
            seen.add(a)
            res.append(a)
    return res


def estimate_chunks(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN / CHUNK_TOKENS))


def split_name(years: list[str]) -> str:
    ys = set(years)
    if ys <= set(TUNING_YEARS):
        return "tuning"
    if ys <= set(REPORT_YEARS):
        return "report"
    return "mixed"


# --- convert ----------------------------------------------------------------------------------
def convert(dataset: Path, out: Path, years: list[str], weeks: int | None = None, seed: int = 0,
            max_chunks: int | None = None, holdout_frac: float = 0.2, min_chars: int = MIN_CHARS,
            log=print, exclude_weeks: frozenset[str] = frozenset()) -> dict:
    """Write out/articles.jsonl (or articles-NN.jsonl when large), out/gold.jsonl and out/split.json;
    returns the split.json content."""
    if not 0 <= holdout_frac < 1:
        raise SystemExit("realtimeqa: --holdout-frac must be in [0, 1)")
    name = split_name(years)
    log(f"realtimeqa: making a {name.upper()} set from {', '.join(years)} "
        f"(fixed split: tune on {'-'.join(TUNING_YEARS)}, report on {', '.join(REPORT_YEARS)}"
        + ("; mixes tuning and report years!" if name == "mixed" else "") + ")")
    questions = [q for q in read_jsonl_gz(dataset / "questions.jsonl.gz")
                 if str(q.get("week", ""))[:4] in years and q.get("gcs_urls") and q.get("gold")]
    wanted = {u for q in questions for u in q["gcs_urls"]}
    articles: dict[str, dict] = {}
    short = 0
    for a in read_jsonl_gz(dataset / "articles.jsonl.gz"):
        url = a.get("url")
        if url not in wanted or url in articles:
            continue
        if len((a.get("text") or "").strip()) < min_chars:
            short += 1
            continue
        articles[url] = a
    no_articles = sum(1 for q in questions if not any(u in articles for u in q["gcs_urls"]))
    questions = [q for q in questions if any(u in articles for u in q["gcs_urls"])]

    def urls_of(q):
        return sorted({u for u in q["gcs_urls"] if u in articles})

    # Weeks: a seeded shuffle of the available weeks, taken in that order while the limits allow.
    all_weeks = sorted({q["week"] for q in questions} - set(exclude_weeks))
    order = list(all_weeks)
    random.Random(seed).shuffle(order)
    by_week: dict[str, list[dict]] = {}
    for q in questions:
        by_week.setdefault(q["week"], []).append(q)
    chosen, chunk_total, seen_urls = [], 0, set()
    for w in order:
        if weeks is not None and len(chosen) >= weeks:
            break
        new = {u for q in by_week[w] for u in urls_of(q)} - seen_urls
        cost = sum(estimate_chunks(articles[u]["text"]) for u in new)
        if max_chunks is not None and chosen and chunk_total + cost > max_chunks:
            continue  # a smaller later week may still fit
        chosen.append(w)
        chunk_total += cost
        seen_urls |= new
    chosen.sort()
    selected = sorted((q for w in chosen for q in by_week[w]), key=lambda q: (q["week"], _qnum(q["id"])))

    # Held-out (abstention) questions: a seeded sample; their articles leave the corpus.
    rng = random.Random(f"{seed}:holdout")
    n_hold = round(holdout_frac * len(selected))
    hold_ids = set(rng.sample([q["id"] for q in selected], n_hold)) if n_hold else set()
    kept_urls = {u for q in selected if q["id"] not in hold_ids for u in urls_of(q)}
    removed = {u for q in selected if q["id"] in hold_ids for u in urls_of(q)} - kept_urls
    dropped = {q["id"] for q in selected if q["id"] in hold_ids and any(u not in removed for u in urls_of(q))}
    hold_ids -= dropped
    corpus_urls = sorted(kept_urls)

    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("articles*.jsonl")):
        old.unlink()
    lines = []
    est_chunks = 0
    for u in corpus_urls:
        a = articles[u]
        authors = a.get("authors") or []
        rec = {"id": doc_id(u), "text": a["text"], "title": (a.get("title") or "").strip(), "outlet": outlet_of(u),
               "date": iso_date(a.get("publish_date")), "url": u,
               "author": ", ".join(authors) if isinstance(authors, list) else str(authors)}
        est_chunks += estimate_chunks(a["text"])
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    files = _write_sharded(out, lines)

    gold_lines, n_answerable, used = [], 0, set()
    for q in selected:
        if q["id"] in dropped:
            continue
        held = q["id"] in hold_ids
        docs = [doc_id(u) for u in urls_of(q)]
        gold = q["gold"][0] if isinstance(q["gold"], list) else q["gold"]
        qid, n = f"rtqa-{q['id']}", 2
        while qid in used:  # the dataset repeats a few ids (e.g. 20230922_0) for different questions
            qid, n = f"rtqa-{q['id']}-{n}", n + 1
        used.add(qid)
        item = {"id": qid, "question": q["question"].strip(), "answers": answer_aliases(str(gold)),
                "evidence": [] if held else [{"doc": d, "quote": ""} for d in docs],
                "type": "unanswerable" if held else "factoid", "docs": docs, "week": q["week"]}
        n_answerable += not held
        gold_lines.append(json.dumps(item, ensure_ascii=False) + "\n")
    (out / "gold.jsonl").write_text("".join(gold_lines), encoding="utf-8")

    split = {"split": name, "years": years, "seed": seed, "weeks_requested": weeks, "max_chunks": max_chunks,
             "holdout_frac": holdout_frac, "weeks": chosen, "weeks_available": len(all_weeks),
             "article_files": files,
             "counts": {"questions": len(gold_lines), "answerable": n_answerable, "held_out": len(hold_ids),
                        "held_out_dropped": len(dropped), "articles": len(corpus_urls),
                        "articles_removed_for_held_out": len(removed), "articles_skipped_short": short,
                        "questions_without_articles": no_articles, "estimated_chunks": est_chunks},
             "estimate": f"sum over articles of ceil(chars / {CHARS_PER_TOKEN} / {CHUNK_TOKENS})"}
    (out / "split.json").write_text(json.dumps(split, indent=1) + "\n", encoding="utf-8")
    c = split["counts"]
    log(f"realtimeqa: {len(chosen)} weeks, {c['questions']} questions ({c['answerable']} answerable, "
        f"{c['held_out']} held out, {c['held_out_dropped']} held-out dropped because their articles stay), "
        f"{c['articles']} articles (~{c['estimated_chunks']} chunks), {short} articles skipped as shorter than "
        f"{min_chars} characters, {no_articles} questions without any usable article -> {out}")
    return split


def _qnum(qid: str):
    tail = qid.rsplit("_", 1)[-1]
    return (int(tail), qid) if tail.isdigit() else (10 ** 9, qid)


def _write_sharded(out: Path, lines: list[str]) -> list[str]:
    """articles.jsonl, or articles-01.jsonl, articles-02.jsonl… when it would pass newsqa's per-file limit."""
    total = sum(len(x.encode("utf-8")) for x in lines)
    if total <= MAX_FILE_BYTES:
        (out / "articles.jsonl").write_text("".join(lines), encoding="utf-8")
        return ["articles.jsonl"]
    files, part, size = [], [], 0
    for line in lines:
        n = len(line.encode("utf-8"))
        if part and size + n > MAX_FILE_BYTES:
            files.append(part)
            part, size = [], 0
        part.append(line)
        size += n
    if part:
        files.append(part)
    names = []
    for i, chunk in enumerate(files, 1):
        nm = f"articles-{i:02d}.jsonl"
        (out / nm).write_text("".join(chunk), encoding="utf-8")
        names.append(nm)
    return names


def article_files(d: Path) -> list[Path]:
    try:
        names = json.loads((d / "split.json").read_text(encoding="utf-8"))["article_files"]
    except (OSError, ValueError, KeyError):
        names = sorted(p.name for p in d.glob("articles*.jsonl"))
    files = [d / n for n in names]
    if not files or not all(f.is_file() for f in files):
        raise SystemExit(f"realtimeqa: no articles*.jsonl in {d}: run `python -m evals.realtimeqa convert --out {d}` first")
    return files


# --- run ----------------------------------------------------------------------------------------
COLUMNS = (("answer acc", "answer_contains", None), ("first-sent acc", "first_sentence_contains", None),
           ("evidence doc", "evidence_doc", None), ("abstain acc (held-out)", "abstain_accuracy", "unanswerable"),
           ("answered", "answered", None), ("wrongful abstention", "wrongful_abstention", None), ("CRAG", "crag", None))


def summary_row(res: dict) -> dict:
    row = {}
    for _label, metric, typ in COLUMNS:
        m = res["by_type"].get(typ, {}) if typ else res["metrics"]
        row[metric if not typ else f"{metric}_{typ}"] = m.get(metric)
    row["items"] = res["metrics"]["items"]
    return row


def run(d: Path, data_dir: Path | None = None, limit: int | None = None, k: int | None = None,
        extra: list[str] | None = None, log=None) -> dict:
    """Ingest, score newsqa (extractive) and the baselines of evals/baselines.py (plus any extra predictions), print one
    table to stdout (progress to stderr) and write d/summary.json and d/runs/<system>/."""
    from retrieval.api import Engine
    from retrieval.config import load_settings

    from . import baselines
    from .harness import corpus_articles, evaluate, load_gold, load_predictions, write_run

    log = log or (lambda msg: print(msg, file=sys.stderr))
    d = Path(d)
    files = article_files(d)
    extras = []
    for spec in extra or []:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not Path(path).is_file():
            raise SystemExit(f"realtimeqa: --extra-predictions takes NAME=FILE with an existing file, not {spec!r}")
        extras.append((name.strip(), Path(path)))
    articles = corpus_articles(files)
    gold = load_gold([d / "gold.jsonl"], articles, strict_docs=False)
    if limit:
        gold = gold[:limit]
    data_dir = Path(data_dir) if data_dir else d / "index"
    engine = Engine(load_settings(data_dir=data_dir, mode="extractive", **({"k": k} if k else {})))
    log(f"realtimeqa: ingesting {', '.join(f.name for f in files)} into {data_dir} (unchanged articles are skipped)")
    report = engine.ingest(files)
    log(f"realtimeqa: added {len(report.added)}, unchanged {len(report.unchanged)}, replaced {len(report.replaced)}, "
        f"skipped {len(report.skipped)} ({report.chunks_embedded} chunks embedded)")
    runs_dir = d / "runs"
    results = {}

    def progress(name):
        def tick(i, n):
            if i % 25 == 0 or i == n:
                log(f"  {name}: {i}/{n}")
        return tick

    log(f"realtimeqa: newsqa (extractive) on {len(gold)} questions")
    results["newsqa"] = evaluate(gold, engine=engine, k=k, articles=articles, progress=progress("newsqa"))
    for name, baseline in baselines.BASELINES.items():
        log(f"realtimeqa: {name} baseline")
        preds = baseline(engine, gold, k=k)
        (runs_dir / name).mkdir(parents=True, exist_ok=True)
        baselines.write_predictions(preds, runs_dir / name / "predictions.jsonl")
        results[name] = evaluate(gold, predictions={p["id"]: p for p in preds}, k=k, articles=articles)
    for name, path in extras:
        results[name] = evaluate(gold, predictions=load_predictions(path), k=k, articles=articles)
    for name, res in results.items():
        write_run(res, runs_dir / name)
    split = {}
    try:
        split = json.loads((d / "split.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    summary = {"dir": str(d), "split": split.get("split"), "weeks": split.get("weeks"), "limit": limit,
               "k": results["newsqa"]["config"]["k"], "questions": len(gold),
               "answerable": sum(g["type"] != "unanswerable" for g in gold),
               "held_out": sum(g["type"] == "unanswerable" for g in gold),
               "systems": {name: summary_row(res) for name, res in results.items()}}
    (d / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(format_table(summary))
    log(f"realtimeqa: per-system results.json and report.md under {runs_dir}; summary in {d / 'summary.json'}")
    return summary


def format_table(summary: dict) -> str:
    heads = ["system"] + [label for label, _, _ in COLUMNS]
    keys = [m if not t else f"{m}_{t}" for _, m, t in COLUMNS]
    rows = [[name] + ["-" if r.get(k) is None else f"{r[k]:.3f}" for k in keys] for name, r in summary["systems"].items()]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    fmt = lambda cells: "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"  # noqa: E731
    lines = [f"RealTimeQA {summary.get('split') or ''} set: {summary['questions']} questions "
             f"({summary['answerable']} answerable, {summary['held_out']} held out), k={summary['k']}",
             fmt(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.realtimeqa", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="write articles.jsonl, gold.jsonl and split.json")
    c.add_argument("--years", required=True, help="comma-separated, e.g. 2024 (report) or 2022,2023 (tuning)")
    c.add_argument("--weeks", type=int, help="sample this many weeks (seeded)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--max-chunks", type=int, help="add sampled weeks while the estimated chunk count stays under this")
    c.add_argument("--holdout-frac", type=float, default=0.2, help="share of questions whose articles are removed")
    c.add_argument("--min-chars", type=int, default=MIN_CHARS, help="skip articles with shorter text")
    c.add_argument("--dataset", help=f"the RealTimeQA folder [env {ENV_DATASET}; default {DEFAULT_DATASET} from the repo root]")
    c.add_argument("--exclude-weeks", metavar="SPLIT_JSON", action="append", default=[],
                   help="leave out the weeks of an earlier split.json (a fresh sample disjoint from it)")
    c.add_argument("--out", required=True)
    r = sub.add_parser("run", help="ingest, run newsqa and the baselines, print one table")
    r.add_argument("--dir", required=True, help="a folder written by convert")
    r.add_argument("--data-dir", help="the index folder [DIR/index]")
    r.add_argument("--limit", type=int, help="only the first N gold questions")
    r.add_argument("-k", type=int, help="passages retrieved per question [newsqa's default]")
    r.add_argument("--extra-predictions", action="append", default=[], metavar="NAME=FILE",
                   help="another system's predictions, shown as one more row")
    args = ap.parse_args(argv)
    if args.cmd == "convert":
        years = [y.strip() for y in args.years.split(",") if y.strip()]
        convert(dataset_dir(args.dataset), Path(args.out), years, weeks=args.weeks, seed=args.seed,
                max_chunks=args.max_chunks, holdout_frac=args.holdout_frac, min_chars=args.min_chars,
                log=lambda s: print(s, file=sys.stderr),
                exclude_weeks=frozenset(w for f in args.exclude_weeks
                                        for w in json.loads(Path(f).read_text(encoding="utf-8"))["weeks"]))
        return 0
    from retrieval.errors import NewsqaError

    try:
        run(Path(args.dir), Path(args.data_dir) if args.data_dir else None, args.limit, args.k, args.extra_predictions)
    except NewsqaError as exc:
        print(f"realtimeqa: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
