"""The extractive answerer: picks the sentences that answer, cites them, or abstains.

It needs no language model. Topical closeness is never enough to answer: the
best sentence must cover the question's key terms (weighted by rarity), hold the
kind of answer asked for (a number next to the thing counted, a date, a name),
and not contradict the question's premise. The constants live in `Calibration`
and were set on the gold set as a whole (evals/gold), never per question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .citations import Evidence, supports
from .search import TermStats as Corpus
from .sentences import split_spans
from .text import QUESTION_WORDS, STOPWORDS, content_terms, fold, stem, words
from .types import Passage, Sentence, Source

ABSTAIN_TEXT = "The articles I have don't say."
PREMISE_TEXT = "The articles don't support the premise of this question."

# Verbs and fillers that carry little of what a question asks.
LIGHT_WORDS = frozenset("""get got make made take took go went come came do like thing things right now exact exactly
kind sort way happen happened mean means name named call called word words per report reported
article articles piece story news outlet outlets both two one number numbers maximum minimum total
roughly approximately exactly going using use used describe described describes happen happened supposed
include including involve involved mention mentioned state stated word worded wording differently quote quoted
phrase phrases""".split())
# What users call a passage of each kind; a question may name the kind ("in the photo caption").
KIND_WORDS = {"caption": "photo caption picture image pictured shown", "meta": "byline author wrote written date read",
              "heading": "headline title"}

NUMBER_WORDS = frozenset("""one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
twenty thirty forty fifty hundred hundreds thousand thousands million millions billion dozen dozens""".split())
MONTHS = ("january february march april may june july august september october november december "
          "jan feb mar apr jun jul aug sep sept oct nov dec").split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
ROLE_WORDS = frozenset("""president minister spokesperson spokesman spokeswoman chief general commander officials
official ministry staff military army forces government kremlin leader leadership author reporter""".split())

# Stance cues: a premise that says something ended or was admitted, against evidence that says it
# continues or was denied (or the reverse), is contradicted rather than answered.
NEGATE = frozenset(stem(w) for w in """not no never none nothing absent deny denies denied denial refute refuted
refutes reject rejected rejects dismiss dismissed dismisses refuse refused refuses propaganda false
criticize criticized criticise criticised""".split())
END = frozenset(stem(w) for w in """withdraw withdrew withdrawal withdrawn pull pulled retreat retreated end ended
over lost lose fail failed defeat defeated surrender surrendered leave left retake retaken retook recapture
recaptured liberate liberated liberation expel expelled oust ousted""".split())
CONTINUE = frozenset(stem(w) for w in """continue continues continued ongoing still hold holding remain remains
active""".split())


@dataclass
class Calibration:
    """Thresholds set on the gold set (see README, "Calibration")."""

    min_coverage: float = 0.6  # share of the question's weighted key terms the evidence must cover
    min_dense: float = 0.2  # cosine of question and passage below which nothing is on topic
    soft_match: float = 0.55  # word-vector cosine above which two words count as the same term
    companion_ratio: float = 0.7  # a second sentence joins when it scores this close to the best
    side_ratio: float = 0.5  # the opposing side of a disagreement joins when it scores this close
    side_coverage: float = 0.35  # … and covers this much of the question
    max_sentences: int = 3
    number_window: int = 5  # words between a number and the thing it counts
    w_coverage: float = 0.6  # sentence score = weighted key-term coverage, sentence and passage similarity
    w_sentence: float = 0.25
    w_passage: float = 0.15


@dataclass
class Question:
    text: str
    terms: list[str]  # stemmed key terms
    surface: dict[str, str]  # stem -> a surface word, for word vectors
    kind: str  # number | date | person | place | yesno | general
    head: list[str] = field(default_factory=list)  # what a "how many"/"which" question counts or names
    presupposes: bool = False
    stance: set[str] = field(default_factory=set)
    values: set[str] = field(default_factory=set)  # dates and numbers the question asserts
    proper: set[str] = field(default_factory=set)  # terms the question capitalises mid-sentence


@dataclass
class Candidate:
    passage: Passage
    start: int
    end: int
    text: str
    coverage: float = 0.0
    similarity: float = 0.0  # cosine of the question and this sentence
    matched: set[str] = field(default_factory=set)
    type_ok: bool = True
    score: float = 0.0
    side_only: bool = False  # from a passage fetched only to find the other side of a claim


@dataclass
class Draft:
    """The answerer's output before numbering: sentences with the passages they cite."""

    abstained: bool
    lead: str  # abstain/premise text, or ""
    picked: list[Candidate]
    notes: list[str]
    closest: list[Passage]
    wants_other_side: str = ""  # the best sentence makes a claim and no opposing one was found: that sentence
    connector: str = "They report:"  # between an abstaining lead and the sentences it cites


