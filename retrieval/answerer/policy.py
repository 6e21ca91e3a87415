"""Choosing the answer: the best candidate when the model is confident enough, at most two more sentences
from other articles that confirm it or give a different value, or an abstention whose notes say truthfully
what the passages do and do not mention. Also the rule that fits the threshold (`choose_threshold`),
shared with `python -m evals.fit`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..citations import SUPPORT_COVERAGE
from ..prompts import load as load_prompt
from ..text import NEGATIONS, content_terms, fold, mentioned_in, misspelled_in, related_in, stem, words
from ..text import vocabulary as vocab
from ..types import Passage
from .candidates import Candidate, headline, split_candidates
from .features import claim_coverage, featurize, missable, states_claim
from .model import AnswerModel, default_model
from .question import (
    CAUSAL,
    DATE_WORDS,
    REPORTING,
    QuestionInfo,
    analyse_question,
    answer_spans,
    counted_words,
    quotes_phrase,
    typed_values,
)
from .scorer import SentenceScorer, default_relevance, default_scorer, relevance_signals, scorer_text
from .stance import (
    affiliations,
    by_party,
    counted_figures,
    denial_verb,
    denied_party,
    quantities,
    same_quantity,
    speaker,
    stance,
)

# The one abstention sentence, shared with the LLM prompt (prompts/abstain.txt).
ABSTAIN_TEXT = load_prompt("abstain").strip()
MAX_SENTENCES = 3
MAX_WRONGFUL_ABSTENTION = 0.15  # of questions whose passages hold an answer, at most this share may abstain
@dataclass
class Draft:
    """The answerer's output before numbering: sentences with the passages they cite."""

    abstained: bool
    lead: str  # the abstain text, or ""
    picked: list[Candidate]
    notes: list[str]
    closest: list[Passage]
    # what to search for the other side: the best sentence's claim when nothing retrieved opposes it, or a
    # denial's text when no passage holds the report of the party it names
    wants_other_side: str = ""
    connector: str = "They report:"  # between an abstaining lead and the sentences it cites
    confidence: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)
    lead_in: str = ""  # before the first sentence: "Disputed: ", "Sources differ: ", "Yes: ", "No: "
    contested: bool = False  # the sources disagree: each side is given, attributed
    attribute: bool = False  # name each sentence's speaker or source even when only one is cited


def scored(question: QuestionInfo, passages: Sequence[Passage], scorer: SentenceScorer, model: AnswerModel,
           side_passages: Sequence[Passage] = (), relevance: SentenceScorer | None = None) -> list[Candidate]:
    """Every candidate sentence with its cosine, features and probability, best first. Side passages'
    sentences are scored against the main ones, but the main ones' features never see them."""
    cands = split_candidates(passages, side_passages)
    main = [c for c in cands if not c.side_only]
    cos = scorer.scores(question.text, [scorer_text(c.text, c.passage.title, c.prev, scorer.context) for c in cands])
    rel, wv = relevance_signals(relevance or default_relevance(), question.text, [c.text for c in cands])
    side = [c for c in cands if c.side_only]
    if side:
        featurize(question, cands, cos, rel, wv)  # the side sentences' features among all
    keep = [i for i, c in enumerate(cands) if not c.side_only]
    featurize(question, main, cos[keep], rel[keep], [wv[0]] + [wv[i + 1] for i in keep] if wv else None)
    for c, p in zip(cands, model.probabilities([c.features for c in cands])):
        c.score = float(p)
    return sorted(cands, key=lambda c: -c.score)


