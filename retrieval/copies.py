"""Syndicated copies: the same wire story run by several outlets is one source, not ten.

Each article gets a MinHash signature of its word 5-shingles (datasketch) when the
lexical index stores it; LSH bands of the signature, kept in SQLite beside the
chunks, find the earlier articles that may be copies in a few indexed lookups, so
adding an article never compares it with the whole corpus. A candidate counts as a
copy only if the two texts agree on every fact where they differ: the sentences
one copy changed must carry the same numbers and names. A copy that changed the
figure, the place or the person is another outlet's claim, and stays a source of
its own. Text only one copy has (a byline, a "Copyright" line, a local add-on) is
not a change.
"""

from __future__ import annotations

import difflib
import hashlib
import re

import numpy as np

from .sentences import split_spans
from .text import fold, numbers, words

NUM_PERM = 128
SHINGLE = 5  # words per shingle: long enough that unrelated news rarely shares one
# Jaccard similarity of shingle sets from which two texts are near-duplicates: Broder's (1997)
# customary 0.8, not fitted to any corpus. BANDS x ROWS is datasketch's MinHashLSH optimum for
# 0.8 with 128 permutations (equal weight on false positives and negatives): 9 bands of 13 rows.
THRESHOLD = 0.8
BANDS, ROWS = 9, 13
SEED = 1  # every process must draw the same permutations, or signatures would not compare


def signature(text: str) -> np.ndarray | None:
    """The MinHash of the text's word shingles; None for a text too short to have one."""
    tokens = [fold(w) for w in words(text)]
    if len(tokens) < SHINGLE:
        return None
    from datasketch import MinHash  # imported at ingest only: it pulls scipy (~0.35 s)

    mh = MinHash(num_perm=NUM_PERM, seed=SEED)
    mh.update_batch([" ".join(tokens[i:i + SHINGLE]).encode("utf-8") for i in range(len(tokens) - SHINGLE + 1)])
    return np.asarray(mh.hashvalues, dtype=np.uint32)


def bands(sig: np.ndarray) -> list[str]:
    """The LSH band keys of a signature: two texts share a key with probability ~ J**ROWS per band."""
    return [f"{b}:{hashlib.blake2b(sig[b * ROWS:(b + 1) * ROWS].tobytes(), digest_size=8).hexdigest()}"
            for b in range(BANDS)]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """MinHash's estimate of the Jaccard similarity of the two shingle sets."""
    return float(np.count_nonzero(a == b)) / len(a)


def same_story(a: str, b: str) -> bool:
    """Do two near-identical texts tell the same facts? Their changed sentences must state the same
    numbers and names; sentences only one of them has are extra text, not a contradiction."""
    sa, sb = _sentences(a), _sentences(b)
    matcher = difflib.SequenceMatcher(None, [_key(s) for s in sa], [_key(s) for s in sb], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "replace" and not same_facts(" ".join(sa[i1:i2]), " ".join(sb[j1:j2])):
            return False
    return True


def same_facts(a: str, b: str) -> bool:
    """Two texts state the same facts if they hold the same numbers and the same names."""
    return numbers(a) == numbers(b) and names(a) == names(b)


def names(text: str) -> set[str]:
    """Capitalised words not at a sentence start: the names a text mentions, by their shape."""
    return {fold(w) for w in re.findall(r"(?<=[\w,] )[^\W\d_][\w'’-]*", text) if w[0].isupper()}


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_spans(text)]


def _key(sentence: str) -> str:
    return " ".join(fold(w) for w in words(sentence))
