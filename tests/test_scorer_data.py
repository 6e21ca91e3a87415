"""The scorer's training rows, built from invented articles shaped like RealTime QA's."""

import random

from evals.scorer_data import question_rows, synthetic_rows

HERALD = ("The Harbridge council approved its budget on Tuesday, raising bills by 4.99% from April. "
          "Council members voted after a long debate about library funding. "
          "The mayor said the vote was difficult but necessary for the town's finances. "
          "Residents will see the change on their bills from April.")
COURIER = ("Bills in Harbridge will rise by 4.99% from April after councillors backed the budget late on Tuesday. "
           "The decision followed weeks of argument over the future of the town's libraries. "
           "Opposition members said the rise would hurt families already struggling with costs.")
HERALD_LATER = ("Bills in Harbridge go up by 4.99% in April, the council confirmed after Tuesday's budget meeting. "
                "The mayor called the vote difficult.")


def _question(urls, question="By how much will council bills in Harbridge rise?", gold="4.99%"):
    return {"id": "q1", "week": "20220101", "question": question, "gold": gold, "evidence": "", "gcs_urls": urls}


def _articles():
    return {"https://www.herald.example/a": {"text": HERALD, "title": "Budget approved"},
            "https://courier.example/b": {"text": COURIER, "title": "Bills to rise"},
            "https://www.herald.example/c": {"text": HERALD_LATER, "title": "Budget"}}


def test_a_quiz_row_pairs_a_sentence_stating_the_answer_with_a_hard_negative_that_does_not():
    rows = list(question_rows(_question(["https://www.herald.example/a", "https://courier.example/b"]),
                              _articles(), random.Random(0)))
    assert rows
    for r in rows:
        assert "4.99%" in r["pos"]
        assert "4.99" not in r["neg"]


def test_a_synthetic_question_is_made_from_one_outlet_and_answered_by_another():
    rows = list(synthetic_rows(_question(["https://www.herald.example/a", "https://courier.example/b"]),
                               _articles(), random.Random(0), per_question=4))
    assert rows
    for r in rows:
        (e,) = r["answers"]
        # What the question asks for (a figure or a name both outlets give) is not in it; the positive, the other
        # outlet's sentence, states it; the hard negative, from the positive's article, does not.
        assert r["synthetic"] and e not in r["question"] and r["question"].endswith("?")
        assert e in r["pos"] and e not in r["neg"]
        assert (r["pos"] in HERALD) != (r["pos"] in COURIER)
        assert (r["neg"] in HERALD) == (r["pos"] in HERALD)
    assert any(r["answers"] == ["4.99%"] and r["question"].startswith("What percentage") for r in rows)


def test_no_synthetic_row_comes_from_two_articles_of_one_outlet():
    # The Herald's later article restates the figure in other words, but one outlet rewording itself is not the
    # cross-outlet paraphrase the rows are meant to teach.
    rows = list(synthetic_rows(_question(["https://www.herald.example/a", "https://www.herald.example/c"]),
                               _articles(), random.Random(0), per_question=4))
    assert rows == []
