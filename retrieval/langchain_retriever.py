"""newsqa's hybrid search as a LangChain retriever, so its passages (with their article, outlet,
date and offsets) can feed any LangChain chain; the answering and the citation check stay newsqa's.

    from retrieval.langchain_retriever import NewsqaRetriever
    docs = NewsqaRetriever(k=5).invoke("Who praised the North Korean troops?")
    docs[0].metadata["doc"], docs[0].metadata["start"]
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from .api import Engine


class NewsqaRetriever(BaseRetriever):
    """Dense + BM25 passages fused by reciprocal rank, best first; filters as in `newsqa ask`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: Any = Field(default=None, description="a retrieval.Engine; one with the default settings if omitted")
    k: int | None = None
    outlet: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        from .api import validate_question

        if self.engine is None:
            self.engine = Engine()
        question = validate_question(query)
        self.engine.ensure_index()
        passages, _, _ = self.engine.retrieve(question, k=self.k, outlet=self.outlet, date_from=self.date_from,
                                              date_to=self.date_to)
        return [Document(page_content=p.text, id=p.id,
                         metadata={"doc": p.doc, "title": p.title, "outlet": p.outlet, "date": p.date, "url": p.url,
                                   "start": p.start, "end": p.end, "kind": p.kind, "rank": p.rank})
                for p in passages]