def extract(question: str, passages: list[Passage], model: AnswerModel | None = None,
            scorer: SentenceScorer | None = None, side_passages: Sequence[Passage] = (),
            relevance: SentenceScorer | None = None) -> Draft:
    """Choose the answer sentences from the retrieved passages, or decide to abstain. Sentences of
    `side_passages` (none of them among `passages`) may only serve as the other side of a disagreement."""
    q = analyse_question(question)
    model = model or default_model()
    scorer = scorer or default_scorer()
    closest = passages[:3]
    if not passages:
        return Draft(True, ABSTAIN_TEXT, [], ["nothing is indexed that matches the filters"], [])
    cands = scored(q, passages, scorer, model, side_passages, relevance)
    main = [c for c in cands if not c.side_only]
    if not main:
        return Draft(True, ABSTAIN_TEXT, [], ["no sentence in the retrieved passages"], closest)
    # "Who said the offensive had "completely failed"?": the sentence that repeats the quoted words is the one the
    # question is about, whatever the model makes of the others.
    quoting = [c for c in main if quotes_phrase(q, c.text)] if q.quoted else []
    main = quoting + [c for c in main if c not in quoting]
    best = main[0]
    conf = model.confidence(best.score)
    # A wh-question whose every word the scorer's closest sentence holds (in some inflection) beside a value of the
    # kind asked for ("Who said the offensive had completely failed?" and "Putin … said Ukraine's offensive "has
    # completely failed."") echoes the question: as for quoted words, half the threshold will do. Three words at
    # least, and the closest sentence only: "how big is the beaver enclosure" has two ("big" is what it asks), which
    # "volunteers will check the enclosure fence every two days" holds beside a figure.
    echo = None
    if (not quoting and conf < model.threshold and q.qtype != "yesno"
            and len(missable(q)) >= 3):
        nearest = _nearest(main, 1)[0]
        echo = nearest if (nearest.features.get("missing_sentence") == 0.0 and nearest.features.get("typed") == 1.0
                           and model.confidence(nearest.score) >= model.threshold / 2) else None
        if echo is not None:
            main = [echo] + [c for c in main if c is not echo]
            best, conf = echo, model.confidence(echo.score)
    if headline(best) and q.qtype != "yesno" and asked_values(q, best.text):
        # "6,800 run the Vale Marathon" (a headline) and "A record 6,800 runners took part …" (its article's body):
        # the body's sentence states the same value in full, and is the one to cite
        body = next((c for c in main[1:] if c.passage.doc == best.passage.doc and not headline(c)
                     and model.confidence(c.score) >= model.threshold / 2 and confirms(q, best, c)), None)
        if body is not None:
            main = [body] + [c for c in main if c is not body]
            best = body
    if conf >= model.threshold and (named := asked_speaker(q.text)) and not _spoken_by(best, named):
        # "How did Putin describe the outcome?": the answer is Putin's own words, not a likelier sentence in which
        # someone else reports to him
        own = next((c for c in main[1:] if model.confidence(c.score) >= model.threshold and _spoken_by(c, named)),
                   None)
        if own is not None:
            main = [own] + [c for c in main if c is not own]
            best, conf = own, model.confidence(own.score)
    absent = absent_names(q, passages)
    if absent:
        return Draft(True, ABSTAIN_TEXT, [], ["no retrieved passage mentions " + ", ".join(absent),
                                              mention_note(q, passages)], closest, confidence=conf, candidates=cands)
    premise = premise_problem(q, best, conf >= model.threshold) if conf >= model.threshold / 2 else ""
    if premise and q.asks_reason and lacking_premise(q, best):
        # "why did the corn exchange have to shut": the answer is the likely sentence whose passage holds the
        # premise ("was shut in 2021 after …"), not a likelier one about something else
        holding = next((c for c in main[1:] if model.confidence(c.score) >= model.threshold
                        and not lacking_premise(q, c) and not premise_problem(q, c)), None)
        if holding is not None:
            main = [holding] + [c for c in main if c is not holding]
            best, conf, premise = holding, model.confidence(holding.score), ""
    if premise:
        # "Why did X confirm …?" when X denied it, or "Why did X pull out in March?" when no passage says so:
        # the premise is not what the articles report; what they do report on it is shown, cited.
        return Draft(True, ABSTAIN_TEXT, [best], [premise, mention_note(q, passages)], closest,
                     connector="The closest they report:", confidence=conf, candidates=cands)
    if q.qtype == "yesno" and model.threshold / 2 <= conf < model.threshold:
        # A claim question whose closest sentences report the claim and its denial is answered with both sides,
        # even when no single sentence looks like an answer to the model (fitted mostly on wh-questions).
        claim = claim_answer(q, cands, model, closest, conf, scorer, both_stated=True)
        if claim is not None and claim.contested:
            return claim
    if q.qtype == "yesno" and conf < model.threshold:
        # A claim question in other words than the articles' ("Did the boss sign a contract extension?" against
        # "had signed a new three-year contract"): the words don't match, but the scorer's closest sentences may
        # hold a report and a denial of one thing, from two parties.
        dispute = close_dispute(q, cands, closest, conf, scorer)
        if dispute is not None:
            return dispute
        reported = reported_claim(q, cands, closest, conf)
        if reported is not None:
            return reported
    # A sentence that repeats the question's quoted words is the one it asks about: half the threshold will do,
    # as for the reports of a claim above.
    needed = model.threshold / 2 if quoting or echo is not None else model.threshold
    if conf < needed:
        notes = [f"no sentence is likely to answer (confidence {conf:.2f} < {model.threshold:.2f})",
                 mention_note(q, passages)]
        if q.presupposes and conf >= model.threshold / 2:
            # "Why did X refuse to …?": the articles don't say so, but what they do report on X is what
            # the asker needs to see, cited, and the question stays unanswered.
            return Draft(True, ABSTAIN_TEXT, [best], notes, closest, connector="The closest they report:",
                         confidence=conf, candidates=cands)
        return Draft(True, ABSTAIN_TEXT, [], notes, closest, confidence=conf, candidates=cands)
    if q.qtype == "yesno":
        claim = claim_answer(q, cands, model, closest, conf, scorer)
        if claim is not None:
            return claim
    picked = [best]
    best.side = ""
    other = differing_value(q, best, cands, model, scorer)
    lead = ""
    if other is not None:
        picked.append(other)
        lead = "Sources differ: "
        best.side, other.side = value_label(q, best.text), value_label(q, other.text)
    for c in main[1:]:
        if len(picked) >= MAX_SENTENCES or model.confidence(c.score) < model.threshold:
            break
        if c in picked or any(_overlap(c.text, p.text) > 0.6 for p in picked):
            continue
        if all(c.passage.doc != p.passage.doc for p in picked) and not headline(c) and confirms(q, best, c):
            picked.append(c)  # another source that states the same answer (in a sentence, not a headline)
    yesno = q.qtype == "yesno"
    wants = best.text if yesno and REPORTING.search(best.text) else ""
    if yesno:
        # A claim question's answer is one source's word on it, whatever the model's confidence: which side it
        # takes, and who says it (never given as settled fact)
        best.side = stance(q, best.text)
    return Draft(False, "", picked, [], closest, wants_other_side=wants, confidence=conf, candidates=cands,
                 lead_in=lead, contested=other is not None, attribute=yesno)


