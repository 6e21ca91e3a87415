"""Word-level helpers shared by BM25, sentence selection and the support check."""

from __future__ import annotations

import os
import re
import unicodedata
from functools import lru_cache

STOPWORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
mustn't my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't
she she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then
there there's these they they'd they'll they're they've this those through to too under until up very was
wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who who's
whom why why's with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
also still just us via per s t will says said say tell told according
""".split())
QUESTION_WORDS = frozenset("what which who whom whose when where why how many much whats".split())
_NOT = ("don't doesn't didn't isn't aren't wasn't weren't hasn't haven't hadn't won't wouldn't can't cannot "
        "couldn't shouldn't mustn't needn't").split()
# plus the contracted "n't" forms (either apostrophe), which are words of their own to `words()`
NEGATIONS = frozenset("not no never none nothing neither nor without absent deny denies denied refute refuted "
                      "reject rejected dismiss dismissed false".split() + _NOT + [w.replace("'", "’") for w in _NOT])

# Any run of Unicode letters ("Nestlé", "Müller", "Київ"), with an apostrophe inside; or a number.
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+(?:[.,:]\d+)*")
# Bump when tokenization or stemming changes: the lexical index re-analyses its text.
ANALYZER_VERSION = "snowball-1"


def fold(text: str) -> str:
    """Lowercase, curly quotes straightened, accents kept (names keep their letters)."""
    text = unicodedata.normalize("NFKC", text)
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').lower()


def words(text: str) -> list[str]:
    out = []
    for w in _WORD.findall(fold(text)):
        if w.endswith("'s"):
            w = w[:-2]
        out.append(w)
    return out


# Short words inside a name that its initialism skips: "Southern Poverty Law Center" is the SPLC, "Food and Drug
# Administration" the FDA, "Department of Defense" the DoD (English usage, as in the style guides' rule for
# acronyms: the initials of the name's capitalised words).
_INITIALISM_SKIPS = frozenset("of the and for on in at to &".split())
_NAME_RUN = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:(?:" + "|".join(sorted(_INITIALISM_SKIPS)) + r")\s+)*[A-Z][\w'’-]*)+")


def initialisms(text: str) -> set[str]:
    """The initialisms of the names a text spells out, folded: "the Southern Poverty Law Center" gives "splc"
    (each run of two or more capitalised words gives one, as a run may join two names or start before one), so a
    question asking about the SPLC finds a sentence that names it in full."""
    out: set[str] = set()
    for m in _NAME_RUN.finditer(text):
        caps = [w for w in m.group(0).split() if w.lower() not in _INITIALISM_SKIPS]
        letters = "".join(w[0] for w in caps).lower()
        out.update(letters[i:j] for i in range(len(letters)) for j in range(i + 2, len(letters) + 1))
    return out


def vocabulary(text: str) -> set[str]:
    """The folded words a text holds, and the initialisms of the names it spells out (`initialisms`)."""
    return set(words(text)) | initialisms(text)


_STEMMER = None


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball (Porter2) English stemming via PyStemmer: troops/troop, claimed/claims."""
    global _STEMMER
    if word[:1].isdigit() or len(word) <= 3:
        return word
    if _STEMMER is None:
        import Stemmer

        _STEMMER = Stemmer.Stemmer("english")
    return str(_STEMMER.stemWord(word))


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry meaning: no stopwords, no question words."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and w not in QUESTION_WORDS]


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in re.findall(r"\d+(?:[.,]\d+)*", text)}


# English inflectional and demonym endings (plural, past, participle, agent, nationality: Korea/Korean).
ENDINGS = ("s", "es", "ed", "d", "ing", "er", "ers", "n", "an", "ans", "ian", "ians", "ese")


