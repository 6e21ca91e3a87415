"""Who claims what, on invented articles: a claim and its denial, figures that differ, figures that only look
different, and how the two sides reach --json and Discord."""

import json
import os
import subprocess
import sys

import pytest

from retrieval.answerer.stance import denies, figures, quantities, same_quantity, speaker
from retrieval.api import Engine
from retrieval.config import Settings

from conftest import ROOT

HERALD = ("Harbridge council to cut route 14 bus\n\n"
          "Harbridge council will withdraw its subsidy for the route 14 bus from April, the council confirmed on "
          "Tuesday. The route is used by around 900 passengers a day, according to figures from the council's "
          "transport office. Councillor Mary Osei said the subsidy cost £410,000 a year.\n\n"
          "Council tax in Harbridge will rise by 4.99% from April, the council said.\n")
COURIER = ("Operator disputes route 14 numbers\n\n"
           "The bus operator Valeway says route 14 carries far fewer people than the council claims. The operator "
           "puts daily use of the route at about 350 passengers a day. Valeway's manager Tom Reid said the "
           "company had offered to run the route without a subsidy.\n")
SAME = ("Route 14 passengers plead for their bus\n\n"
        "Nine hundred passengers a day use route 14, the council's transport office said on Monday. Riders "
        "gathered outside the town hall to ask councillors to keep the service.\n")
BRIDGE_CLAIM = ("Mill bridge safe, says mayor\n\n"
                "Mayor Ana Ruiz said the old mill bridge was safe for traffic after an inspection on Friday. "
                "The bridge, built in 1911, carries about 4,000 vehicles a day.\n")
BRIDGE_DENIAL = ("Engineers reject mayor's bridge verdict\n\n"
                 "The county engineers' union denied that the old mill bridge was safe for traffic, saying cracks "
                 "in two of its piers had widened since the spring. The union called for the bridge to close.\n")