# "How did Putin describe …", "What did the mayor call …", "What has Zelensky said about …": the words of a
# named speaker are asked for.
_ASKED_SPEAKER = re.compile(r"^\s*(?:how|what)\s+(?:did|does|do|has|have|had)\s+(?P<who>[^?]{1,60}?)\s+(?:describe|"
                            r"described|call|called|characteri[sz]ed?|say|said|term|termed|label|labelled)\b", re.I)


def asked_speaker(question: str) -> set[str]:
    """The capitalised words of the speaker a question asks the words of ("How did Putin describe …" -> putin),
    folded; none for any other question or a speaker not named ("what did officials say")."""
    m = _ASKED_SPEAKER.match(question)
    return {fold(w) for w in m.group("who").split() if w[:1].isupper()} if m else set()


def _spoken_by(c: Candidate, named: set[str]) -> bool:
    return bool(set(words(speaker(c.text, c.speaker_prev).name)) & named)


def absent_names(q: QuestionInfo, passages: Sequence[Passage]) -> list[str]:
    """The names the question asks about ("What did Zelensky say …", or "zelensky" in a question typed in lower
    case) that no retrieved passage mentions in any inflection or spelling ("Gerasimv" is Gerasimov): the
    articles cannot say what such a one did. (`evals.fit` forces the same abstention when it
    fits the threshold, so the bound on wrongful abstention holds with this rule in place.)"""
    vocabulary = _passages_vocabulary(passages)
    return [q.surface[t] for t in q.terms if (t in q.names or t in q.rare) and q.surface[t] not in DATE_WORDS
            and not mentioned_in(q.surface[t], vocabulary)]


def _passages_vocabulary(passages: Sequence[Passage]) -> set[str]:
    """Every folded word and initialism (`text.vocabulary`) of the passages' texts and titles."""
    return {w for p in passages for w in vocab(p.text + " " + p.title)}


def premise_problem(q: QuestionInfo, best: Candidate, confident: bool = True) -> str:
    """Why the question's premise does not hold in the closest sentence, or "": a question that presupposes
    something ("Why did …", "When did …") and the sentence denies it; or, when the model would answer with it
    (`confident`), a question asking for a reason whose premise has words that the sentence's passage holds in no
    inflection. The note says only what was checked: the words, not that no passage reports the premise in other
    words ("held up" is "delayed" elsewhere). Below the threshold the plain decline says why."""
    if q.presupposes and stance(q, best.text) == "denial" and states_claim(q, best.text):
        return "the closest sentence denies what the question takes for granted"
    if confident and q.asks_reason and not CAUSAL.search(best.text):
        lacking = lacking_premise(q, best)
        if lacking:
            return ("the closest sentence's passage does not mention " + ", ".join(lacking[:5])
                    + ", which the question takes for granted")
    return ""


