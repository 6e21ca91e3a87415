"""What the answerer knows about a question and a candidate sentence, as numbers a fitted model weighs.

Everything here is general English, not any corpus's vocabulary: question words, the
shapes of names, numbers, amounts and dates, negation and reporting verbs. Which of these
signals matter, and how much, is learned from data by `evals/fit.py` (weights in
retrieval/data/answerer.json), never set by hand.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import injection
from .text import NEGATIONS, QUESTION_WORDS, STOPWORDS, fold, stem, words

if TYPE_CHECKING:
    from .types import Passage

QTYPES = ("quantity", "date", "person", "place", "which", "yesno", "other")
MONTHS = ("January February March April May June July August September October November December "
          "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec").split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
NUMBER_WORDS = frozenset("""one two three four five six seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
thousand million billion trillion dozen dozens hundreds thousands millions billions half""".split())
AUXILIARIES = frozenset("is are was were did does do has have had can will could should would may might".split())
# Words for places as a kind of thing, so "which country/city" asks for a place (general geography).
PLACE_NOUNS = frozenset("country countries city cities state states nation town region province county continent "
                        "capital island village place location".split())
PERSON_NOUNS = frozenset("person people man woman player actor actress singer author leader president ceo "
                         "founder director coach star politician official".split())
REPORTING = re.compile(r"\b(said|says|say|claimed|claims|claim|reported|reports|denied|denies|announced|"
                       r"stated|told|according to|alleged|insisted|confirmed|argued)\b", re.I)
_CAP = re.compile(r"[^\W\d_][\w'’.&-]*")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)s?\b")
_NUM = re.compile(r"(?<![\w.])[$€£¥]?\d[\d,.]*(?:\s?(?:%|percent|per cent|million|billion|trillion|bn|m|k))?")
_MONEY = re.compile(r"[$€£¥]\s?\d[\d,.]*(?:\s?(?:million|billion|trillion|bn|m|k)\b)?|"
                    r"(?<![\d.])\d[\d,.]*\s?(?:million |billion |trillion )?(?:dollars|euros|pounds|yen|yuan|rupees)\b|"
                    r"(?<![\d.])\d[\d,.]*\s?(?:million|billion|trillion)\b", re.I)
_PERCENT = re.compile(r"(?<![\d.])\d[\d,.]*\s?(?:%|percent\b|per cent\b)", re.I)
_DATE = re.compile(r"\b(?:%s)\b|\b(?:%s)\b|\b(1[89]\d\d|20\d\d)\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|"
                   r"\b(?:yesterday|today|tomorrow|tonight|last (?:year|month|week)|this (?:year|month|week)|"
                   r"next (?:year|month|week))\b" % ("|".join(MONTHS), "|".join(WEEKDAYS)))


@dataclass
class QuestionInfo:
    text: str
    qtype: str
    terms: list[str]  # stemmed content terms, in order
    surface: dict[str, str]  # stem -> a word as written
    names: set[str] = field(default_factory=set)  # stems of the question's capitalised words
    years: set[str] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)
    negated: bool = False
    presupposes: bool = False
    head: list[str] = field(default_factory=list)  # what a which/what question names ("which company")


def analyse_question(question: str) -> QuestionInfo:
    q = fold(question).strip()
    ws = words(q)
    first = ws[0] if ws else ""
    qtype = "other"
    if first in AUXILIARIES:
        qtype = "yesno"  # "Is it true that …", "Did Ukraine capture Moscow?", whatever words follow
    elif re.search(r"\bhow (many|much|long|often|old|far|big|large|high)\b|\bwhat (number|percentage|percent|share|"
                 r"amount|proportion|price|total)\b|\bnumber of\b", q):
        qtype = "quantity"
    elif re.search(r"\bwhen\b|\b(what|which) (date|day|year|month|time|decade)\b|\bsince when\b|\bhow soon\b", q):
        qtype = "date"
    elif re.search(r"\b(who|whom|whose)\b", q) or re.search(r"\b(which|what) (\w+ )?(%s)\b" % "|".join(PERSON_NOUNS), q):
        qtype = "person"
    elif re.search(r"\bwhere\b", q) or re.search(r"\b(which|what) (\w+ )?(%s)\b" % "|".join(PLACE_NOUNS), q):
        qtype = "place"
    elif re.search(r"\b(which|what)\b", q):
        qtype = "which"
    terms, surface = [], {}
    for w in ws:
        if w in STOPWORDS or w in QUESTION_WORDS or w in AUXILIARIES:
            continue
        t = stem(w)
        if t not in surface:
            surface[t] = w
            terms.append(t)
    names = {stem(fold(m.group())) for m in _CAP.finditer(question) if m.group()[0].isupper() and m.start() > 0}
    m = re.search(r"\b(?:which|what)\s+((?:[\w'-]+\s+){0,3}[\w'-]+)", q)
    head = [stem(w) for w in words(m.group(1)) if w not in STOPWORDS and w not in AUXILIARIES][:3] if m else []
    presupposes = bool(re.match(r"\s*(why|how come|how did|how was|how were|when did|when was|when were|what made|"
                                r"what caused)\b", q))
    return QuestionInfo(question, qtype, terms, surface, names, set(_YEAR.findall(question)),
                        {n.replace(",", "") for n in re.findall(r"\d[\d,.]*", question)},
                        bool(set(ws) & NEGATIONS), presupposes, head)


def answer_spans(sentence: str) -> dict[str, list[str]]:
    """Spans of each answer kind a sentence holds: names, numbers, amounts, percentages, dates."""
    names: list[str] = []
    run: list[str] = []
    toks = list(_CAP.finditer(sentence))
    for i, m in enumerate(toks):
        w = m.group()
        capital = w[0].isupper() and fold(w) not in STOPWORDS
        prev = toks[i - 1].group() if i else ""
        joined = bool(prev) and sentence[toks[i - 1].end():m.start()].strip() == "" and (
            not prev.endswith(".") or len(prev) <= 4)  # "Gen. Valery V. Gerasimov", not "Kursk. Valery"
        if run and not joined:
            names.append(" ".join(run))
            run = []
        if capital and (m.start() > 0 or (i + 1 < len(toks) and toks[i + 1].group()[0].isupper())):
            run.append(w.rstrip(".,"))
        else:
            if run:
                names.append(" ".join(run))
            run = []
    if run:
        names.append(" ".join(run))
    names = [n for n in names if n not in MONTHS and n not in WEEKDAYS]
    return {"name": names, "number": [m.group().strip().rstrip(".,") for m in _NUM.finditer(sentence)] +
            [w for w in words(sentence) if w in NUMBER_WORDS],
            "money": [m.group() for m in _MONEY.finditer(sentence)],
            "percent": [m.group() for m in _PERCENT.finditer(sentence)],
            "date": [m.group() for m in _DATE.finditer(sentence)]}


# Prompt injection has one rule, in retrieval/injection.py; these names stay for the answerer.
def is_instruction(text: str) -> bool:
    """True when `text` reads as an instruction to an AI model or its user (see retrieval/injection.py)."""
    return injection.is_instruction(text)


def annotate(chunk_text: str) -> str:
    """What ingest stores with a chunk for the answerer (JSON): the rule's version and the sentence spans
    that are instructions to an AI model, or the payload right after one; these are never quoted."""
    return injection.annotation(chunk_text)


def instruction_spans(passage: Passage) -> set[tuple[int, int]]:
    """The passage's instruction spans: as stored at ingest when the current rule wrote them, otherwise
    (no annotation, or one by an older rule) computed again from its text."""
    return injection.spans_from_annotation(passage.ann, passage.text)


FEATURES = (
    "cov_sentence", "cov_passage", "cov_title", "cov_plain", "echo", "is_question", "dense_passage",
    "inv_rank", "bm25_rel", "log_words", "first_in_passage", "early_in_article", "kind_heading", "kind_caption",
    "kind_meta", "new_name", "has_number", "has_money", "has_percent", "has_date", "names_in_sentence",
    "names_in_passage", "years_hold", "numbers_hold", "negation_mismatch", "reported",
    # No per-question-kind prior (q_quantity, ...): fitted on a news quiz, it learned how often the quiz's
    # wording of an answer matches the article's for each kind, not how often news answers it. Only the
    # kind crossed with what the sentence holds is a feature.
    "quantity_x_number", "quantity_x_money", "quantity_x_percent", "date_x_date", "person_x_name",
    "place_x_name", "which_x_name", "other_x_name", "yesno_x_cov",
    "head_in_sentence", "head_in_passage", "n_new_names", "name_near_term", "cov_x_typed", "redundancy",
    "redundancy_x_typed", "year_conflict", "bm25_sentence",
)


def sentence_features(q: QuestionInfo, idf: dict[str, float], text: str, passage: Passage,
                      context_terms: set[str], title_terms: set[str], max_bm25: float,
                      spans: dict[str, list[str]], new_names_: list[str], content: list[str]) -> dict[str, float]:
    """The features of one candidate sentence (see FEATURES; `first_in_passage`, `bm25_sentence` and the
    redundancy ones are the caller's). `spans`, `new_names_` and `content` are the sentence's
    `answer_spans`, `new_names` and `content_stems`, computed once by the caller, which needs them too."""
    ws = words(text)
    stems = {stem(w) for w in ws if w not in STOPWORDS}
    total = sum(idf.get(t, 0.0) for t in q.terms) or 1.0
    cov_s = sum(idf.get(t, 0.0) for t in q.terms if t in stems) / total
    cov_p = sum(idf.get(t, 0.0) for t in q.terms if t in stems or t in context_terms) / total
    cov_t = sum(idf.get(t, 0.0) for t in q.terms if t in title_terms) / total
    plain = sum(1 for t in q.terms if t in stems) / max(len(q.terms), 1)
    qset = set(q.terms)
    echo = sum(1 for t in content if t in qset) / max(len(content), 1)
    has_num = any(n.replace(",", "") not in q.numbers for n in spans["number"])
    has_date = any(d not in q.years for d in spans["date"])
    f = {
        "cov_sentence": cov_s, "cov_passage": cov_p, "cov_title": cov_t, "cov_plain": plain, "echo": echo,
        "is_question": float(text.rstrip("\"'”’ ").endswith("?")), "dense_passage": max(passage.dense, 0.0),
        "inv_rank": 1.0 / max(passage.rank, 1), "bm25_rel": passage.bm25 / max_bm25 if max_bm25 > 0 else 0.0,
        "log_words": math.log1p(len(ws)), "first_in_passage": 0.0,
        "early_in_article": 1.0 / (1.0 + passage.start / 1000.0),
        "kind_heading": float(passage.kind == "heading"), "kind_caption": float(passage.kind == "caption"),
        "kind_meta": float(passage.kind == "meta"), "new_name": float(bool(new_names_)), "has_number": float(has_num),
        "has_money": float(bool(spans["money"])), "has_percent": float(bool(spans["percent"])),
        "has_date": float(has_date),
        "names_in_sentence": _share(q.names, stems), "names_in_passage": _share(q.names, stems | context_terms),
        "years_hold": _share({y for y in q.years}, set(_YEAR.findall(text + " " + passage.text + " " + passage.date))),
        "numbers_hold": _share(q.numbers - q.years, {n.replace(",", "") for n in re.findall(r"\d[\d,.]*", text)}),
        "negation_mismatch": float(q.negated != bool(set(ws) & NEGATIONS)),
        "reported": float(bool(REPORTING.search(text))),
    }
    is_ = {t: float(q.qtype == t) for t in QTYPES}
    f["quantity_x_number"] = is_["quantity"] * f["has_number"]
    f["quantity_x_money"] = is_["quantity"] * f["has_money"]
    f["quantity_x_percent"] = is_["quantity"] * f["has_percent"]
    f["date_x_date"] = is_["date"] * f["has_date"]
    f["person_x_name"] = is_["person"] * f["new_name"]
    f["place_x_name"] = is_["place"] * f["new_name"]
    f["which_x_name"] = is_["which"] * f["new_name"]
    f["other_x_name"] = is_["other"] * f["new_name"]
    f["yesno_x_cov"] = is_["yesno"] * cov_s
    f["head_in_sentence"] = _share(set(q.head), stems) if q.head else 0.0
    f["head_in_passage"] = _share(set(q.head), stems | context_terms) if q.head else 0.0
    f["n_new_names"] = math.log1p(len(new_names_))
    f["name_near_term"] = float(_name_near_term(ws, qset, new_names_))
    typed = max(f["quantity_x_number"], f["date_x_date"], f["person_x_name"], f["place_x_name"],
                f["which_x_name"], f["other_x_name"])
    f["cov_x_typed"] = cov_s * typed
    f["redundancy"] = 0.0  # filled in by the caller, which sees every retrieved passage
    f["redundancy_x_typed"] = 0.0
    s_years = set(_YEAR.findall(text))
    f["year_conflict"] = float(bool(q.years and s_years and not q.years & s_years))
    f["bm25_sentence"] = 0.0  # filled in by the caller: BM25 needs the candidates' average length
    return f


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def bm25(terms: list[str], idf: dict[str, float], content: list[str], avg_len: float,
          k1: float = 1.2, b: float = 0.75) -> float:
    """Okapi BM25 of one sentence, with the corpus's idf (the standard k1 and b)."""
    tf: dict[str, int] = {}
    for t in content:
        tf[t] = tf.get(t, 0) + 1
    norm = k1 * (1 - b + b * len(content) / avg_len)
    return sum(idf.get(t, 0.0) * tf[t] * (k1 + 1) / (tf[t] + norm) for t in set(terms) if t in tf)


def new_names(q: QuestionInfo, spans: dict[str, list[str]]) -> list[str]:
    """The names a sentence states (its `answer_spans`) that the question does not: candidate answers
    to who/which/where."""
    qset = set(q.terms) | q.names
    return [n for n in spans["name"] if not all(stem(fold(x)) in qset for x in n.split())]


def _name_near_term(ws: list[str], qset: set[str], names: list[str], window: int = 6) -> bool:
    """A new name within a few words of a word of the question: the answer usually sits next to its clue."""
    if not names:
        return False
    hits = [i for i, w in enumerate(ws) if stem(w) in qset]
    name_words = {fold(x) for n in names for x in n.split()}
    spots = [i for i, w in enumerate(ws) if w in name_words]
    return any(abs(i - j) <= window for i in hits for j in spots)


def _share(wanted: set[str], have: set[str]) -> float:
    """The share of what the question pins down (years, numbers, names) that holds here; 1 when nothing is pinned."""
    return sum(1 for w in wanted if w in have) / len(wanted) if wanted else 1.0


def typed_values(q: QuestionInfo, text: str) -> set[str]:
    """The values of the kind asked for that a sentence states (for telling two sources' answers apart)."""
    spans = answer_spans(text)
    qset = set(q.terms) | q.names
    if q.qtype == "quantity":
        vals = spans["money"] + spans["percent"] + spans["number"]
        return {v.replace(",", "").lower() for v in vals if v.replace(",", "") not in q.numbers}
    if q.qtype == "date":
        return {d for d in spans["date"] if d not in q.years}
    if q.qtype in ("person", "place", "which"):
        return {fold(n) for n in spans["name"] if not all(stem(fold(x)) in qset for x in n.split())}
    return set()