# The common English irregular verbs, base form then past and past participle (after Wiktionary's
# "Appendix:English irregular verbs"; left out where a form is also a common word of another sense: ground,
# wound, bound, lay/lie): "began" is a form of "begin" although no ending makes it one.
_IRREGULAR = """arise arose arisen | awake awoke awoken | be was were been | bear bore borne born | beat beaten |
become became | begin began begun | bend bent | bet | bid | bite bit bitten | bleed bled |
blow blew blown | break broke broken | breed bred | bring brought | build built | burn burnt | burst |
buy bought | cast | catch caught | choose chose chosen | cling clung | come came | cost | creep crept | cut |
deal dealt | dig dug | do did done | draw drew drawn | dream dreamt | drink drank drunk | drive drove driven |
eat ate eaten | fall fell fallen | feed fed | feel felt | fight fought | find found | flee fled | fling flung |
fly flew flown | forbid forbade forbidden | forecast | forget forgot forgotten | forgive forgave forgiven |
freeze froze frozen | get got gotten | give gave given | go went gone | grow grew grown |
hang hung | have had | hear heard | hide hid hidden | hit | hold held | hurt | keep kept | kneel knelt |
know knew known | lay laid | lead led | leap leapt | learn learnt | leave left | lend lent | let |
light lit | lose lost | make made | mean meant | meet met | mislead misled | overcome overcame |
overtake overtook overtaken | pay paid | prove proven | put | quit | read | rebuild rebuilt | rid |
ride rode ridden | ring rang rung | rise rose risen | run ran | say said | see saw seen | seek sought |
sell sold | send sent | set | shake shook shaken | shed | shine shone | shoot shot | show shown | shrink shrank shrunk |
shut | sing sang sung | sink sank sunk | sit sat | sleep slept | slide slid | speak spoke spoken | spend spent |
spin spun | split | spread | spring sprang sprung | stand stood | steal stole stolen | stick stuck |
sting stung | strike struck stricken | strive strove striven | swear swore sworn | sweep swept |
swim swam swum | swing swung | take took taken | teach taught | tear tore torn | tell told | think thought |
throw threw thrown | thrust | undergo underwent undergone | understand understood | undertake undertook undertaken |
upset | wake woke woken | wear wore worn | weave wove woven | weep wept | win won |
withdraw withdrew withdrawn | write wrote written"""
IRREGULAR_FORMS = {form: group.split()[0] for group in _IRREGULAR.split("|") for form in group.split()}


def inflected_in(word: str, vocabulary: set[str]) -> bool:
    """`word` occurs in some inflection among `vocabulary` (folded words): the same stem, one word the other plus
    an inflectional ending (Korea/Korean, bus/buses, claim/claimed; not may/mayor), or a form of the same
    irregular verb (begin/began, fight/fought)."""
    w = fold(word)
    if w in vocabulary:
        return True
    base = IRREGULAR_FORMS.get(w) or IRREGULAR_FORMS.get(w[:-1] if w.endswith("s") else "")
    if base and any(IRREGULAR_FORMS.get(v) == base or IRREGULAR_FORMS.get(v[:-1] if v.endswith("s") else "") == base
                    for v in vocabulary):
        return True
    s = stem(w)
    for v in vocabulary:
        if stem(v) == s:
            return True
        short, long_ = (w, v) if len(w) <= len(v) else (v, w)
        if len(short) >= 3 and long_.startswith(short) and long_[len(short):] in ENDINGS:
            return True
    return False


def odd_quotes(text: str) -> bool:
    """The text has an odd number of double quotation marks: it opens a quotation it does not close, or closes one
    opened before it."""
    return sum(text.count(ch) for ch in '"“”') % 2 == 1