def lacking_premise(q: QuestionInfo, c: Candidate) -> list[str]:
    """The question's words that the candidate's passage holds in no inflection or derived form ("expanding" is
    in "the expansion")."""
    if c.features.get("missing_passage", 0.0) == 0:
        return []
    vocabulary = vocab(c.passage.text + " " + c.passage.title)
    return [q.surface[t] for t in missable(q) if not related_in(q.surface[t], vocabulary)]


def claim_answer(q: QuestionInfo, cands: list[Candidate], model: AnswerModel, closest: list[Passage],
                 conf: float, scorer: SentenceScorer, both_stated: bool = False) -> Draft | None:
    """A yes/no question answered with who claims what: the best sentence stating its claim and the best one
    denying it, each cited and attributed ("Disputed: …"); "Yes:"/"No:" only when two or more outlets state it
    and none disputes it; a single source's word is given attributed, never as settled fact. None when no
    candidate that clears the threshold states the claim (the plain answer then stands).

    The claim side is a sentence stating most of the claim's words (`states_claim`) that the model takes for an
    answer or that reports someone's words, ranked by the scorer's similarity to the question. A denial seldom
    repeats every word of what it denies: any sentence with a denial cue counts when the scorer finds it as
    close to the claim sentence as that sentence is to the question. With `both_stated` (a question the model is
    unsure of), both sides must hold the claim's words: the scorer's closeness alone does not make a denial."""
    closest_three = {id(c) for c in _nearest(cands, 3)}

    def stated(c: Candidate) -> bool:
        p, coverage = model.confidence(c.score), claim_coverage(q, c.text)
        if coverage >= SUPPORT_COVERAGE and (p >= model.threshold
                                             or (p >= model.threshold / 2 and bool(REPORTING.search(c.text)))):
            return True  # `states_claim`, and an answer or a report
        # Reported in other words ("retaken" for "take back"): half the claim's words, and either a report the
        # scorer ranks among the three closest sentences or an explicit denial verb.
        if coverage < 0.5:
            return False
        if stance(q, c.text) == "denial":
            return denial_verb(c.text)
        return bool(REPORTING.search(c.text)) and id(c) in closest_three

    stating = [c for c in cands if stated(c)]
    if not stating:
        return None
    # Reports before captions (a caption says what a photo shows), the scorer's closest first.
    stating.sort(key=lambda c: (c.side_only, c.passage.kind == "caption", not REPORTING.search(c.text), headline(c),
                                -c.cosine))
    for c in stating:
        c.side = stance(q, c.text)
    claims = [c for c in stating if c.side == "claim"]
    denials = [c for c in stating if c.side == "denial"]
    if bool(claims) != bool(denials) and not both_stated:
        # One side found: the other is a sentence of the opposite stance in another passage that the scorer finds
        # about the same thing; on the claim side, a dispute of the denial ("the union disputed the company's
        # assurance that no jobs will go"), never a plain report or narration that merely lacks a negation.
        anchor = (claims or denials)[0]
        want = "denial" if claims else "claim"
        others = [c for c in cands if c is not anchor and c.passage.id != anchor.passage.id
                  and c.passage.kind != "caption" and stance(q, c.text) == want
                  and (want == "denial" or denial_verb(c.text))
                  and two_parties(c if want == "claim" else anchor, anchor if want == "claim" else c)]
        if others:
            sims = _similarities(anchor, others, scorer)
            # as close to the anchor as the anchor is to the question: the looser bar of differing values (the
            # less close of the two) would let a sentence far from the question pass ("the bank said no staff
            # would be made redundant" beside "ferries resumed on Monday")
            about = [i for i in range(len(others)) if sims[i] >= anchor.cosine]
            if about:  # the closest to the anchor, a full sentence before a headline
                i = min(about, key=lambda i: (headline(others[i]), -sims[i]))
                others[i].side = want
                if want == "denial":
                    denials = [others[i]]
                else:
                    claims = [others[i]]
    if bool(claims) != bool(denials) and not both_stated:
        # "Crennock District Council has denied claims that it failed to grit the road": a denial of someone's
        # claim, whichever way the question puts it; the other side is the claimant's own report ("Drivers
        # claimed the road had not been gritted"), whatever its polarity against the question's words
        anchor = (claims or denials)[0]
        claimant = accuser(anchor, cands, scorer) if DENIES_CLAIMS.search(anchor.text) else None
        if claimant is not None:
            claimant.side, anchor.side = "claim", "denial"
            claims, denials = [claimant], [anchor]
    if claims and len(denials) > 1:
        # The denial of that claim: of the sentences that deny something, the one the scorer finds closest to it.
        denials = [denials[int(np.argmax(_similarities(claims[0], denials, scorer)))]]
    search_for = ""
    # a denial that names whose claim it denies is the one to pair with that party's own report
    denials.sort(key=lambda c: not denied_party(c.text))
    if denials and (party := denied_party(denials[0].text)):
        # The denial names whose claim it denies ("refuted Russian military leadership's claims"): the other side
        # is that party's own report, not another sentence of the denying side ("operations continue"). When no
        # passage holds one, the caller searches again with the denial (a claim reads like its denial).
        known = affiliations(c.text for c in cands)
        if not claims or not by_party(party, claims[0].text, known):
            theirs = [c for c in cands if c is not denials[0] and by_party(party, c.text, known)
                      and stance(q, c.text) == "claim" and REPORTING.search(c.text) and c.passage.kind != "caption"]
            if theirs:
                claims = [theirs[int(np.argmax(_similarities(denials[0], theirs, scorer)))]]
                claims[0].side = "claim"
            else:
                search_for = denials[0].text
    if claims and denials and not two_parties(claims[0], denials[0]):
        # One article's own narration ("Apple did not announce any new hardware" beside what it did announce)
        # disputes nothing: both sentences are given, the likelier first, attributed, with no "Disputed".
        pair = sorted([claims[0], denials[0]], key=lambda c: -c.score)
        return Draft(False, "", pair, [], closest, confidence=conf, candidates=cands, attribute=True)
    if claims and denials:
        return Draft(False, "", [claims[0], denials[0]], [], closest, confidence=conf, candidates=cands,
                     lead_in="Disputed: ", contested=True, attribute=True, wants_other_side=search_for)
    one = claims or denials
    if one[0].side_only:
        return None
    outlets: dict[str, Candidate] = {}
    for c in one:
        outlets.setdefault(c.passage.outlet or c.passage.doc, c)
    picked = list(outlets.values())[:2]
    # "Yes:"/"No:" reads as settled: every source given must state the claim in full, not in part
    settled = len(picked) > 1 and all(states_claim(q, c.text) for c in picked)
    lead = ("Yes: " if one is claims else "No: ") if settled else ""
    wants = picked[0].text if one is claims else ""
    return Draft(False, "", picked, [], closest, wants_other_side=wants, confidence=conf, candidates=cands,
                 lead_in=lead, attribute=True)


