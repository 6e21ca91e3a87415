"""Follow-ups understood offline: the previous turn's names join the search when the question leans on it."""

from retrieval.followup import contextual_query, needs_context

PREVIOUS = ("Who briefed Putin that Kursk had been cleared? Russian Armed Forces Chief of General Staff "
            "Valery Gerasimov reported to Russian President Vladimir Putin that Russian forces had liberated Kursk.")


def test_a_question_that_refers_back_gets_the_previous_turns_names():
    q = contextual_query("And did the Ukrainians agree with him?", PREVIOUS)
    assert q.startswith("And did the Ukrainians agree with him?")
    assert "Valery Gerasimov" in q and "Kursk" in q


def test_a_self_contained_question_is_left_alone():
    assert not needs_context("Who won the 2024 Tour de France?")
    assert contextual_query("Who won the 2024 Tour de France?", PREVIOUS) == "Who won the 2024 Tour de France?"
    assert contextual_query("And did he agree?", None) == "And did he agree?"


def test_names_the_question_already_has_are_not_repeated():
    q = contextual_query("What did Gerasimov say about them?", PREVIOUS)
    assert q.count("Gerasimov") == 1 and "Kursk" in q


def test_an_engine_follow_up_searches_with_the_previous_turn(shared_engine):
    first = shared_engine.answer("Who reported to Putin that Kursk had been liberated?")
    r = shared_engine.answer("And did the Ukrainians agree with him?", previous=f"{first.question} {first.answer}")
    assert any("follow-up" in n for n in r.notes)
    assert any("Gerasimov" in p.text or "Putin" in p.text for p in r.retrieved[:3])
