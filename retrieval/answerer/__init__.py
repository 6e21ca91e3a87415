"""The extractive answerer, one step a module, each callable on its own:

- `question`: what a question asks for (`analyse_question`) and what a sentence holds (`answer_spans`);
- `candidates`: the sentences of the retrieved passages that may be quoted;
- `scorer`: the fine-tuned MiniLM bi-encoder's cosine between the question and each sentence;
- `features`: `featurize()`, every feature the answer model weighs;
- `model`: the fitted logistic model and its calibrated confidence;
- `policy`: which sentences answer, or whether to abstain, and the notes that say why;
- `compose`: the numbered, attributed, support-checked answer text.
"""

from .candidates import Candidate, split_candidates
from .compose import check_support, compose, make_source, source_label
from .model import AnswerModel, MissingFeature, default_model
from .policy import ABSTAIN_TEXT, Draft, extract
from .question import QuestionInfo, analyse_question, answer_spans
from .scorer import SentenceScorer, default_relevance, default_scorer

__all__ = ["ABSTAIN_TEXT", "AnswerModel", "Candidate", "Draft", "MissingFeature", "QuestionInfo", "SentenceScorer",
           "analyse_question", "answer_spans", "check_support", "compose", "default_model", "default_relevance", "default_scorer",
           "extract", "make_source", "source_label", "split_candidates"]