# A denial of someone's claim named as such ("has denied claims that …", "rejected the union's allegations"):
# the denial verbs of `stance.DENIAL_VERBS` with the nouns for what is claimed (general English).
DENIES_CLAIMS = re.compile(r"\b(?:den(?:y|ies|ied)|reject(?:s|ed)?|dismiss(?:es|ed)?|refut(?:e|es|ed)|disput(?:e|es|ed)|"
                           r"rebut(?:s|ted)?)\s+(?:the\s+|all\s+|these\s+)?(?:[\w'’-]+\s+){0,2}?(?:claims?|allegations?|"
                           r"accusations?|suggestions?|charges?|reports?)\b", re.I)
# The verbs a claimant reports with (a subset of `question.REPORTING`, and "accused")
_CLAIMING = re.compile(r"\b(claimed|claims|claim|alleged|alleges|accused|accuses|said|says|insisted|insists)\b", re.I)


def accuser(denial: Candidate, cands: Sequence[Candidate], scorer: SentenceScorer) -> Candidate | None:
    """For a sentence that denies someone's claim: the claimant's own report of it. Among the scorer's few
    closest sentences to the question (`CLOSEST_FOR_DISPUTE`, as for a dispute in other words), one that names
    its speaker (another party than the denier) and reports with a claiming verb and no denial verb; of those,
    the one the scorer finds closest to the denial."""
    denier = set(words(speaker(denial.text, denial.speaker_prev).name))
    near = _nearest([c for c in cands if c is not denial], CLOSEST_FOR_DISPUTE)
    others = [c for c in near if c.passage.kind != "caption" and not headline(c)
              and _CLAIMING.search(c.text) and not denial_verb(c.text) and not DENIES_CLAIMS.search(c.text)
              and (who := set(words(speaker(c.text, c.speaker_prev).name))) and not who & denier]
    if not others:
        return None
    return others[int(np.argmax(_similarities(denial, others, scorer)))]


