"""The answerer's fitting script: labels, the yes/no forms, the abstention policy and the model file."""

import json

import numpy as np
import pytest

from evals.fit import per_instance_best, policy_threshold, states_answer
from retrieval.answering import AnswerModel
from retrieval.features import FEATURES


def test_labels_accept_the_answer_verbatim_or_with_all_its_words():
    assert states_answer("The Colorado Avalanche won the Stanley Cup.", ["Colorado Avalanche"])
    assert states_answer("Nichols played Lt. Nyota Uhura on Star Trek.", ["Lt. Nyota Uhura"])
    assert states_answer("Uhura, played by Nichols, became an icon; Lt. Nyota was her rank.", ["Lt. Nyota Uhura"])
    assert not states_answer("The Tampa Bay Lightning lost the final.", ["Colorado Avalanche"])
    assert states_answer("Some 60 percent of adults disapprove.", ["60%"])
    assert not states_answer("Some 6 percent of adults disapprove.", ["60%"])


def test_the_threshold_answers_most_while_abstaining_on_enough_questions_without_their_articles():
    # Five questions asked with their articles, five without: best probabilities and whether the best is right.
    kinds = np.array(["asked"] * 5 + ["removed"] * 5)
    best_p = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.6, 0.35, 0.2, 0.1, 0.05])
    best_ok = np.array([True, True, False, True, False] + [False] * 5)
    tau, curve = policy_threshold(best_p, best_ok, kinds, min_abstain=0.8)
    assert tau == pytest.approx(0.4)  # 0.35 would answer two of the five absent ones
    at = next(c for c in curve if c["threshold"] == tau)
    assert at["abstain_absent"] == pytest.approx(0.8) and at["accuracy"] == pytest.approx(3 / 5)


def test_the_best_sentence_of_each_instance():
    p = np.array([0.1, 0.7, 0.3, 0.9, 0.2])
    y = np.array([0, 1, 0, 0, 1])
    inst = np.array([0, 0, 0, 1, 1])
    best_p, best_ok = per_instance_best(p, y, inst, 2)
    assert best_p.tolist() == [0.7, 0.9] and best_ok.tolist() == [True, False]


def test_the_shipped_model_matches_the_features_and_records_how_it_was_fitted():
    from importlib import resources

    d = json.loads((resources.files("retrieval") / "data" / "answerer.json").read_text(encoding="utf-8"))
    m = AnswerModel.from_json(d)
    assert m.features == list(FEATURES) and len(m.coef) == len(FEATURES) and 0 < m.threshold < 1
    info = m.info["fitted_on"]
    assert info["split"] == "tuning" and set(info["years"]) <= {"2022", "2023"} and info["questions"] > 100
    assert m.info["out_of_fold"]["abstain_absent"] >= 0.8
    # probabilities are monotone in the model's score: more coverage of the question, all else equal, scores higher
    row = {f: float(mu) for f, mu in zip(m.features, m.mean)}
    more = dict(row, cov_sentence=row["cov_sentence"] + 0.3)
    assert m.probabilities([more])[0] != m.probabilities([row])[0]


def test_yes_no_forms_put_the_answer_into_the_question():
    from evals.fit import as_yes_no

    assert as_yes_no("Which team won the 2022 Stanley Cup?", "Colorado Avalanche") == \
        "Is it true that Colorado Avalanche won the 2022 Stanley Cup?"
    assert as_yes_no("Who was named Time's Person of the Year?", "Taylor Swift") == \
        "Is it true that Taylor Swift was named Time's Person of the Year?"
    assert as_yes_no("How many people attended?", "5,000") is None  # no "who/which X" to replace
    assert as_yes_no("Who won?", "") is None


def test_a_yes_no_question_is_answered_by_its_own_model_when_one_was_fitted():
    from retrieval.features import analyse_question

    def model(shift: float, threshold: float) -> AnswerModel:
        k = len(FEATURES)
        return AnswerModel(list(FEATURES), np.zeros(k), np.ones(k), np.full(k, 0.1), shift, threshold, {})

    wh, polar = model(-1.0, 0.3), model(2.0, 0.9)
    both = AnswerModel.from_json({**wh.to_json(), "yes_no": polar.to_json()})
    assert both.for_question(analyse_question("Did Ukraine capture Moscow?")).threshold == 0.9
    assert both.for_question(analyse_question("Who captured Moscow?")).threshold == 0.3
    assert wh.for_question(analyse_question("Did Ukraine capture Moscow?")) is wh  # none fitted: the one model
    assert AnswerModel.from_json(both.to_json()).yes_no is not None
