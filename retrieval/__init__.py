"""newsqa's library: ingest articles, retrieve passages, answer with checked citations.

    from retrieval import answer
    result = answer("Who claimed Kursk was retaken?")
    print(result.answer, result.sources[0].outlet)
"""

from .api import Engine, answer, validate_question
from .config import Settings, load_settings
from .errors import NewsqaError
from .index import Index
from .types import Answer, Fallback, Passage, Sentence, Source

__all__ = ["Answer", "Engine", "Fallback", "Index", "NewsqaError", "Passage", "Sentence", "Settings", "Source",
           "answer", "load_settings", "validate_question"]