def related_in(word: str, vocabulary: set[str]) -> bool:
    """`word` occurs among `vocabulary` in some inflection (`inflected_in`), or as a noun derived from it, or it
    from one: one of the two ends in a nominalising suffix (-tion, -sion, -ment, -ance, -ence, -ure, -al) and
    their stems share five letters or more and all but the last letter of the longer (expanding/expansion,
    reduce/reduction; not grant/grand, plane/planet). For what a note may say no passage mentions."""
    if inflected_in(word, vocabulary):
        return True
    w = fold(word)
    s = stem(w)
    if len(s) < 5:
        return False
    for v in vocabulary:
        if not (w.endswith(_NOMINAL) or v.endswith(_NOMINAL)):
            continue
        t = stem(v)
        shared = len(os.path.commonprefix([s, t]))
        if shared >= 5 and shared >= max(len(s), len(t)) - 1:
            return True
    return False


_NOMINAL = ("tion", "sion", "ment", "ance", "ence", "ure", "al", "tions", "sions", "ments", "ances", "ences", "ures",
            "als")


def misspelled_in(word: str, vocabulary: set[str]) -> str:
    """The word of `vocabulary` that `word` (five letters or more) is a misspelling of, or "": same first letter
    and a difflib similarity of at least 0.85, about one letter dropped, added or changed in eight
    ("Gerasimv" for "Gerasimov", "announcment" for "announcement")."""
    import difflib

    w = fold(word)
    if len(w) < 5 or not w.isalpha():
        return ""
    pool = [v for v in vocabulary if len(v) >= 5 and v[0] == w[0] and abs(len(v) - len(w)) <= 2]
    close = difflib.get_close_matches(w, pool, n=1, cutoff=0.85)
    return close[0] if close else ""


def mentioned_in(word: str, vocabulary: set[str]) -> bool:
    """`word` is among `vocabulary` in some inflection (`inflected_in`) or misspelled (`misspelled_in`)."""
    return inflected_in(word, vocabulary) or bool(misspelled_in(word, vocabulary))


@lru_cache(maxsize=1)
def _english_vocabulary() -> tuple[str, ...]:
    """The whole words of the MiniLM (BERT uncased) WordPiece vocabulary, sorted: the 30k commonest English
    wordforms of Wikipedia and BookCorpus, as vendored in retrieval/data/minilm-tokenizer.json."""
    import json
    from importlib import resources

    data = json.loads((resources.files("retrieval") / "data" / "minilm-tokenizer.json").read_text(encoding="utf-8"))
    return tuple(sorted(w for w in data["model"]["vocab"] if len(w) >= 2 and w.isalpha()))


# English derivational and comparative endings, with what replaces them (happiest/happy, leniency/lenient).
_DERIVED = (("iest", "y"), ("ier", "y"), ("ily", "y"), ("iness", "y"), ("ency", "ent"), ("ancy", "ant"),
            ("est", ""), ("er", ""), ("ly", ""), ("ness", ""), ("ment", ""), ("ful", ""), ("less", ""),
            ("ity", ""), ("ous", ""), ("ish", ""))


def english_word(word: str) -> bool:
    """`word` is English as far as the WordPiece vocabulary tells: a whole word of it, or of it by its stem
    (`endorse` by `endorsed`), by a derivational ending (`happiest` by `happy`), or a compound of two of its
    words ("monthslong"). Otherwise it is a name or a rare term ("zelensky", "kursk")."""
    import bisect

    vocab = _english_vocabulary()

    def known(w: str) -> bool:
        i = bisect.bisect_left(vocab, w)
        return i < len(vocab) and vocab[i] == w

    def starts(prefix: str) -> bool:
        j = bisect.bisect_left(vocab, prefix)
        return j < len(vocab) and vocab[j].startswith(prefix)

    w = fold(word)
    if known(w):
        return True
    s = stem(w)
    if len(s) < 4:
        return True  # too short to tell
    if starts(s):
        return True
    if any(w.endswith(end) and len(w) - len(end) >= 3 and known(w[: len(w) - len(end)] + new)
           for end, new in _DERIVED):
        return True
    return any((known(w[:i]) or (w[i - 1] == "s" and known(w[: i - 1]))) and known(w[i:])
               for i in range(4, len(w) - 3))  # "spokes|woman", "months|long"