def run_cli(args, data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NEWSQA_"))}
    env.update({"NEWSQA_DATA_DIR": str(data_dir), "NO_COLOR": "1"})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def corpus(tmp_path, *items):
    src = tmp_path / "src"
    src.mkdir()
    for doc, outlet, text in items:
        (src / f"{doc}.json").write_text(json.dumps({"id": doc, "outlet": outlet, "title": text.split("\n")[0],
                                                     "date": "2025-03-04", "text": text}), encoding="utf-8")
    data = tmp_path / "data"
    Engine(Settings(data_dir=data)).ingest([src])
    return data


def ask(tmp_path, question, *items):
    """The answer to `question` over the invented articles `items` (doc, outlet, text), on a fresh index."""
    return Engine(Settings(data_dir=corpus(tmp_path, *items))).answer(question)


def disputed(tmp_path, question, *items):
    """`ask`, for an answer that must be two-sided."""
    r = ask(tmp_path, question, *items)
    assert not r.abstained and r.contested and r.answer.startswith("Disputed:"), r.answer
    return r


def test_figures_written_differently_are_the_same_quantity():
    assert quantities("around nine hundred passengers") == {900.0} == quantities("about 900 passengers")
    assert quantities("1.8m viewers") == {1_800_000.0} == quantities("1,800,000 viewers")
    assert quantities("Forty-one people were treated in under six hours", {"people"}) == {41.0}
    assert same_quantity({900.0}, quantities("Nine hundred")) and not same_quantity({900.0}, {350.0})
    assert [v for v, _ in figures("route 14 carries 350 riders")] == [14.0, 350.0]


def test_stance_words_and_speakers_are_general_english():
    assert denies("The union denied that the bridge was safe.") and denies("Officials rejected the claims.")
    assert not denies("Mayor Ana Ruiz said the bridge was safe.")
    assert speaker("Mayor Ana Ruiz said the bridge was safe.").name == "Mayor Ana Ruiz"
    assert speaker("The climate summit will be held in Vienna next spring, organisers said.").name == "organisers"
    assert speaker("The route carries 900 passengers a day.").name == ""


def test_sources_that_differ_on_the_figure_asked_are_both_given_with_their_source(tmp_path):
    e = Engine(Settings(data_dir=corpus(tmp_path, ("herald", "Harbridge Herald", HERALD),
                                        ("courier", "Vale Courier", COURIER))))
    r = e.answer("How many passengers use the route 14 bus each day?")
    assert not r.abstained and r.contested and r.answer.startswith("Sources differ:")
    assert "900" in r.answer and "350" in r.answer
    assert "Harbridge Herald" in r.answer and "Vale Courier" in r.answer
    assert {s.side for s in r.sentences} == {"900", "350"} and all(s.supported for s in r.sentences)
    assert len(r.answer.splitlines()) == 2  # one line a side
    # a question on something only one source states gets no second, unrelated sentence
    tax = e.answer("By how much is council tax going up?")
    assert not tax.abstained and not tax.contested and "4.99%" in tax.answer and len(tax.sentences) == 1


def test_the_same_figure_written_in_words_is_no_disagreement(tmp_path):
    e = Engine(Settings(data_dir=corpus(tmp_path, ("herald", "Harbridge Herald", HERALD),
                                        ("same", "Town Crier", SAME))))
    r = e.answer("How many passengers use the route 14 bus each day?")
    assert not r.abstained and not r.contested and "Sources differ" not in r.answer
    assert "900" in r.answer or "Nine hundred" in r.answer


def test_a_claim_and_its_denial_are_each_given_by_their_speaker(tmp_path):
    e = Engine(Settings(data_dir=corpus(tmp_path, ("claim", "Harbridge Herald", BRIDGE_CLAIM),
                                        ("denial", "Vale Courier", BRIDGE_DENIAL))))
    r = e.answer("Is the old mill bridge safe?")
    assert not r.abstained and r.contested and r.answer.startswith("Disputed:")
    assert [s.side for s in r.sentences] == ["claim", "denial"]
    assert "Mayor Ana Ruiz" in r.sentences[0].text and "union" in r.sentences[1].text
    assert {s.doc for s in r.sources} == {"claim", "denial"} and all(s.supported for s in r.sentences)


def test_one_source_alone_is_given_attributed_never_as_settled_fact(tmp_path):
    e = Engine(Settings(data_dir=corpus(tmp_path, ("claim", "Harbridge Herald", BRIDGE_CLAIM))))
    r = e.answer("Is the old mill bridge safe?")
    assert not r.abstained and not r.contested
    assert not r.answer.startswith(("Yes", "No")) and "Mayor Ana Ruiz said" in r.answer


def test_json_carries_each_sentence_side_and_contested(tmp_path):
    data = corpus(tmp_path, ("claim", "Harbridge Herald", BRIDGE_CLAIM), ("denial", "Vale Courier", BRIDGE_DENIAL))
    p = run_cli(["ask", "Is the old mill bridge safe?", "--json"], data)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["contested"] is True
    assert [(s["side"], bool(s["speaker"])) for s in r["sentences"]] == [("claim", True), ("denial", True)]
    assert all(s["citations"] for s in r["sentences"])


@pytest.mark.parametrize("question", ["Has Russia fully retaken Kursk?"])
def test_the_readme_claim_question_cites_the_claim_and_the_general_staffs_denial(shared_engine, question):
    r = shared_engine.answer(question)
    assert not r.abstained and r.contested
    claim, denial = r.sentences[0], r.sentences[1]
    assert claim.side == "claim" and "Putin" in claim.text
    assert denial.side == "denial" and "General Staff" in denial.text and denial.citations
    assert (ROOT / "retrieval" / "corpus" / "articles").is_dir()


def test_discord_shows_the_two_sides_as_two_cited_lines(tmp_path):
    from bot.discord_render import render_answer

    e = Engine(Settings(data_dir=corpus(tmp_path, ("claim", "Harbridge Herald", BRIDGE_CLAIM),
                                        ("denial", "Vale Courier", BRIDGE_DENIAL))))
    texts, embed = render_answer(e.answer("Is the old mill bridge safe?"))
    lines = [x for x in "\n".join(texts).splitlines() if x.strip()]
    assert lines[0].startswith("Disputed:") and "[1]" in lines[0] and "[2]" in lines[1]
    assert embed is not None and len(embed.fields) == 2


def test_a_why_question_in_other_words_is_answered_when_the_sentence_gives_a_reason(tmp_path):
    text = ("Bakery picks Linwood\n\nCorvale Foods will build its new bakery in Linwood, the company said on "
            "Wednesday. Chief executive Hannah Breck said Linwood had been chosen over two other towns because "
            "of its rail links and the skills of its workforce.\n")
    e = Engine(Settings(data_dir=corpus(tmp_path, ("bakery", "Linwood Examiner", text))))
    r = e.answer("Why did Corvale pick Linwood?")  # "pick" is nowhere in the article; "because" gives the reason
    assert not r.abstained and "rail links" in r.answer
    r = e.answer("Why did Corvale close its Linwood bakery in March?")  # a premise the article never reports
    assert r.abstained


FESTIVAL_CLAIM = ("Harbridge festival off\n\n"
                  "Harbridge's summer festival has been cancelled this year, the events office announced on Monday. "
                  "The office said rising insurance costs had made the weekend too expensive to stage.\n")
FESTIVAL_DENIAL = ("Organisers insist festival will go ahead\n\n"
                   "The festival's organising committee denied that the summer festival was cancelled, saying it "
                   "would go ahead in July on a smaller site. Tickets remain on sale at the library.\n")


def test_a_claim_in_other_words_than_the_question_is_answered_with_both_sides(tmp_path):
    # "call off" is "cancelled" in both articles: the question's own words are only half there, and the model,
    # fitted mostly on wh-questions, is not sure of either sentence; the report and its denial still answer it.
    e = Engine(Settings(data_dir=corpus(tmp_path, ("claim", "Harbridge Herald", FESTIVAL_CLAIM),
                                        ("denial", "Vale Courier", FESTIVAL_DENIAL))))
    r = e.answer("Did Harbridge really call off its summer festival?")
    assert not r.abstained and r.contested, r.answer
    sides = {s.side for s in r.sentences}
    assert sides == {"claim", "denial"}, r.answer
    assert "cancelled this year" in r.answer and "denied" in r.answer
    assert all(s.citations and s.supported for s in r.sentences)


class _Prefers:
    """A scorer that finds one word's sentences closest to any question (to stand for a model that is wrong)."""

    context = "none"

    def __init__(self, word):
        self.word = word

    def scores(self, question, texts):
        import numpy as np

        return np.array([0.85 if self.word in t else 0.75 for t in texts], dtype=np.float32)


def test_the_sentence_repeating_the_questions_quoted_words_answers_it():
    from retrieval.answerer import extract
    from retrieval.types import Passage

    text = ("Councillor Mark Hale said the new stadium plan would bring 2,000 jobs to Linwood by 2028. "
            "Joan Pike, who leads the residents' group, told the meeting it was \"dead on arrival\" in its current form.")
    p = Passage("a:0", "a", text, 0, len(text), "body", "Linwood stadium plan unveiled", "Linwood Examiner",
                "2025-03-04")
    question = 'Who said the new stadium plan was "dead on arrival"?'
    wrong = extract(question.replace('"', ""), [p], scorer=_Prefers("jobs"), relevance=_Prefers("jobs"))
    assert wrong.picked and "Hale" in wrong.picked[0].text  # unquoted, the scorer's favourite wins
    right = extract(question, [p], scorer=_Prefers("jobs"), relevance=_Prefers("jobs"))
    assert not right.abstained and right.picked[0].text.startswith("Joan Pike")


def test_a_denial_word_used_as_a_noun_denies_nothing():
    from retrieval.answerer.stance import denial_verb

    assert denial_verb("The union denied that the bridge was safe.")
    assert denial_verb("Engineers dispute the mayor's figures.")
    assert not denial_verb("The dispute comes as questions are asked about the transfer.")
    assert not denial_verb("Their denial came a day later.")


def test_a_name_and_its_longer_form_are_one_value_not_a_disagreement():
    from retrieval.answerer.policy import _same_values
    from retrieval.answerer.question import analyse_question, typed_values

    q = analyse_question("Which region does the army say it still operates in?")
    short = typed_values(q, "The army said it still has troops in the Belgorod region.")
    longer = typed_values(q, "Officials reported operations in Russia's Belgorod Oblast.")
    assert _same_values(q, short, longer)
    assert not _same_values(q, {"john smith"}, {"jane smith"})


ROOF_CLAIM = ("Stadium roof complete, says club\n\n"
              "Westfield United chairman Paul Hart said the new stadium roof had been completed on schedule. "
              "Fans will be able to use the covered stand from next month, the club added.\n")
ROOF_DENIAL = ("Builders dispute roof claim\n\n"
               "The construction workers' union rejected Westfield United's claims that the stadium roof was "
               "finished. Work on the roof still goes on at the east end, union officials said, and scaffolding "
               "remains in place.\n")


def test_a_denial_that_names_the_claimant_is_paired_with_the_claimants_own_report(tmp_path):
    # The denying side says two things (the denial and that work goes on); the other side is the party its
    # denial names, Westfield United, in its own words, not a second sentence of the union's.
    from retrieval.answerer.stance import by_party, denied_party

    assert denied_party("The union rejected Westfield United's claims that the roof was finished.") == \
        {"westfield", "united"}
    assert denied_party("The union denied the report.") == set()  # names nobody
    assert "president" not in denied_party("Aides denied President Mary Cole's claim that she had resigned.")
    assert by_party({"westfield"}, "Westfield United chairman Paul Hart said the roof was done.")
    assert not by_party({"westfield"}, "Work goes on at the east end, union officials said.")
    e = Engine(Settings(data_dir=corpus(tmp_path, ("club", "Westfield Gazette", ROOF_CLAIM),
                                        ("union", "Building Weekly", ROOF_DENIAL))))
    r = e.answer("Is work on the stadium roof finished or still going on?")
    assert not r.abstained and r.contested, r.answer
    assert {s.doc for s in r.sources if any(s.n in t.citations for t in r.sentences)} == {"club", "union"}, r.answer
    assert any("Paul Hart" in s.text for s in r.sentences) and any("rejected" in s.text for s in r.sentences)


KEYNOTE = ("No new phone at the keynote\n\n"
           "Orchard Labs did not announce any new hardware at Monday's developer conference, focusing on software "
           "instead. New versions of its operating systems for phones, watches and tablets were announced at the "
           "conference, including OrchardOS 9 for the Orchard phone.\n")


def test_one_articles_own_narration_is_no_dispute():
    # "did not announce any new hardware" beside what it did announce: one article, no speakers on either side
    from retrieval.answerer.stance import denies

    assert not denies("Controllers not only returned the booster but caught it with two arms.")
    assert denies("Officials did not catch the booster.")


def test_a_yes_no_question_on_one_articles_narration_is_answered_without_disputed(tmp_path):
    e = Engine(Settings(data_dir=corpus(tmp_path, ("keynote", "Tech Daily", KEYNOTE))))
    r = e.answer("Did Orchard Labs announce a new phone at the conference?")
    assert not r.abstained and not r.contested and not r.answer.startswith("Disputed"), r.answer
    assert "did not announce any new hardware" in r.answer


FEST_A = ("Film festival tickets on sale\n\n"
          "Tickets for the Riverside Film Festival are $10 and go on sale at the box office on Friday.\n")
FEST_B = ("Festival passes return\n\n"
          "Festival passes are $200 and include admission to all ticketed events, organisers said.\n")
FLOOD_MON = ("Floods close 30 roads\n\n"
             "Flooding has closed 30 roads across the county, the highways office said on Monday.\n")
FLOOD_TUE = ("More roads shut by floods\n\n"
             "Flooding has now closed 45 roads across the county, the highways office said on Tuesday.\n")


def test_figures_about_two_things_or_one_outlets_update_are_no_disagreement(tmp_path):
    # "$10" for a ticket and "$200" for a pass answer "how much" about two things; and an outlet's later
    # article that raises its own count (30, then 45 roads) updates it rather than disputing it
    e = Engine(Settings(data_dir=corpus(tmp_path, ("a", "Riverside Post", FEST_A), ("b", "Valley News", FEST_B))))
    r = e.answer("How much do tickets for the Riverside Film Festival cost?")
    assert not r.abstained and not r.answer.startswith("Sources differ") and "$10" in r.answer, r.answer
    (tmp_path / "u").mkdir()
    e2 = Engine(Settings(data_dir=corpus(tmp_path / "u", ("mon", "County Times", FLOOD_MON),
                                         ("tue", "County Times", FLOOD_TUE))))
    r = e2.answer("How many roads have the floods closed?")
    assert not r.abstained and not r.answer.startswith("Sources differ") and not r.contested, r.answer
    # "No. 26" is a number, not a negation (it had made a ranking read as a denial)
    assert denies("There is no plan.") and not denies("It was named the No. 26 best company.")


DEAL_CLAIM = ("Ekwall stays at Rovers\n\n"
              "Rovers chairman Graham Pettifer said on Saturday that manager Tomas Ekwall had signed a new three-year "
              "contract with Rovers. Pettifer spoke at the club's end-of-season awards dinner.\n")
DEAL_DENIAL = ("Agent: nothing signed\n\n"
               "Ekwall's agent, Lena Marsh, denied that the Rovers manager had agreed a new deal, saying talks with "
               "the club were still going on. Ekwall led the side to fourth place this season.\n")


def test_a_claim_question_in_other_words_finds_both_sides_among_the_closest_sentences(tmp_path):
    # "sign a contract extension" is neither side's wording: the scorer's closest sentences hold the chairman's
    # report and the agent's denial, by two parties and about one thing
    r = disputed(tmp_path, "Did the Rovers boss sign a contract extension?",
                 ("claim", "Dunmore Gazette", DEAL_CLAIM), ("denial", "Northern Sportsline", DEAL_DENIAL))
    assert [s.side for s in r.sentences] == ["claim", "denial"]
    assert "Pettifer" in r.sentences[0].text and "denied" in r.sentences[1].text


def test_speakers_behind_auxiliaries_and_denial_verbs_and_their_affiliation():
    from retrieval.answerer.stance import affiliations, by_party

    # the denial verb names its speaker as "said" does, past an auxiliary
    assert speaker("Opposition councillor Rupert Vane has rejected the claim that the backlog was cleared.").name \
        == "Rupert Vane"
    assert speaker("The General Staff of Ukraine has dismissed Russian statements about a defeat.").name == \
        "The General Staff of Ukraine"
    # "X did one thing and said …": X speaks
    assert speaker("Putin congratulated the troops and said the offensive had failed.").name == "Putin"
    # the passages say whose side a bare surname is on
    known = affiliations(["Russian President Vladimir Putin spoke on Saturday.", "Mayor Ana Ruiz arrived."])
    assert {"russian", "vladimir"} <= known["putin"] and "mayor" not in known["ruiz"]
    assert by_party({"russian"}, "In a video statement, Putin claimed the region was retaken.", known)
    assert not by_party({"russian"}, "In a video statement, Putin claimed the region was retaken.")
    # a name elsewhere in the sentence is not its speaker
    assert not by_party({"russian"}, "After Putin spoke, the Ukrainian military said fighting went on.", known)


def test_disputing_a_denial_affirms_and_a_concession_denies_nothing():
    # "disputed the assurance that no jobs will go" says jobs will go
    assert not denies("The union has disputed the company's assurance that no jobs will go.")
    # two clauses that each deny stay a denial
    assert denies("Parents insisted the wing is not safe, and have dismissed the clean-up as rushed.")
    assert denies("The chief executive said none of the 340 workers would lose their jobs.")
    # "despite" concedes: the operation continues
    assert not denies("Officials reported that the operation continues despite challenges.")


CUTS_PROMISE = ("No job losses at Carrick bakery, says Halbrook\n\n"
                "Halbrook Foods chief executive Miriam Osei said on Thursday that none of the 340 workers at the "
                "Carrick bakery would lose their jobs when biscuit production moves to a new site in Westfield. "
                "The company makes biscuits and crackers.\n")
CUTS_DISPUTE = ("Union doubts Halbrook jobs pledge\n\n"
                "The bakers' union at Halbrook Foods has disputed the company's assurance that no jobs will go when "
                "biscuit production moves to Westfield, saying the new lines need far fewer workers. A meeting for "
                "workers is planned for next Tuesday.\n")


def test_a_denial_found_alone_is_given_with_the_dispute_of_it(tmp_path):
    # The closest sentence denies the question's claim (no one will lose their job); the other side disputes that
    # denial in other words, and the answer gives both, attributed.
    e = Engine(Settings(data_dir=corpus(tmp_path, ("co", "Carrick Business", CUTS_PROMISE),
                                        ("union", "Carrick Times", CUTS_DISPUTE))))
    r = e.answer("Will any Carrick bakery workers be laid off?")
    assert not r.abstained and r.contested and r.answer.startswith("Disputed"), r.answer
    assert {s.doc for s in r.sources if any(s.n in t.citations for t in r.sentences)} == {"co", "union"}, r.answer
    assert sorted(s.side for s in r.sentences) == ["claim", "denial"], r.sentences


def test_a_figure_with_a_thousands_comma_is_no_year_and_a_total_is_a_quantity():
    from retrieval.answerer.policy import asked_values
    from retrieval.answerer.question import analyse_question

    q = analyse_question("How many people marched through the town?")
    assert asked_values(q, "About 2,000 people marched through the town on Saturday.") == {2000.0}
    assert asked_values(q, "In 2000, people marched through the town.") == set()
    assert analyse_question("What was the rainfall total in the storm?").qtype == "quantity"
    assert analyse_question("What is the name of the mayor?").qtype != "quantity"
    assert analyse_question("How wide is the path of totality?").qtype == "quantity"


TROOPS = ("Why the US sends troops abroad\n\n"
          "President Ellen Marsh has approved the deployment of 3,000 troops to Poland and Romania. The deployments "
          "are a show of support to allies worried about the border. Defence spokesman Tom Kirby said on Wednesday "
          "that these forces are not going to fight in Ukraine. Exercises with partner nations are frequent.\n")


def test_a_claim_question_answered_by_someones_word_gives_it_attributed(tmp_path):
    # "Will the soldiers fight in Ukraine?": the closest sentence is a spokesman's "no"; it is given, cited and
    # attributed, even when the answer model (fitted on wh-questions) is unsure of it; one that no sentence
    # speaks to is declined
    e = Engine(Settings(data_dir=corpus(tmp_path, ("t", "World Desk", TROOPS))))
    r = e.answer("Will the soldiers fight in Ukraine?")
    assert not r.abstained and "Kirby" in r.answer and not r.contested, r.answer
    assert r.sentences[0].side == "denial" and r.sentences[0].speaker, r.sentences
    r = e.answer("Will the soldiers get a pay rise?")
    assert r.abstained, r.answer


def test_a_quote_attributed_with_he_or_she_names_the_speaker_of_the_sentence_before():
    from retrieval.answerer.stance import named_speaker

    before = "Its director, Lorcan Mabey, said volunteers had spotted three pollution incidents."
    quote = '"Twice we were able to trace the source to a single outflow pipe," he said.'
    # the name set off by commas before the verb is the speaker
    assert speaker(before).name == "Lorcan Mabey"
    assert named_speaker(quote, before) == ("Lorcan Mabey", quote.replace("he said", "Lorcan Mabey said"))
    # a reporting verb inside the quote is not its attribution
    told = '"The voters have told the Alliance that the days of secrecy are over," she said.'
    assert named_speaker(told, "Its leader, Councillor Beatrix Lowenna, said the party would seek talks.")[0] == \
        "Councillor Beatrix Lowenna"
    assert speaker('"It was a hard winter," said Amelia Thorogood, prosecuting.').name == "Amelia Thorogood"
    # nobody named before: the pronoun is left as it is and no speaker is claimed
    alone = '"It was bad," she said.'
    assert named_speaker(alone, "The council has prosecuted 11 landlords, figures show.") == ("", alone)
    assert named_speaker(alone) == ("", alone)
    # the sentence before is the quotation's own opening: the place it names is nobody's name
    rest = 'We want it to be the town\u2019s living room again," she said.'
    assert named_speaker(rest, '"For 160 years this was where Mossbury met.') == ("", rest)


def test_who_said_a_quote_attributed_with_she_is_answered_with_her_name(tmp_path):
    text = ("Residents' Party gains seats\n\n"
            "The Residents' Party now holds nine seats, and its leader, Councillor Beatrix Lowenna, said the party "
            "would seek talks with the Alliance about sharing power. \"The voters have told the Alliance that the "
            "days of deciding everything behind closed doors are over,\" she said.\n")
    e = Engine(Settings(data_dir=corpus(tmp_path, ("vote", "Harbridge Herald", text))))
    r = e.answer("Who said the days of deciding everything behind closed doors are over?")
    assert not r.abstained and "Beatrix Lowenna" in r.sentences[0].text, r.answer
    assert r.sentences[0].supported and r.sentences[0].speaker == "Councillor Beatrix Lowenna"


def test_a_denial_of_a_party_named_by_a_common_noun_is_paired_with_that_partys_claim():
    from retrieval.answerer.stance import denied_party

    # "denied union claims": nobody capitalised, the union is the party
    assert denied_party("Malden has denied union claims that it plans to close the brewery.") == {"union"}
    # a capitalised party is named as before, and common words beside it are not added
    assert denied_party("The General Staff refuted Russian military leadership's claims about the end.") == {"russian"}


FERRY_A = ("Ferries back after storm\n\n"
           "Ferries to Skellan Isle resumed on Monday after two days of cancellations, Skellan Ferries said. The "
           "island's shop was restocked that evening.\n")
FERRY_B = ("Storm Perrin: the damage\n\n"
           "Storm Perrin brought gusts of up to 94mph on Saturday night, tearing roofs from buildings and forcing "
           "the cancellation of all ferry sailings to Skellan Isle, the coastguard said.\n")


def test_yes_needs_every_source_given_to_state_the_claim_in_full(tmp_path):
    # the second outlet reports the ferries cancelled, not running again: no "Yes:" on two sources' word
    r = ask(tmp_path, "Are the ferries to Skellan Isle running again after the storm?",
            ("a", "Kestrel Bay Chronicle", FERRY_A), ("b", "Vale Courier", FERRY_B))
    assert not r.abstained and "resumed" in r.sentences[0].text, r.answer
    assert not r.answer.startswith(("Yes", "No")), r.answer


def test_how_far_compares_the_figures_given_in_a_length_not_every_figure_of_the_sentence():
    from retrieval.answerer.question import counted_words

    # "six hours" is in both sentences; the figures asked are the metres, which differ
    about = counted_words("How far did the river rise above its normal level?")
    a = "Fourteen people were treated after the river rose 4.2 metres above its normal level in less than six hours."
    b = "Forty-one people were treated after the river rose 5.1 metres above its normal level in less than six hours."
    assert quantities(a, about) == {4.2} and quantities(b, about) == {5.1}
    assert not same_quantity(quantities(a, about), quantities(b, about))
    assert quantities("The bridge has stood for 140 years.", counted_words("How old is the bridge?")) == {140.0}


class _Scores:
    """A scorer that puts the sentences holding `word` at `high`, those holding `middle`'s word at its score, and
    every other at `low`."""

    context = "none"

    def __init__(self, word, high, low, middle=("\0", 0.0)):
        self.word, self.high, self.low, self.middle = word, high, low, middle

    def scores(self, question, texts):
        import numpy as np

        return np.array([self.high if self.word in t else self.middle[1] if self.middle[0] in t else self.low
                         for t in texts], dtype=np.float32)


def test_a_why_question_is_answered_from_the_likely_sentence_whose_passage_holds_its_premise():
    from retrieval.answerer import extract
    from retrieval.types import Passage

    def passage(doc, text, title):
        return Passage(f"{doc}:0", doc, text, 0, len(text), "body", title, "Mossbury Herald", "2025-03-04")

    # the scorer's favourite gives a reason for something else, and its passage never says the hall shut
    pyke = passage("a", "Councillor Ambrose Pyke said the Corn Exchange will bring more people into the town centre "
                        "in the evenings after years of quiet nights.", "Corn Exchange to reopen")
    shut = passage("b", "The Corn Exchange was shut in 2021 after a section of plaster fell into the hall during a "
                        "craft fair.", "Corn Exchange reopens")
    scorer = _Scores("evenings", 0.95, 0.7)
    d = extract("why did the corn exchange have to shut", [pyke, shut], scorer=scorer, relevance=scorer)
    assert not d.abstained and d.picked[0].text.startswith("The Corn Exchange was shut"), d.notes
    # with no other passage holding the premise, the favourite is shown as what the articles report, unanswered
    d = extract("why did the corn exchange have to shut", [pyke], scorer=scorer, relevance=scorer)
    assert d.abstained and "does not mention shut" in d.notes[0]


def test_a_headline_answer_is_cited_from_the_body_sentence_that_states_the_same_value():
    from retrieval.answerer import extract
    from retrieval.types import Passage

    title = "Anand-Holt breaks course record as 6,800 run the Vale Marathon"
    body = ("A record 6,800 runners took part in Sunday's Vale Marathon, the organisers said. "
            "The race raised £210,000 for the county's hospice.")
    head = Passage("m:0", "m", title, 0, len(title), "heading", title, "Vale Courier", "2025-03-04")
    text = Passage("m:1", "m", body, len(title) + 2, len(title) + 2 + len(body), "body", title, "Vale Courier",
                   "2025-03-04")
    scorer = _Scores("course record", 0.9, 0.3, ("runners", 0.75))
    d = extract("how many people ran the vale marathon", [head, text], scorer=scorer, relevance=scorer)
    assert not d.abstained and d.picked[0].text.startswith("A record 6,800 runners"), [c.text for c in d.picked]
    # a body sentence with another figure does not replace it
    d = extract("how many people ran the vale marathon", [head, Passage("m:2", "m", body.split(". ")[1], 0, 40, "body",
                                                                   title, "Vale Courier", "2025-03-04")],
                scorer=scorer, relevance=scorer)
    assert not d.abstained and d.picked[0].text == title, [c.text for c in d.picked]


def test_a_negation_in_the_claims_own_content_is_not_the_questions_polarity_nor_a_denial():
    from retrieval.answerer.question import analyse_question
    from retrieval.answerer.stance import stance

    q = analyse_question("did merebrook really dump sewage in the callow when it hadn't even rained")
    assert not q.negated
    assert analyse_question("Didn't Russia retake Kursk?").negated
    assert analyse_question("Is it not true that the bridge is safe?").negated
    claim = ("Bartholomew Yeardley, chair of the Friends of the River Callow, claimed the storm overflow had "
             "discharged sewage even though no rain had fallen.")
    assert stance(q, claim) == "claim" and speaker(claim).name == "Bartholomew Yeardley"
    assert stance(q, "Merebrook Water has rejected claims that it released sewage when no rain had fallen.") == "denial"
    # contracted negations are negations
    assert denies("The company said it wasn't moving any jobs.") and denies("Ukraine’s army hasn’t left Kursk.")
    assert not denies("The trains will run again once the line has been repaired.")


SPILL_A = ("Sewage spills at Duncote\n\n"
           "Figures published by Merebrook show that the Duncote overflow spilled for 1,460 hours last year. "
           "The company plans to build a storage tank at the Duncote site by 2028.\n")
SPILL_B = ("River group demands answers\n\n"
           "Merebrook's own figures show that the overflow spilled for 1,640 hours last year. "
           "Campaigners want the regulator to act over the sewage, and campaigners say fish have died.\n")


def test_two_counts_of_the_thing_asked_differ_though_one_passage_words_the_rest_its_own_way(tmp_path):
    r = ask(tmp_path, "how many hours did the duncote sewage overflow spill for last year",
            ("a", "Tarrowby Post", SPILL_A), ("b", "Calderwick Gazette", SPILL_B))
    assert not r.abstained and r.contested and r.answer.startswith("Sources differ"), r.answer
    assert "1,460" in r.answer and "1,640" in r.answer
    assert {s.side for s in r.sentences} == {"1,460", "1,640"}


def test_a_money_questions_values_are_its_amounts_of_money_and_openings_lose_their_capital_only_when_common():
    from retrieval.answerer.compose import _capital_only_opening
    from retrieval.answerer.policy import asked_values
    from retrieval.answerer.question import analyse_question

    q = analyse_question("How much money is Wenlow Village School losing each year?")
    text = "The trust, which runs 11 schools, said the school had 62 pupils and a deficit of £185,000 a year."
    assert asked_values(q, text) == {185000.0}
    passage = "Campaigners have accused the firm. Putin said so. The campaigners met Putin in Kursk."
    assert _capital_only_opening("Campaigners have accused the firm.", passage)
    assert not _capital_only_opening("Putin said so.", passage)


GRIT_DENIAL = ("Council denies moor road was left ungritted\n\n"
               "Harbridge Council has denied claims that it failed to grit the hill road over Fenton Moor, where 60 "
               "cars were trapped by snow on Tuesday night. Its highways chief, Mara Quill, said two gritters had "
               "treated the road at 4pm.\n")
GRIT_CLAIM = ("Drivers stranded on Fenton Moor\n\n"
              "Dozens of drivers spent the night in their cars on Fenton Moor after heavy snow. "
              "Drivers claimed the hill road had not been gritted before the snow arrived.\n")


def test_a_denial_of_someones_claims_is_answered_beside_the_claimants_own_report(tmp_path):
    # "has denied claims that it failed to grit" and "had not been gritted" both read as denials of the
    # question's "did the council grit": the claim the council denies is the drivers'
    r = disputed(tmp_path, "Did the council grit the Fenton Moor road before the snow came?",
                 ("denial", "Vale Courier", GRIT_DENIAL), ("claim", "Harbridge Herald", GRIT_CLAIM))
    sides = {s.side: s.text for s in r.sentences}
    assert "Drivers claimed" in sides["claim"] and "has denied claims" in sides["denial"], sides


def test_a_quote_running_over_two_sentences_is_said_by_whom_the_sentence_before_it_opened_names(tmp_path):
    text = ("Patients praise new scanner\n\n"
            "Reginald Fothergill-Amadi, 71, was one of the first patients through the doors on Monday. "
            "\"I used to lose a whole day going to Crennock. This morning I was home before my tea had gone cold,\" "
            "he said.\n")
    r = ask(tmp_path, "Which patient said he was home before his tea had gone cold?",
            ("scan", "Pellingford Clarion", text))
    assert not r.abstained and "Reginald Fothergill-Amadi said" in r.answer, r.answer


def test_how_did_a_named_person_describe_something_is_answered_with_that_persons_words():
    from retrieval.answerer import extract
    from retrieval.types import Passage

    text = ("General Valery Gerasimov reported to President Vladimir Putin that the offensive in the region had "
            'been defeated. Putin congratulated the troops and said the offensive "has completely failed."')
    p = Passage("k:0", "k", text, 0, len(text), "body", "Putin hails end of offensive", "Kyiv Independent",
                "2025-04-26")
    scorer = _Scores("Gerasimov", 0.9, 0.3, ("congratulated", 0.89))
    d = extract("How did Putin describe the outcome of the offensive?", [p], scorer=scorer, relevance=scorer)
    assert not d.abstained and d.picked[0].text.startswith("Putin congratulated"), [c.text for c in d.picked]
    d = extract("How was the outcome of the offensive reported?", [p], scorer=scorer, relevance=scorer)
    assert not d.picked or d.picked[0].text.startswith("General Valery Gerasimov")