CLOSEST_FOR_DISPUTE = 4  # how many of the scorer's closest sentences a dispute in other words is looked for among


def close_dispute(q: QuestionInfo, cands: list[Candidate], closest: list[Passage], conf: float,
                  scorer: SentenceScorer) -> Draft | None:
    """Among the scorer's few closest sentences to a yes/no question: a report (a reporting verb, no denial) and
    a denial (a denial cue) by two parties (`two_parties`) that the scorer finds about one thing
    (`_about_one_thing`), the report holding half the claim's words (as a claim reported in other words must,
    in `claim_answer`), or the denial doing so with a denial verb ("the agent has denied the club's claim …,
    saying he will miss next season"): a plain negation beside a report that does not state the claim is no
    dispute of it ("the deployments are a show of support" beside "they are not going to fight in Ukraine"). "Disputed:" with both, attributed; None when there is no such pair."""
    near = _nearest(cands, CLOSEST_FOR_DISPUTE)
    claims = [c for c in near if REPORTING.search(c.text) and stance(q, c.text) == "claim" and c.passage.kind != "caption"]
    # A denial seldom repeats the question's words: beyond the closest few, any sentence that reports an act of
    # denying ("has rejected the claim that …") may be the other side, when the scorer finds it about the claim.
    # (Someone's plain "no" further down is not enough: "no plans whatsoever to close the brewery" is about the
    # story, not about whether the brand's name is kept.)
    denials = [c for c in near if stance(q, c.text) == "denial" and c.passage.kind != "caption"]
    denials += [c for c in _nearest(cands, len(cands)) if c not in near and c.passage.kind != "caption"
                and denial_verb(c.text)]
    claims.sort(key=headline)  # a report in a full sentence before a headline saying the same (stable: closest first)
    denials.sort(key=headline)
    for claim in claims:
        for denial in denials:
            if (two_parties(claim, denial) and _about_one_thing(claim, denial, scorer, strict=True)
                    and (claim_coverage(q, claim.text) >= 0.5
                         or (denial_verb(denial.text) and claim_coverage(q, denial.text) >= 0.5))):
                claim.side, denial.side = "claim", "denial"
                return Draft(False, "", [claim, denial], [], closest, confidence=conf, candidates=cands,
                             lead_in="Disputed: ", contested=True, attribute=True)
    return None


def reported_claim(q: QuestionInfo, cands: list[Candidate], closest: list[Passage], conf: float) -> Draft | None:
    """A claim question whose closest sentence is somebody's word on it ("Will US soldiers fight in Ukraine?" and
    "… Pentagon press secretary John Kirby said …, adding that these forces 'are not going to fight in Ukraine'"):
    the scorer's closest sentence (or the second, when the closest is a headline or caption), naming who says it
    and holding half the claim's words, is given attributed, as one source's word, never as settled fact. The
    model's confidence is not asked: it is fitted on wh-questions, and a claim question's answer is a report."""
    for c in _nearest(cands, 2):
        if c.passage.kind == "caption" or headline(c):
            continue
        if speaker(c.text, c.speaker_prev).name and claim_coverage(q, c.text) >= 0.5:
            c.side = stance(q, c.text)
            return Draft(False, "", [c], [], closest, confidence=conf, candidates=cands, attribute=True,
                         wants_other_side=c.text if c.side == "claim" else "")
        return None
    return None


def two_parties(claim: Candidate, denial: Candidate) -> bool:
    """A claim and a denial are two sides: from different articles, or one article reporting somebody's act of
    denying (a denial verb used as a verb: "The General Staff … denied Putin's claim") or two speakers it names;
    not one article's own narration ("Apple did not announce any new hardware")."""
    if claim.passage.doc != denial.passage.doc or denial_verb(denial.text):
        return True
    who_a, who_b = speaker(claim.text, claim.speaker_prev).name, speaker(denial.text, denial.speaker_prev).name
    return bool(who_a and who_b) and fold(who_a) != fold(who_b)


def asked_values(q: QuestionInfo, text: str) -> set[str] | set[float]:
    """The values of the kind asked for that a sentence states: figures (as numbers) for how many/how much, dates,
    or names. A figure the question itself holds, or a year in a sentence asked for a figure, is not one."""
    if q.qtype == "quantity":
        asked = quantities(q.text)
        money = answer_spans(text)["money"] if q.money else []
        if money:  # "how much money is the school losing": the amounts of money, not "62 pupils" or "11 schools"
            return {v for m in money for v in quantities(m)} - asked
        return {v for v in quantities(text, counted_words(q.text)) if v not in asked and not _a_year(v, text)}
    return typed_values(q, text)