def analyse(question: str) -> Question:
    q = fold(question).strip()
    ws = words(q)
    first = ws[0] if ws else ""
    kind = "general"
    if re.search(r"\bhow (many|much|long|often|old|far)\b|\bwhat (number|percentage|share|amount)\b|"
                 r"\bnumber of\b|\bwhich \w+ number\b|\bwhat \w+ number\b", q):
        kind = "number"
    elif re.search(r"\bwhen\b|\bwhat (date|day|time|year|month)\b|\bwhich (date|day|year|month)\b|"
                   r"\bsince when\b|\bas of what time\b|\bon what date\b|\bin what year\b|\bwhat day of\b", q):
        kind = "date"
    elif re.search(r"\bwho\b|\bwhom\b|\bwhose\b|\b(what is|what's) the name\b|\bwhich (person|official|spokes\w+|leader|general|commander)\b", q):
        kind = "person"
    elif re.search(r"\bwhere\b|\bwhich (region|city|town|country|place|village|oblast)\b", q):
        kind = "place"
    elif first in {"is", "are", "was", "were", "did", "does", "do", "has", "have", "had", "can", "will",
                   "could", "should", "would"}:
        kind = "yesno"
    head: list[str] = []
    m = re.search(r"\bhow many ([\w' -]+?)(?= (?:did|do|does|were|was|are|is|have|has|had|will|would|could)\b|[?,]|$)", q) \
        or re.search(r"\bnumber of ([\w' -]+?)(?= (?:did|do|does|were|was|are|is|have|has|that|who)\b|[?,]|$)", q) \
        or re.search(r"\b(?:which|what) ((?:\w+ ){0,2}\w+?)(?= (?:did|do|does|were|was|are|is|have|has|had)\b)", q) \
        or re.search(r"\bwhat(?:'s| is| was| are| were) the (\w+)(?: like| of| in| at| for)\b", q)
    if m:
        head = [stem(w) for w in words(m.group(1)) if w not in STOPWORDS and w not in QUESTION_WORDS
                and w not in LIGHT_WORDS and w not in {"number", "many"}]
    terms, surface = [], {}
    for w in ws:
        if w in STOPWORDS or w in QUESTION_WORDS or w in LIGHT_WORDS:
            continue
        t = stem(w)
        if t not in surface:
            surface[t] = w
            terms.append(t)
    presupposes = bool(re.match(r"\s*(why|how come|how did|how was|how were|when did|when was|when were|"
                                r"what made|what caused)\b", q)) or bool(re.search(r"\s[-–—]\s*(how|why|what|when)\b", q))
    values = {v for v in re.findall(r"\b(?:%s) \d{4}\b|\b\d{4}\b" % "|".join(MONTHS[:12]), q)}
    proper = {stem(fold(w)) for w in re.findall(r"(?<=[\w,] )[A-Z][\w'’]+", question)}
    return Question(question, terms, surface, kind, head, presupposes, _stance(q), values, proper)


def _stance(text: str) -> set[str]:
    ts = {stem(w) for w in words(text)}
    out = set()
    if ts & NEGATE or "nothing more than" in fold(text):
        out.add("negate")
    if ts & END:
        out.add("end")
    if ts & CONTINUE:
        out.add("continue")
    return out


class TermMatcher:
    """Exact, prefix and word-vector matches of question terms against a text's words."""

    def __init__(self, vectors, calibration: Calibration, proper: frozenset[str] = frozenset()):
        self.vectors = vectors  # a WordVectors, or None for exact matching only
        self.cal = calibration
        self.proper = proper

    def match(self, q: Question, text_words: list[str]) -> dict[str, float]:
        """Credit in [0, 1] for each question term found in the words.

        Names (terms written capitalised in the corpus or the question) match only exactly or by
        prefix: "Ukrainian" is close to "Russian" as a vector, but never the same claim.
        """
        stems = {stem(w): w for w in text_words if w not in STOPWORDS}
        credit: dict[str, float] = {}
        unresolved = []
        for t in q.terms:
            if t in stems or any(_prefix_match(t, s) for s in stems):
                credit[t] = 1.0
            else:
                unresolved.append(t)
        if unresolved and self.vectors is not None and stems:
            cands = [w for w in stems.values() if not w[0].isdigit()]
            self.vectors.ensure([q.surface[t] for t in unresolved] + cands)
            if cands:
                mat = np.stack([self.vectors[w] for w in cands])
                for t in unresolved:
                    if t in self.proper or t in q.proper:
                        continue
                    best = float((mat @ self.vectors[q.surface[t]]).max())
                    if best >= self.cal.soft_match:
                        credit[t] = best
        return credit


