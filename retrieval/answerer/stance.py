"""Who claims what: whether a sentence states a yes/no question's claim or denies it, who says so, and whether two
figures are the same quantity written differently.

General English only. The refuting words are the Fake News Challenge (FNC-1, 2017) baseline's list
(`_refuting_words` in its features.py: fake, fraud, hoax, false, deny, denies, not, despite, nope, doubt,
doubts, bogus, debunk, pranks, retract; all but "despite", which concedes rather than refutes), with the inflections of the denial verbs this project's issue names
(deny, refute, reject, dismiss, dispute, contradict, rebut) and the negations of retrieval/text.py. Number
words are read by the `text2num` package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..text import NEGATIONS, STOPWORDS, fold, inflected_in, odd_quotes, words
from .question import REPORTING, QuestionInfo, answer_spans

# "despite" is left out of FNC-1's list: it concedes rather than refutes ("the operation continues despite
# challenges" affirms that it continues).
FNC1_REFUTING = frozenset("fake fraud hoax false deny denies not nope doubt doubts bogus debunk pranks retract".split())
DENIAL_VERBS = frozenset("deny denies denied denying denial refute refutes refuted refuting reject rejects rejected "
                         "rejecting dismiss dismisses dismissed dismissing dispute disputes disputed disputing "
                         "contradict contradicts contradicted rebut rebuts rebutted untrue baseless debunked "
                         "doubted retracted".split())
DENIAL = FNC1_REFUTING | DENIAL_VERBS | NEGATIONS
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9,
           "trillion": 1e12}
_SCALED = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(thousand|million|billion|trillion|bn|mn|m|k)\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


_DETERMINERS = frozenset("the a an this that these those its their his her our".split())


def denial_verb(text: str) -> bool:
    """The sentence uses a denial verb as a verb: "the union denied …", not "the dispute comes as …" (after a
    determiner the word is a noun, naming some dispute rather than disputing anything)."""
    return bool(_denial_verbs_at(words(text)))


def _denial_verbs_at(ws: list[str]) -> list[int]:
    """Where the words hold a denial verb used as a verb (not after a determiner)."""
    return [i for i, w in enumerate(ws) if w in DENIAL_VERBS and (i == 0 or ws[i - 1] not in _DETERMINERS)]


# Where one clause of a sentence ends and the next begins: "…, and has dismissed …", "…; …", "… but …".
_CLAUSE = re.compile(r",\s*(?:and|but|while)\b|;|\s(?:but|while|whereas)\s", re.I)
_PLAIN_NEGATIONS = NEGATIONS - DENIAL_VERBS
# Adverbial subordinators (concessive, temporal, causal, conditional): the clause they open is background
_ADVERBIAL = re.compile(r"\b(?:even though|even if|although|though|when|whenever|while|because|since|after|before|"
                        r"if|unless|until|once)\b", re.I)


def denies(text: str) -> bool:
    """The sentence denies, refutes or negates what it reports. "Not only … but" adds rather than negates, and
    "No. 26" is a number. A clause that disputes a negation affirms ("the union disputed the company's assurance
    that no jobs will go" says jobs will go): a denial verb followed by a negation in its clause cancel out."""
    for clause in _CLAUSE.split(text):
        # "… claimed the overflow discharged even though no rain had fallen": a negation in an adverbial clause is
        # the circumstance of what is reported, not its denial
        clause = _ADVERBIAL.split(clause, maxsplit=1)[0]
        ws = words(clause)
        cues = [i for i, w in enumerate(ws) if w in DENIAL
                and not (w == "not" and i + 1 < len(ws) and ws[i + 1] in ("only", "just"))
                and not (w == "no" and i + 1 < len(ws) and ws[i + 1][:1].isdigit())]  # "No. 26": a number
        verbs = _denial_verbs_at(ws)
        if verbs and any(i > verbs[0] and ws[i] in _PLAIN_NEGATIONS for i in cues):
            continue  # denying a denial
        if cues:
            return True
    return False


def stance(q: QuestionInfo, text: str) -> str:
    """`claim` when the sentence affirms the question's claim, `denial` when it denies or negates it (a negated
    question flips the reading)."""
    return "denial" if denies(text) != q.negated else "claim"


@dataclass
class Speaker:
    name: str  # who the sentence says is speaking, or "" when it names nobody
    verb: str = ""
    by_pronoun: bool = False  # named by the sentence before, for this one's "he"/"she"


_LEAD = re.compile(r"^(?:according to\s+)(?P<who>[^,]+),", re.I)
# The verbs a speaker reports or denies with: the reporting verbs, and the denial verbs used as verbs ("The General
# Staff of Ukraine has dismissed …" names its speaker as "… said" does).
_SPEAKING = re.compile(REPORTING.pattern[:-3] + "|denied|denies|refuted|refutes|rejected|rejects|dismissed|dismisses|"
                       r"disputed|contradicted|contradicts|rebutted|rebuts)\b", re.I)
# Capitalised words that open a sentence without naming anyone.
_NOT_A_SUBJECT = frozenset(("The", "A", "An", "In", "On", "It"))
_AUXILIARY = re.compile(r"\s+(?:has|have|had|was|were|is|are|also|has also|had also)\s*$", re.I)


# The personal pronouns a quote is attributed with ("…," she said): the speaker is named in an earlier sentence.
PRONOUNS = frozenset("he she".split())
# The verbs a quotation is attributed with, after its closing quote ('"…," she said', '"…," said the mayor').
_QUOTE_VERBS = ("said", "says", "added", "adds", "explained", "continued", "told", "warned", "insisted")
_PRONOUN_SAID = re.compile(r"\b(he|she)(\s+(?:%s)\b)" % "|".join(_QUOTE_VERBS), re.I)


def speaker(text: str, prev: str = "") -> Speaker:
    """The speaker a sentence names for what it reports: "According to X, …", or the name before its first
    reporting verb ("Ukraine's General Staff denied …", "Putin said …"); "" when it names nobody. A quote
    attributed with "he"/"she" ("…," she said) is the speaker the sentence before it (`prev`, in the same
    passage) names, when it names one (`by_pronoun`); else nobody."""
    found = _speaker(text)
    if found.name.lower() not in PRONOUNS:
        return found
    named = _antecedent(prev) if prev else ""
    return Speaker(named, found.verb, by_pronoun=True) if named else Speaker("")


def _antecedent(prev: str) -> str:
    """The person a sentence names for "he"/"she" in the next one: its speaker, else its first name; nobody when
    it is the opening of the same quotation ('"For 160 years this was where Mossbury met.' names a place, and the
    speaker was named before it)."""
    if _opens_quote(prev):
        return ""
    who = _speaker(prev).name
    if who and who.lower() not in PRONOUNS and who[:1].isupper():
        return who
    names = answer_spans(prev)["name"]
    return names[0] if names else ""


def _opens_quote(text: str) -> bool:
    """The sentence opens a quotation it does not close."""
    return odd_quotes(text) and text.lstrip()[:1] in '"“'


def named_speaker(text: str, prev: str = "") -> tuple[str, str]:
    """The sentence's speaker (`speaker`) and the sentence as an answer quotes it: a quote attributed with
    "he"/"she" gets the name of the speaker the sentence before it names ('"…," Lorcan Mabey said.'), which the
    reader needs when the sentence stands alone; "" and the sentence as it is when nobody is named."""
    who = speaker(text, prev)
    if not who.by_pronoun:
        return who.name, text
    return who.name, _PRONOUN_SAID.sub(lambda m: who.name + m.group(2), text, count=1)


# A quotation's attribution after its closing quote: '"…," she said', '"…," said the mayor', '"…," Smith added.'
_QUOTE_SAID = re.compile(r"[,!?…]\s*[\"”’']\s+(?:(?P<verb1>%s)\s+(?P<who1>[^,.;:]+?)|(?P<who2>[^,.;:\"”]+?)\s+"
                         r"(?:has\s+|had\s+)?(?P<verb2>%s))\s*(?:[,.;:]|$)"
                         % (("|".join(_QUOTE_VERBS + ("claimed", "argued")),) * 2), re.I)


def _speaker(text: str) -> Speaker:
    quoted = _QUOTE_SAID.search(text) if text.lstrip()[:1] in "\"“‘'" else None
    if quoted:
        # the quote's own words may hold a reporting verb ("The voters have told …"): its speaker is after it
        who = (quoted.group("who1") or quoted.group("who2") or "").strip()
        if 0 < len(who.split()) <= 6:
            return Speaker(who, quoted.group("verb1") or quoted.group("verb2"))
    m = _LEAD.match(text.strip())
    if m:
        return Speaker(m.group("who").strip(), "according to")
    verb = _SPEAKING.search(text)
    if not verb:
        return Speaker("")
    # "Opposition councillor Rupert Vane has rejected …": the auxiliary is not part of the subject
    before = _AUXILIARY.sub("", text[: verb.start()])
    # "The General Staff of the Ukrainian Armed Forces denied …": the capitalised subject right before the verb
    subject = re.search(r"[A-Z][\w'’.-]*(?:\s+(?:of|the|for|and|[A-Z][\w'’.-]*))*\s*$", before)
    if subject and subject.group(0).strip() not in _NOT_A_SUBJECT:
        return Speaker(subject.group(0).strip(), verb.group(0))
    # "…, organisers said": a name or plain subject right before the verb (within three words), never a name
    # earlier in the sentence ("held in Vienna next spring, organisers said" is not Vienna speaking)
    pieces = re.split(r"[,;:()—–]", before)
    tail = pieces[-1].split()
    if not tail and len(pieces) > 2:
        # "Its director, Lorcan Mabey, said …": the name set off by commas right before the verb
        named = answer_spans(pieces[-2])["name"]
        if named and pieces[-2].strip() == named[-1]:
            return Speaker(named[-1], verb.group(0))
        # "Bartholomew Yeardley, chair of the Friends of the River Callow, claimed …": a name, then its role
        named = answer_spans(pieces[-3])["name"] if len(pieces) >= 3 else []
        if named and pieces[-2].strip()[:1].islower() and pieces[-3].strip().endswith(named[-1]):
            return Speaker(named[-1], verb.group(0))
    if tail and tail[-1].lower() == "and":
        # "Putin congratulated military personnel and said …": the speaker is the sentence's own subject
        lead = re.match(r"[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*", text.strip())
        if lead and lead.group(0) not in _NOT_A_SUBJECT | {"But", "And"}:
            return Speaker(lead.group(0), verb.group(0))
    names = answer_spans(" ".join(tail[-4:]))["name"]
    if names:
        return Speaker(names[-1], verb.group(0))
    tail = [w for w in tail if w.strip("\"'“”‘’")]  # '…," she said': "she", not '" she'
    return Speaker(" ".join(tail) if 0 < len(tail) <= 4 else "", verb.group(0))


# What a denial denies: someone's claim, statement or report ("denied Russian President Vladimir Putin's claim",
# "refuted Russian military leadership's claims", "dismissed Russian statements about …").
_DENIED = re.compile(r"\b(?:%s)\s+(?:the\s+)?(?P<who>(?:[\w'’.-]+\s+){0,6}?)(?:claims?|statements?|assertions?|"
                     r"allegations?|reports?|announcements?|accounts?|assurances?|promises?|pledges?|suggestions?|"
                     r"estimates?|figures?)\b" % "|".join(sorted(DENIAL_VERBS)), re.I)


# Titles and ranks name an office, not a party: "President" is every country's.
_TITLES = frozenset("president prime minister chief general gen secretary spokesperson spokesman spokeswoman mr mrs ms "
                    "dr sir lord king queen prince governor mayor senator rep ceo chairman chair director head".split())


def denied_party(text: str) -> set[str]:
    """The capitalised words naming whose claim a denial denies ("denied Russian President Vladimir Putin's
    claim" -> russian, vladimir, putin: titles left out), folded; when none is capitalised, the words that name
    the party ("denied union claims" -> union); empty when the sentence names nobody ("denied the report")."""
    m = _DENIED.search(text)
    if not m:
        return set()
    ws = [fold(w[:-2]) if w.endswith(("'s", "’s")) else fold(w) for w in m.group("who").split()]
    named = {w.strip(".,") for w, raw in zip(ws, m.group("who").split()) if raw[:1].isupper()} - _TITLES
    if named:
        return named
    # "denied union claims", "rejected the company's assurance": the party named by a common noun
    return {w.strip(".,") for w in ws} - _TITLES - STOPWORDS - _DETERMINERS - {""}


def affiliations(texts: Iterable[str]) -> dict[str, set[str]]:
    """What the texts say a name belongs to: for the last word of every name of two or more words, the other
    words the texts put before it ("Russian President Vladimir Putin" -> putin: russian, vladimir), folded, titles
    left out. A sentence that calls him just "Putin" is then known to be a Russian speaker's."""
    out: dict[str, set[str]] = {}
    for text in texts:
        for name in answer_spans(text)["name"]:
            ws = [fold(w[:-2]) if w.endswith(("'s", "’s")) else fold(w) for w in name.split()]
            if len(ws) > 1:
                out.setdefault(ws[-1], set()).update(w for w in ws[:-1] if w not in _TITLES)
    return out


def by_party(party: set[str], text: str, affiliation: dict[str, set[str]] | None = None) -> bool:
    """The sentence's speaker, or its subject before the reporting verb, is named by one of `party`'s words in
    some inflection ("Russian Armed Forces Chief … Gerasimov reported …" for a denial of Russian claims), or is a
    name that `affiliation` (`affiliations()` of the passages) puts in that party ("Putin said …")."""
    who = speaker(text).name
    verb = _SPEAKING.search(text)
    subject = who + " " + (text[: verb.start()] if verb else "")
    vocabulary = set(words(subject))
    for w in words(who):
        vocabulary |= (affiliation or {}).get(w, set())
    return bool(party) and any(inflected_in(w, vocabulary) for w in party)


def figures(text: str) -> list[tuple[float, str]]:
    """The figures a sentence states, as numbers, each with the three words after it: "900", "nine hundred",
    "around 900" and "~900" are all 900; "1.8m", "1.8 million" and "1,800,000" are all 1,800,000."""
    from text_to_num import alpha2digit

    def scaled(m: re.Match[str]) -> str:
        value = float(m.group(1).replace(",", "")) * _SCALES[m.group(2).lower()]
        return f"{value:.0f}" if value.is_integer() else str(value)

    norm = _SCALED.sub(scaled, fold(text))
    try:
        norm = alpha2digit(norm, "en")
    except Exception:  # noqa: BLE001 - a parser failure only loses number words
        pass
    out = []
    for m in _NUMBER.finditer(norm):
        try:
            value = float(m.group(0).replace(",", ""))
        except ValueError:
            continue
        out.append((value, " ".join(words(norm[m.end():])[:3])))
    return out


def quantities(text: str, about: set[str] | None = None) -> set[float]:
    """The figures of `figures(text)`; with `about` (the words a how-many question counts: "people",
    "passengers"), only those followed by one of them in some inflection, when any is ("Forty-one people were
    treated … in less than six hours" is about 41 people, not six)."""
    near = counted_figures(text, about) if about else set()
    return near or {v for v, _ in figures(text)}


def counted_figures(text: str, about: set[str]) -> set[float]:
    """The figures of `figures(text)` followed by one of `about` in some inflection ("1,460 hours" for "how many
    hours"; "41 people" for people)."""
    return {v for v, after in figures(text) if any(inflected_in(a, set(after.split())) for a in about)}


def same_quantity(a: set[float], b: set[float]) -> bool:
    return any(abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1.0) for x in a for y in b)