def _a_year(v: float, text: str) -> bool:
    """The figure is a year the sentence writes as one: "in 2024", not "2,000 people"."""
    return v.is_integer() and 1900 <= v <= 2100 and bool(re.search(rf"(?<![\d,.]){int(v)}(?!\d|,\d)", text))


def value_label(q: QuestionInfo, text: str) -> str:
    """The value a sentence gives, as the answer's `side` ("900", "Geneva")."""
    vals = asked_values(q, text)
    if not vals:
        return ""
    v = sorted(vals, key=str)[0]
    return f"{v:,.0f}" if isinstance(v, float) and v.is_integer() else str(v)


def _same_values(q: QuestionInfo, a: set[str] | set[float], b: set[str] | set[float]) -> bool:
    """Some value of each is the same: figures as numbers; names when one's words are all in the other, so
    "Belgorod" and "Russia's Belgorod Oblast" are one place (and "Smith" one person with "John Smith")."""
    if q.qtype == "quantity":
        return same_quantity({float(x) for x in a}, {float(x) for x in b})
    mine = [{stem(w) for w in words(str(x))} for x in a]
    theirs = [{stem(w) for w in words(str(y))} for y in b]
    return any(x and y and (x <= y or y <= x) for x in mine for y in theirs)


def differing_value(q: QuestionInfo, best: Candidate, cands: list[Candidate], model: AnswerModel,
                    scorer: SentenceScorer | None = None) -> Candidate | None:
    """A sentence from another article that gives another value of what was asked (a figure, a date, a name).
    It must itself clear the answer threshold, its passage must be as much about the question as the best one's
    (lacking no more of the question's words: another outlet words the sentence its own way), two figures must be
    of one order of magnitude (2.4 million against 64 is two different things counted, not a disagreement), and
    the two values must not be the same quantity written differently (900 / nine hundred; 1.8m / 1,800,000).
    Two sources disagree about one thing: the sentence must come from another outlet (an outlet's later article
    updates its own figure rather than disputing it), and the scorer must find it as close to the best sentence
    as the best sentence is to the question ("Tickets: $10" and "Festival passes are $200" answer "how much"
    about two things)."""
    if q.qtype not in ("quantity", "date", "person", "place", "which"):
        return None
    mine = asked_values(q, best.text)
    if not mine:
        return None
    # "1,460 hours" and "1,640 hours" for "how many hours …": figures of the very thing counted may come from a
    # passage that words the rest its own way ("the overflow" for "the Duncote overflow")
    counted = counted_words(q.text) if q.qtype == "quantity" else set()
    best_counts = bool(counted) and bool(counted_figures(best.text, counted))
    for c in cands:
        if c is best or c.passage.doc == best.passage.doc or model.confidence(c.score) < model.threshold:
            continue
        if c.features.get("typed", 0.0) < 1.0:
            continue
        if c.features["missing_passage"] > best.features["missing_passage"] and not (
                best_counts and counted_figures(c.text, counted)):
            continue
        if best.passage.outlet and c.passage.outlet == best.passage.outlet:
            continue
        theirs = asked_values(q, c.text)
        if q.qtype == "quantity" and not _same_magnitude(mine, theirs):
            continue
        # Names differ between almost any two sentences: for a name the stricter closeness holds ("Ohio" beside
        # "the Florida State Board" for "up to what grade …"); a figure or a date is the value asked itself.
        if theirs and not _same_values(q, mine, theirs) and _about_one_thing(
                best, c, scorer, strict=q.qtype not in ("quantity", "date")):
            return c
    return None


def _about_one_thing(best: Candidate, other: Candidate, scorer: SentenceScorer | None, strict: bool = False) -> bool:
    """The scorer finds the two sentences as close to each other as the less close of them is to the question
    (`strict`: as the best one is): two answers to it that give one fact about one thing in two ways, not two
    facts about two things. The looser bar is only for two sentences that both answer the question (each clears
    the answer threshold)."""
    bar = best.cosine if strict else min(best.cosine, other.cosine)
    return scorer is None or float(_similarities(best, [other], scorer)[0]) >= bar


def _similarities(anchor: Candidate, others: Sequence[Candidate], scorer: SentenceScorer) -> np.ndarray:
    """The scorer's cosine of `anchor` to each of `others` (sentence vectors, cached)."""
    vecs = scorer.vectors([scorer_text(c.text, c.passage.title, c.prev, scorer.context) for c in [anchor, *others]])
    out: np.ndarray = vecs[1:] @ vecs[0]
    return out