def _prefix_match(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return n >= 5 and a[:n] == b[:n] and abs(len(a) - len(b)) <= 4


def _type_ok(q: Question, sentence: str) -> bool:
    ws = words(sentence)
    low = fold(sentence)
    if q.kind == "number":
        return any(w[0].isdigit() or w in NUMBER_WORDS for w in ws)
    if q.kind == "date":
        return bool(re.search(r"\b(%s)\b|\b(1[89]|20)\d{2}\b|\b\d{1,2}:\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|"
                              r"\b(yesterday|today|tonight|last (year|month|week)|this (year|month|week)|summer|"
                              r"winter|spring|autumn)\b" % "|".join(MONTHS + WEEKDAYS), low))
    if q.kind == "person":
        return bool(re.search(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)+\b", sentence)) or bool(set(ws) & ROLE_WORDS)
    if q.kind == "place":
        return bool(re.search(r"(?<!^)\b[A-Z][a-z]{2,}", sentence.strip()))
    return True


def extract(question: str, passages: list[Passage], corpus: Corpus, word_vectors, q_vec: np.ndarray | None,
            cal: Calibration | None = None, sentence_vectors=None, side_passages: list[Passage] = ()) -> Draft:
    """Choose the answer sentences from the retrieved passages, or decide to abstain. Sentences of
    `side_passages` (none of them among `passages`) may only serve as the other side of a disagreement."""
    cal = cal or Calibration()
    q = analyse(question)
    closest = passages[:3]
    if not passages:
        return Draft(True, ABSTAIN_TEXT, [], ["nothing is indexed that matches the filters"], [])
    matcher = TermMatcher(word_vectors, cal, corpus.proper)
    weights = {t: corpus.term_idf(t) for t in q.terms}
    total = sum(weights.values()) or 1.0
    cands: list[Candidate] = []
    spans: list[tuple[Passage, int, int, str]] = []
    credits: dict[str, dict[str, float]] = {}
    side_ids = {p.id for p in side_passages}
    for p in list(passages) + list(side_passages):
        # The paragraph's context includes its article's outlet and title and what kind of text it is.
        context = " ".join((p.text, p.outlet, p.title, KIND_WORDS.get(p.kind, "")))
        credits[p.id] = matcher.match(q, words(context))
        for s, e in split_spans(p.text):
            text = p.text[s:e]
            if len(words(text)) < 2:
                continue
            spans.append((p, s, e, text))
    if sentence_vectors is not None and q_vec is not None and spans:
        sentence_vectors.ensure([t for *_, t in spans])
    for p, s, e, text in spans:
        p_credit = credits[p.id]
        s_words = words(text)
        sim = float(sentence_vectors[text] @ q_vec) if sentence_vectors is not None and q_vec is not None else p.dense
        credit = matcher.match(q, s_words)
        # The sentence's own words count fully, its paragraph's words at half weight.
        cov = sum(weights[t] * max(credit.get(t, 0.0), 0.5 * p_credit.get(t, 0.0)) for t in q.terms) / total
        c = Candidate(p, p.start + s, p.start + e, text, coverage=cov, matched=set(credit), side_only=p.id in side_ids)
        c.type_ok = _type_check(q, text, s_words, matcher, cal)
        kind_penalty = 0.85 if p.kind in ("caption", "meta", "heading") else 1.0
        c.similarity = sim
        c.score = (cal.w_coverage * cov + cal.w_sentence * max(sim, 0.0) + cal.w_passage * max(p.dense, 0.0)) \
            * kind_penalty + (0.1 if c.type_ok else 0.0)
        cands.append(c)
    cands.sort(key=lambda c: -c.score)
    side_typed = [c for c in cands if c.type_ok]  # side-only passages may supply only the other side
    cands = [c for c in cands if not c.side_only]
    if not cands:
        return Draft(True, ABSTAIN_TEXT, [], ["no sentence in the retrieved passages"], closest)
    typed = [c for c in cands if c.type_ok]
    best = typed[0] if typed else cands[0]
    notes: list[str] = []
    if best.passage.dense < cal.min_dense and best.coverage < 0.9:
        return Draft(True, ABSTAIN_TEXT, [], ["the closest passages are off topic"], closest)
    if best.coverage < cal.min_coverage:
        missing = [q.surface[t] for t in q.terms if t not in best.matched]
        notes.append("the closest passages do not mention: " + ", ".join(missing[:5]))
        if q.presupposes and best.coverage >= cal.side_coverage:
            # "Why did X refuse to …?": the articles don't say so, but what they do report on X is what
            # the asker needs to see, cited, and the question stays unanswered.
            return Draft(True, ABSTAIN_TEXT, [best], notes, closest, connector="The closest they report:")
        return Draft(True, ABSTAIN_TEXT, [], notes, closest)
    if not typed:
        notes.append(f"no retrieved sentence gives the kind of answer asked for ({q.kind})")
        return Draft(True, ABSTAIN_TEXT, [], notes, closest)
    picked = [best]
    eligible = [c for c in typed[1:] if c.coverage >= cal.min_coverage * 0.8]
    # The other side of a disagreement: the best sentence from another speaker whose claim opposes the
    # best one's, even when it scores lower (a claim and its denial rarely share all their words).
    best_claim, best_speaker = _claim(best.text), speaker(best.text)
    other = next((c for c in side_typed if c is not best and c.coverage >= cal.side_coverage
                  and _opposed(best_claim, _claim(c.text)) and not best_speaker & speaker(c.text)
                  and c.score >= cal.side_ratio * best.score and _overlap(c.text, best.text) <= 0.6), None)
    if other:
        picked.append(other)
    wants = best.text if not other and best_claim else ""
    for c in eligible:
        if len(picked) >= cal.max_sentences:
            break
        if c in picked or c.score < cal.companion_ratio * best.score:
            continue
        if any(_overlap(c.text, p.text) > 0.6 for p in picked):
            continue
        if all(c.passage.doc != p.passage.doc for p in picked) or (q.kind == "general" and not other):
            picked.append(c)
    if _premise_contradicted(q, picked):
        notes.append("the question's premise is contradicted by the articles")
        return Draft(True, PREMISE_TEXT, picked, notes, closest)
    return Draft(False, "", picked, notes, closest, wants_other_side=wants)


def _type_check(q: Question, text: str, s_words: list[str], matcher: TermMatcher, cal: Calibration) -> bool:
    if q.kind != "number" or not q.head:
        noun = q.head[-1:] if q.kind != "date" else []
        if noun and noun[0] not in matcher.match(_about(q, noun), s_words):
            return False  # "what was the weather like": a sentence that never names the weather is no answer
        return _type_ok(q, text)
    idx = [i for i, w in enumerate(s_words) if w[0].isdigit() or w in NUMBER_WORDS or re.fullmatch(r"\d+(st|nd|rd|th)", w)]
    if not idx:
        return False
    # Each counted word must be matched (exactly or by a synonym) by a word near some number.
    hq = _about(q, q.head)
    for i in idx:
        window = s_words[max(0, i - cal.number_window): i + cal.number_window + 1]
        got = matcher.match(hq, window)
        if all(h in got for h in q.head):
            return True
    return False


def _about(q: Question, terms: list[str]) -> Question:
    """The question narrowed to some of its terms, for matching just those."""
    return Question(q.text, terms, {t: q.surface.get(t, t) for t in terms}, q.kind)


REPORTING = re.compile(r"\b(said|says|say|claimed|claims|claim|reported|reports|denied|denies|refuted|refutes|"
                       r"rejected|rejects|dismissed|dismisses|added|stated|announced|alleged|praised|"
                       r"congratulated|according to)\b", re.I)


def speaker(text: str) -> set[str]:
    """Who a sentence attributes its claim to: the words just before its first reporting verb
    ("Putin claimed …", "… the statement said" → the subject before), or after "according to"."""
    m = REPORTING.search(text)
    if not m:
        return set()
    if m.group(1).lower() == "according to":
        span = text[m.end(): m.end() + 40].split(",")[0]
    else:
        span = " ".join(re.split(r"[,;:]", text[: m.start()])[-1].split()[-4:])
    return {t for t in content_terms(span) if t not in {"statement", "report"}}


def _claim(text: str) -> str | None:
    """What a sentence asserts about the state of things: "end" or "continue", from its first such word,
    flipped when the sentence denies something ("refuted claims about the end", "statements about the
    'defeat' … are nothing more than propaganda" both assert it continues); "negate" for a bare denial;
    None when it asserts neither."""
    ws = words(text)
    negated = "nothing more than" in fold(text) or any(w in NEGATE or stem(w) in NEGATE for w in ws)
    first = next((("end" if stem(w) in END else "continue") for w in ws if stem(w) in END or stem(w) in CONTINUE),
                 None)
    if first:
        return {"end": "continue", "continue": "end"}[first] if negated else first
    return "negate" if negated else None


def _opposed(a: str | None, b: str | None) -> bool:
    """Two claims that cannot both hold: something ended vs continues, or a denial vs an assertion."""
    return bool(a and b and a != b)


def _premise_contradicted(q: Question, picked: list[Candidate]) -> bool:
    if not q.presupposes or not picked:
        return False
    evidence = " ".join(c.text for c in picked[:2])
    e = _stance(evidence)
    if ("negate" in q.stance) != ("negate" in e):
        return True
    if "end" in q.stance and "continue" in e and "end" not in e:
        return True
    if "continue" in q.stance and "end" in e and "continue" not in e:
        return True
    # A date or number the question asserts, where the evidence gives another one.
    if q.values:
        ev_values = set(re.findall(r"\b\d{4}\b", evidence)) | {m for m in MONTHS[:12] if m in fold(evidence)}
        q_parts = {p for v in q.values for p in v.split()}
        if ev_values and not q_parts & ev_values:
            return True
    return False


def _overlap(a: str, b: str) -> float:
    wa, wb = set(content_terms(a)), set(content_terms(b))
    return len(wa & wb) / min(len(wa), len(wb)) if wa and wb else 0.0


def source_label(p: Passage) -> str:
    """How an answer names a source when it attributes: the outlet, else the article's id."""
    if p.outlet:
        return p.outlet
    return f"the report {p.doc}"


def compose(draft: Draft) -> tuple[str, list[Sentence], list[Source]]:
    """Number the cited passages in order of first use and write the answer with [n] markers."""
    sources: list[Source] = []
    numbers: dict[tuple[str, int, int], int] = {}

    def cite(c: Candidate) -> int:
        key = (c.passage.doc, c.passage.start, c.passage.end)
        if key not in numbers:
            numbers[key] = len(sources) + 1
            p = c.passage
            sources.append(Source(n=numbers[key], doc=p.doc, title=p.title, outlet=p.outlet, date=p.date,
                                  text=p.text, start=p.start, end=p.end, url=p.url, chunk_id=p.id,
                                  kind=p.kind))
        return numbers[key]

    sentences: list[Sentence] = []
    attribute = len({c.passage.doc for c in draft.picked}) > 1
    for c in draft.picked:
        n = cite(c)
        body = _attributed(c) if attribute else c.text
        sentences.append(Sentence(text=_as_sentence(body), citations=[n], supported=True))
    parts = [draft.lead] if draft.lead else []
    if draft.lead and sentences:
        parts.append(draft.connector)
    parts.extend(f"{_end_marker(s.text, s.citations)}" for s in sentences)
    return " ".join(parts), sentences, sources


def _attributed(c: Candidate) -> str:
    text = c.text
    if re.match(r"according to\b", text, re.I):
        return f"{source_label(c.passage)} reports that {text[0].lower()}{text[1:]}"
    first = text.split(" ", 1)[0]
    if first.lower() in STOPWORDS or first.lower() in {"the", "a", "an", "since", "in", "on", "as"}:
        text = text[0].lower() + text[1:]
    return f"According to {source_label(c.passage)}, {text}"


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if re.search(r"[.!?…][\"'”’»)\]]*$", text) else text + "."


def _end_marker(text: str, cites: list[int]) -> str:
    """Put the markers before the final punctuation: "… in Kursk [1]."."""
    marks = "".join(f"[{n}]" for n in cites)
    if re.search(r"[\"'”’»)\]]$", text):  # never inside a closing quote
        return f"{text} {marks}"
    m = re.search(r"([.!?…])$", text)
    if m:
        return f"{text[: m.start()]} {marks}{m.group(1)}"
    return f"{text} {marks}"


def check_support(sentences: list[Sentence], sources: list[Source]) -> None:
    """Mark each sentence supported or not by its cited sources, with the shared rule."""
    by_n = {s.n: Evidence(s.text, f"{s.outlet} {s.title} {s.doc}") for s in sources}
    for s in sentences:
        s.supported = supports(s.text, [by_n[c] for c in s.citations if c in by_n])
