"""What a question asks for and what a sentence holds, in general English: question words and the kind of
answer they want (a quantity, a date, a person, a place), the shapes of names, numbers, amounts and dates,
and reporting verbs. No corpus's vocabulary is written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..text import NEGATIONS, QUESTION_WORDS, STOPWORDS, english_word, fold, stem, words

QTYPES = ("quantity", "date", "person", "place", "which", "yesno", "other")
MONTHS = ("January February March April May June July August September October November December "
          "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec").split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
DATE_WORDS = frozenset(w.lower() for w in MONTHS + WEEKDAYS)  # capitalised, but dates rather than names
NUMBER_WORDS = frozenset("""one two three four five six seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
thousand million billion trillion dozen dozens hundreds thousands millions billions half""".split())
AUXILIARIES = frozenset("is are was were did does do has have had can will could should would may might".split())
# Adverbs that only stress a yes/no question ("Did Russia really take back Kursk?"): not part of the claim.
INTENSIFIERS = frozenset("really actually truly indeed".split())
# Words for places as a kind of thing, so "which country/city" asks for a place (general geography).
PLACE_NOUNS = frozenset("country countries city cities state states nation town region province county continent "
                        "capital island village place location".split())
PERSON_NOUNS = frozenset("person people man woman player actor actress singer author leader president ceo "
                         "founder director coach star politician official".split())
# Nouns for an amount of something (general English: money, people, size, score): "what's the hourly wage",
# "what is the town's population" ask for a quantity as "how much" does.
QUANTITY_NOUNS = frozenset("""number percentage percent share amount proportion price total cost value figure count
wage wages salary pay fee fees fare fares rent budget fine bill population capacity attendance turnout rate score
age distance height length depth width size weight speed temperature deficit debt profit revenue income sum tally
toll margin majority""".split())
# Nouns that name the kind of answer wanted ("what day of the week", "in what year", "which country's soldiers",
# "what is the name of"): the answer ("Saturday", "2022", "North Korea") stands in for them, so the answering
# sentence seldom holds them.
ANSWER_KIND_NOUNS = PLACE_NOUNS | PERSON_NOUNS | frozenset(
    "day days week weeks month months year years date time decade century name names number amount percentage "
    "percent share total figure price cost kind type".split()) | QUANTITY_NOUNS
# The adjectives and adverbs "how" asks a measure with ("how long", "how often"): a quantity question.
HOW_MEASURES = ("long", "often", "old", "far", "big", "large", "high", "wide", "deep", "tall", "heavy", "fast", "hot",
                "cold", "small")
REPORTING = re.compile(r"\b(said|says|say|claimed|claims|claim|reported|reports|denied|denies|announced|"
                       r"stated|told|according to|alleged|insisted|confirmed|argued)\b", re.I)
# Explicit causal connectives (the Penn Discourse Treebank 2.0's Contingency.Cause connectives, with their common
# forms): a sentence that gives a reason, which is what a "why" question asks for even in other words than its own.
# "since" only as "because": not "since the summer", "since 2021", "since March", "since then" (temporal)
CAUSAL = re.compile(r"\b(because|since(?!\s+(?:the|then|early|late|mid|last|records|%s|\d+)\b)|as a result|so that|"
                    r"therefore|thus|hence|consequently|due to|owing to|in order to|thanks to|the reason|reasons?\b|"
                    r"caused by|led to|prompted|blamed)\b" % "|".join(MONTHS + WEEKDAYS), re.I)
# A reason as news gives it: a causal connective, or the temporal ones that news uses for cause (PDTB 2.0 marks
# "after", "following" and "in response to" as Temporal, often also Contingency: "shut in 2021 after the roof
# collapsed", "cancelled following a drought warning", "closed amid falling numbers").
REASON = re.compile(CAUSAL.pattern[:-3] + r"|after|following|amid|in response to|in protest)\b", re.I)
_CAP = re.compile(r"[^\W\d_][\w'’.&-]*")
YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)s?\b")
_NUM = re.compile(r"(?<![\w.])[$€£¥]?\d[\d,.]*(?:\s?(?:%|percent|per cent|million|billion|trillion|bn|m|k))?")
_MONEY = re.compile(r"[$€£¥]\s?\d[\d,.]*(?:\s?(?:million|billion|trillion|bn|m|k)\b)?|"
                    r"(?<![\d.])\d[\d,.]*\s?(?:million |billion |trillion )?(?:dollars|euros|pounds|yen|yuan|rupees)\b|"
                    r"(?<![\d.])\d[\d,.]*\s?(?:million|billion|trillion)\b", re.I)
_PERCENT = re.compile(r"(?<![\d.])\d[\d,.]*\s?(?:%|percent\b|per cent\b)", re.I)
_DATE = re.compile(r"\b(?:%s)\b|\b(?:%s)\b|\b(1[89]\d\d|20\d\d)s?\b|['’‘]\d0s\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|"
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
    asks_reason: bool = False  # "Why did …?", "How come …", "What made …": its premise must be in the passages
    quoted: list[str] = field(default_factory=list)  # phrases the question quotes ("had “completely failed”"), folded
    # A question typed all in lower case ("what did zelensky say"): the stems of its words that are no English
    # word (`text.english_word`), which are its names as far as anyone can tell
    rare: set[str] = field(default_factory=set)
    # the stems of the words of its wh-phrase that name the kind of answer ("what day of the week" -> day, week)
    asks_for: set[str] = field(default_factory=set)
    money: bool = False  # asks for an amount of money (`MONEY_QUESTION`): "what did the telescope cost"
    units: tuple[str, ...] = ()  # "how far/long/fast …": the units its answer is given in (`measure_units`)
    leader: bool = False  # asks who heads something (`LEADER_QUESTION`): "who runs Tulliver's Bakery"


def analyse_question(question: str) -> QuestionInfo:
    q = fold(question).strip()
    ws = words(q)
    first = ws[0] if ws else ""
    qtype = "other"
    if first in AUXILIARIES:
        qtype = "yesno"  # "Is it true that …", "Did Ukraine capture Moscow?", whatever words follow
    elif (re.search(r"\bhow (many|much|%s)\b|\bnumber of\b" % "|".join(HOW_MEASURES), q)
          or _QUANTITY_HEAD.search(q) or _WHAT_COST.search(q)):
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
        if w in STOPWORDS or w in QUESTION_WORDS or w in AUXILIARIES or w in INTENSIFIERS:
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
    return QuestionInfo(question, qtype, terms, surface, names, set(YEAR.findall(question)),
                        {n.replace(",", "") for n in re.findall(r"\d[\d,.]*", question)},
                        main_clause_negated(ws), presupposes, head,
                        bool(_REASON_QUESTION.match(q)),
                        quoted_phrases(q), casual_names(question, terms, surface), answer_kind_words(q),
                        bool(MONEY_QUESTION.search(question)), tuple(measure_units(question)),
                        bool(LEADER_QUESTION.search(q)))


# "what is the cost", "what's the starting hourly wage", "what will the fare be": up to two words before the noun
_QUANTITY_HEAD = re.compile(r"\bwhat(?:'s|’s| s| is| was| are| were| will be| would be| will| would| did| does| do)?\s+(?:the\s+)?(?:[\w'’-]+\s+){0,2}?"
                            r"(%s)\b" % "|".join(sorted(QUANTITY_NOUNS)))


# "Why …", "How come …", "What made …", "What's the point of …", "For what reason …": a reason is asked for.
_REASON_QUESTION = re.compile(r"\s*(why|how come|what made|what caused|for what reason|what(?:'s|’s| s| is| was) the "
                              r"(?:point|purpose|reason|aim|idea)\b)\b")
# Leadership roles as news names them (general English job titles).
_ROLES = ("chief executive|chief exec|ceo|managing director|director|chair|chairman|chairwoman|chairperson|president|"
          "head|leader|boss|manager|owner|founder|principal|headteacher|head teacher|governor|proprietor|chief|"
          "captain|editor|general manager")
LEADER_ROLES = re.compile(r"\b(%s)\b" % _ROLES, re.I)
# "Who runs X", "who's the boss of", "who is in charge at", "who heads", "who is the principal of", "who is the trust
# boss": a question for the person at the head of something, whom news names by a leadership role ("Its managing
# director, Winifred Tulliver, …").
LEADER_QUESTION = re.compile(r"\bwho(?:'s|’s| s| is| was)?\s+(?:(?:now|currently)\s+)?(?:runs?|ran|heads?|leads?|owns?|"
                             r"manages?|chairs?|in charge|the (?:[\w'’-]+\s+)?(?:%s))\b" % _ROLES)


_LEADING = re.compile(r"runs?|ran|heads?|leads?|owns?|manages?|chairs?|charge")


# "what did the telescope cost", "what will the stadium cost to build": a price asked with "what … cost"
_WHAT_COST = re.compile(r"\bwhat (?:did|does|do|will|would|could|is|was) [^?]{1,80}?\b(?:cost|costs|fetch|earn|weigh)\b")


# Words that open a subordinate or relative clause: a negation after one is part of the claim's content ("did they
# dump sewage when it hadn't rained"), not the question's polarity ("didn't they dump sewage?").
_SUBORDINATORS = frozenset("when whenever if because although though while since after before until unless that "
                           "who whom which where even once".split())


def main_clause_negated(ws: list[str]) -> bool:
    """The question negates its main clause ("Didn't Russia retake Kursk?", "Is it not true that …"): a negation
    before any subordinating or relative word."""
    for w in ws:
        if w in _SUBORDINATORS:
            return False
        if w in NEGATIONS:
            return True
    return False


def answer_kind_words(folded: str) -> set[str]:
    """The stems of the answer-kind nouns (`ANSWER_KIND_NOUNS`) in the question's wh-phrase: the words right after
    what/which/how many, or the "of the week" that follows them ("what day of the week", "in what year", "which
    country's soldiers", "what is the name of the")."""
    found: set[str] = set()
    # "how long", "how often", "how far": the measure word is the question's, the answer ("three weeks", "every
    # ten minutes", "3.2 km") stands in for it
    found.update(stem(m.group(1)) for m in re.finditer(r"\bhow (%s)\b" % "|".join(HOW_MEASURES), folded))
    found.update(stem(m.group(1)) for m in _QUANTITY_HEAD.finditer(folded))
    # "who runs", "who's the boss of", "who is in charge at": the role stands in for the asked words
    found.update(stem(w) for m in LEADER_QUESTION.finditer(folded) for w in words(m.group())
                 if LEADER_ROLES.fullmatch(w) or _LEADING.fullmatch(w))
    for m in re.finditer(r"\b(?:what|which|how many|how much)\s+((?:(?:is|was|are|were|the|a|an|of|foreign|new|"
                         r"other)\s+)*[\w'-]+(?:\s+of\s+the\s+[\w'-]+)?)", folded):
        for w in words(m.group(1)):
            if w in ANSWER_KIND_NOUNS:
                found.add(stem(w))
    return found


def casual_names(question: str, terms: list[str], surface: dict[str, str]) -> set[str]:
    """For a question typed without any capital letter (so without its names capitalised), the stems of its
    content words that are no English word; none for a question that capitalises."""
    if any(ch.isupper() for ch in question):
        return set()
    return {t for t in terms if surface[t].isalpha() and not english_word(surface[t])}


def quoted_phrases(folded: str) -> list[str]:
    """The phrases of two or more words a (folded) question puts in double quotes: words someone is reported
    to have used, which the answering sentence repeats."""
    return [" ".join(words(m)) for m in re.findall(r'"([^"]+)"', folded) if len(words(m)) >= 2]


def quotes_phrase(q: QuestionInfo, text: str) -> bool:
    """The sentence holds one of the question's quoted phrases, word for word."""
    have = f" {' '.join(words(text))} "
    return any(f" {p} " in have for p in q.quoted)

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


def new_names(q: QuestionInfo, spans: dict[str, list[str]]) -> list[str]:
    """The names a sentence states (its `answer_spans`) that the question does not: candidate answers
    to who/which/where."""
    qset = set(q.terms) | q.names
    return [n for n in spans["name"] if not all(stem(fold(x)) in qset for x in n.split())]


def share(wanted: set[str], have: set[str]) -> float:
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


# The units a "how far/high/long/old …" question is answered in (SI and imperial units as news writes them): the
# figure asked is the one they follow ("rose 4.2 metres in less than six hours" answers "how far" with 4.2).
_LENGTH = "metres meters metre meter m km kilometres kilometers miles mile feet foot ft inches inch cm mm yards".split()
_TIME = "seconds minutes hours days weeks months years decades centuries".split()
MEASURE_UNITS = {
    "far": _LENGTH, "high": _LENGTH, "deep": _LENGTH, "tall": _LENGTH, "wide": _LENGTH, "long": _LENGTH + _TIME,
    "old": "years months weeks days".split(), "often": "minutes hours days weeks months years times".split(),
    "heavy": "kg kilograms tonnes tons pounds lb grams".split(),
    "fast": "mph km/h kmh knots miles kilometres kilometers hour".split(),
    "hot": "degrees c f".split(), "cold": "degrees c f".split(),
}


# A question about money ("how much did it cost", "what's the hourly wage", "how much is X spending", "how big was
# the fine"): its answer is an amount of money (or a share of one: "by how much did profits rise"). General English
# words for paying, costing and being paid.
MONEY_QUESTION = re.compile(r"\b(cost|costs|costing|spend|spends|spending|spent|pay|paid|paying|pays|price|priced|"
                            r"fund|funding|invest|invests|invested|investing|investment|worth|sold for|sell for|"
                            r"fine|fined|fee|fees|fare|fares|budget|salary|wage|wages|money|afford|charge|charged|"
                            r"charges|grant|compensation|profit|profits|revenue|turnover|income|deficit|debt|"
                            r"debts|loss|losses|prize|bill|rent|subsidy|subsidise|subsidize)\b", re.I)


def measure_units(question: str) -> list[str]:
    """For "how far/high/long/old/fast …", the units its answer is given in (`MEASURE_UNITS`); else none."""
    m = re.search(r"\bhow (%s)\b" % "|".join(MEASURE_UNITS), question, re.I)
    return MEASURE_UNITS[m.group(1).lower()] if m else []


def counted_words(question: str) -> set[str]:
    """What a how-many/how-much question counts: the words after "how many", "how much" or "number of"; for "how
    far/high/long/old …", the units its answer is given in (`MEASURE_UNITS`)."""
    units = measure_units(question)
    if units:
        return set(units)
    m = re.search(r"\b(?:how (?:many|much)|number of|amount of)\s+((?:[\w'-]+\s*){1,3})", question, re.I)
    out: set[str] = set()
    for w in words(m.group(1)) if m else []:
        if w in STOPWORDS:  # "how many North Korean troops were …": up to the verb
            break
        out.add(w)
    return out