def _nearest(cands: Sequence[Candidate], n: int) -> list[Candidate]:
    """The `n` retrieved (not side-only) candidates the scorer finds closest to the question."""
    return sorted((c for c in cands if not c.side_only), key=lambda c: -c.cosine)[:n]


def _same_magnitude(a: set[str] | set[float], b: set[str] | set[float]) -> bool:
    """Some figure of each set is within a factor of ten of one of the other's."""
    return any(x > 0 and y > 0 and max(x, y) / min(x, y) < 10 for x in map(float, a) for y in map(float, b))


def confirms(q: QuestionInfo, best: Candidate, c: Candidate) -> bool:
    """`c` states the same answer as the best sentence (for a question without a value kind: the same claim)."""
    mine, theirs = asked_values(q, best.text), asked_values(q, c.text)
    if mine or theirs:
        return bool(mine and theirs and _same_values(q, mine, theirs))
    return _overlap(c.text, best.text) >= 0.5


def _negated(text: str) -> bool:
    return bool(set(words(text)) & NEGATIONS)


def _overlap(a: str, b: str) -> float:
    wa, wb = set(content_terms(a)), set(content_terms(b))
    return len(wa & wb) / min(len(wa), len(wb)) if wa and wb else 0.0


def mention_note(q: QuestionInfo, passages: Sequence[Passage]) -> str:
    """What the retrieved passages mention of the question's words, and what none of them mentions in any
    inflection or spelling (a misspelt word is given as the passages spell it)."""
    vocabulary = _passages_vocabulary(passages)
    found: list[str] = []
    missing: list[str] = []
    for t in q.terms:
        surface = q.surface[t]
        if related_in(surface, vocabulary):
            found.append(surface)
        elif t in q.asks_for:
            continue  # "year" in "in what year …": the answer stands in for it; no passage need hold the word
        elif spelt := misspelled_in(surface, vocabulary):
            found.append(f"{spelt} (asked as {surface})")
        else:
            missing.append(surface)
    if not found:
        return "no retrieved passage mentions any of: " + ", ".join(missing[:6])
    note = "the retrieved passages mention " + ", ".join(found[:6])
    if missing:
        note += "; none mentions " + ", ".join(missing[:5])
    return note


# --- fitting the threshold (python -m evals.fit) -------------------------------------------------------
def choose_threshold(conf: np.ndarray, right: np.ndarray, has_answer: np.ndarray, kinds: np.ndarray,
                     max_wrongful: float = MAX_WRONGFUL_ABSTENTION,
                     forced: np.ndarray | None = None) -> tuple[float, list[dict[str, Any]]]:
    """The threshold on the confidence that maximises the CRAG score (+1 right, 0 abstained, -1 wrong) over
    the questions as asked (and those held out with their articles), among the thresholds at which at most
    `max_wrongful` of the questions whose candidates hold an answer abstain. Returns it and the whole
    risk-coverage curve.

    `conf`, `right` (the best sentence states the answer), `has_answer` (some candidate does) and `kinds`
    ("asked", "removed", "held_out") have one entry per question instance; `forced` marks the instances a rule
    abstains on whatever their confidence (names no passage mentions)."""
    if forced is not None:
        conf = np.where(forced, -1.0, conf)
    asked = kinds == "asked"
    pool = asked | (kinds == "held_out")
    absent = (kinds == "removed") | (kinds == "held_out")
    present = asked & has_answer
    curve = []
    for tau in np.unique(np.concatenate([conf[conf >= 0], [0.0, 1.01]])):
        answered = conf >= tau
        score = np.where(answered, np.where(right, 1.0, -1.0), 0.0)
        curve.append({
            "threshold": float(tau),
            "coverage": float(answered[asked].mean()),
            "risk": float((~right[answered & asked]).mean()) if (answered & asked).any() else 0.0,
            "accuracy": float((answered & right)[asked].mean()),
            "crag": float(score[pool].mean()),
            "wrongful_abstention": float((~answered[present]).mean()) if present.any() else 0.0,
            "abstain_absent": float((~answered[absent]).mean()) if absent.any() else 1.0,
        })
    ok = [c for c in curve if c["wrongful_abstention"] <= max_wrongful] or curve[:1]
    best = max(ok, key=lambda c: (c["crag"], c["threshold"]))
    return best["threshold"], curve
