"""What a candidate is worth while mining prunes (``ltmc.mining``, step 3): the
fewest-token segmentation of every word form over shrinking candidate sets, and the
cover of the sampled text by pieces and bonds that prices each bond by where the
encoder would use it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ltmc.vocab import MAX_TOKEN_CHARS
from ltmc.corpus_counts import MAX_BOND_PIECES, native, word_core

class Segmenter:
    """Fewest-token segmentation of word forms over candidate sets that shrink.

    With the C extension the sets are mirrored in two tries, so that a segmentation
    walks them instead of slicing and looking up every substring.
    """

    def __init__(self, start: set[str], cont: set[str]) -> None:
        self.start, self.cont = start, cont
        self._tries = None
        if native is not None:
            self._tries = native.candidate_tries(list(start), list(cont), MAX_TOKEN_CHARS)

    def discard(self, role: str, unit: str) -> None:
        (self.cont if role == "cont" else self.start).discard(unit)
        if self._tries is not None:
            native.discard_candidate(self._tries, role == "cont", unit)

    def segment(self, word: str, without: str | None = None, from_cont: bool = False) -> list[str]:
        """Units of ``word``: one start unit (a continuation with ``from_cont``),
        then continuations; never ``without``."""
        if self._tries is not None:
            return native.segment_candidates(self._tries, word, without, from_cont)
        return self.py_segment(word, without, from_cont)

    def py_segment(self, word: str, without: str | None = None, from_cont: bool = False) -> list[str]:
        first = self.cont if from_cont else self.start
        n = len(word)
        inf = 4 * n + 4
        cost = [inf] * (n + 1)
        back = [("", 0)] * (n + 1)
        for end in range(1, min(n, MAX_TOKEN_CHARS) + 1):
            unit = word[:end]
            if unit in first and unit != without:
                cost[end], back[end] = 1, (unit, 0)
        for end in range(2, n + 1):
            for begin in range(max(1, end - MAX_TOKEN_CHARS), end):
                if cost[begin] + 1 < cost[end]:
                    unit = word[begin:end]
                    if unit in self.cont and unit != without:
                        cost[end], back[end] = cost[begin] + 1, (unit, begin)
            if cost[end] >= inf:  # a character outside the candidates: spelled in bytes
                cost[end], back[end] = cost[end - 1] + 2, (word[end - 1], end - 1)
        out = []
        end = n
        while end:
            unit, end = back[end]
            out.append(unit)
        return out[::-1]


class Segmentations:
    """Every word form's fewest-token segmentation (``split``), each unit's uses in
    the corpus (``usage``) and its uses as a whole word (``alone``), kept up to date
    as units are dropped.

    Dropping units can only change the segmentation of words that used one of
    them, so only those are segmented again, found by an index from unit to the
    words whose segmentation used it since it was added. A word segmented again
    stays listed under units it no longer uses and is skipped when one of them is
    dropped: lists with such leftovers take a third of the memory of exact sets.
    """

    def __init__(self, words: Counter, segmenter: Segmenter, endings: frozenset[str] | None = None) -> None:
        """``endings``: segment for pairs (``_segment_for_pairs``), preferring these continuations."""
        self.words, self.segmenter, self.endings = words, segmenter, endings
        self._segment = segmenter.segment if endings is None else self._segment_for_pairs
        self.split = {word: self._segment(word) for word in words}
        self.usage: Counter[str] = Counter()
        self.alone: Counter[str] = Counter()
        self._users: dict[str, list[str]] = {}
        for word, units in self.split.items():
            if len(units) == 1:
                self.alone[units[0]] += words[word]
            for unit in units:
                self.usage[unit] += words[word]
                self._users.setdefault(unit, []).append(word)

    def drop(self, dropped: set[str]) -> list[str]:
        """Segment again the words that used a unit of ``dropped`` (texts, already
        discarded from the segmenter); returns those whose token count changed."""
        recounted = []
        for word in set().union(*(self._users.pop(unit, ()) for unit in dropped)):
            n, before = self.words[word], self.split[word]
            if dropped.isdisjoint(before):
                continue  # listed under a unit it no longer uses
            for unit in before:
                self.usage[unit] -= n
            if len(before) == 1:
                self.alone[before[0]] -= n
            units = self.split[word] = self._segment(word)
            if len(units) == 1:
                self.alone[units[0]] += n
            for unit in units:
                self.usage[unit] += n
                if unit not in before or unit in dropped:  # a text dropped in one role, kept in the other
                    self._users.setdefault(unit, []).append(word)
            if len(units) != len(before):
                recounted.append(word)
        return recounted

    def _segment_for_pairs(self, word: str) -> list[str]:
        """Fewest positions, and of those the most units. A start and one continuation
        take one position, as the whole form does; spelled so, the form shows that its
        id saves nothing, and its start and continuation are seen to be used. Of such
        splits, the longest start whose continuation is an ending, else the longest
        start (on bench/compression.py's split, 0.6% fewer positions at 8192 and at
        32768 ids than the longest start alone)."""
        units = self.segmenter.segment(word)
        if len(units) == 1:
            start, cont = self.segmenter.start, self.segmenter.cont
            cuts = [cut for cut in range(len(word) - 1, 0, -1) if word[:cut] in start and word[cut:] in cont]
            cut = next((cut for cut in cuts if word[cut:] in self.endings), cuts[0] if cuts else None)
            if cut is not None:
                return [word[:cut], word[cut:]]
        return units


class PieceKeys(dict):
    """Each piece as the codebook stores it, computed on first use: a word as its
    form, without the space and sentence capital that are implied; anything else as
    it is (no form begins like one of those). A bond is stored with its head piece
    so, and a piece's cost on its own depends on it."""

    def __init__(self, form_of: dict[str, str]) -> None:
        super().__init__()
        self.form_of = form_of

    def __missing__(self, piece: str) -> str:
        core = word_core(piece)
        key = self[piece] = self.form_of.get(core, core) if core[:1].isalnum() else piece
        return key


class PieceCost(dict):
    """Tokens of a piece on its own under the current candidates, computed on first use."""

    def __init__(self, split: dict[str, list[str]], keys: PieceKeys, literal_cost, word_cost) -> None:
        super().__init__()
        self.split, self.keys, self.literal_cost, self.word_cost = split, keys, literal_cost, word_cost

    def __missing__(self, piece: str) -> int:
        key = self.keys[piece]
        cost = self[piece] = self.word_cost(len(self.split[key])) if key[:1].isalnum() else self.literal_cost(piece)
        return cost


class BondCover:
    """Where the encoder would use each bond: its cover of the sample.

    Bonds overlap (", что" inside ", что он"), so a bond's count overstates what it
    saves. As the encoder does, each sampled chunk is covered left to right by the
    longest bond that starts at each piece, or the piece alone; a bond's uses are
    the places that cover takes it, and what it saves at each is the tokens of the
    cover of its own pieces without it, less one.

    The pool shrinks round by round. Which bonds a cover takes depends on the pool
    alone, so only the runs where a dropped bond could start are covered again; a
    bond's own cover is kept until a bond in it is dropped or one of its pieces
    changes cost (``forget``).
    """

    def __init__(self, sample: list[tuple[str, ...]], pool: dict[str, int], keys: PieceKeys) -> None:
        """``sample``: the pieces of each sampled chunk."""
        # Runs of pieces that bonds may join, each with the bonds starting at each position.
        self.runs: list[tuple[tuple[str, ...], dict[int, list[tuple[int, str]]]]] = []
        self.inner: dict[str, tuple[tuple[str, ...], dict[int, list[tuple[int, str]]]]] = {}
        self.seen: Counter[str] = Counter()  # occurrences of each bond in the sample
        self.pool = pool
        for parts in sample:
            spans = self._spans(parts, pool, keys)
            self.seen.update(text for found in spans.values() for _, text in found)
            self.runs.extend(self._runs(parts, spans))
            for begin, found in spans.items():
                for step, text in found:
                    if text not in self.inner:
                        own = parts[begin : begin + step]
                        inner = self._spans(own, pool, keys)
                        inner[0] = [(k, t) for k, t in inner[0] if k < step]
                        self.inner[text] = (own, inner)
        self.used = [self._cover(parts, spans, pool)[1] for parts, spans in self.runs]
        self.uses = Counter(text for used in self.used for text in used)
        # Lists, not sets, in these indexes: a tenth of the memory (ru/: ~57 MB of
        # sets), and a repeat costs no more than a second look.
        self.runs_of: dict[str, list[int]] = {}
        for index, (_, spans) in enumerate(self.runs):
            for found in spans.values():
                for _, text in found:
                    self.runs_of.setdefault(text, []).append(index)
        # What each bond's own cover depends on: its pieces' keys, and the bonds inside it.
        self.by_piece: dict[str, list[str]] = {}
        self.by_bond: dict[str, list[str]] = {}
        for text, (own, inner) in self.inner.items():
            for part in own:
                self.by_piece.setdefault(keys[part], []).append(text)
            for found in inner.values():
                for _, other in found:
                    self.by_bond.setdefault(other, []).append(text)
        self.own_cost: dict[str, int] = {}

    @staticmethod
    def _spans(parts, pool, keys) -> dict[int, list[tuple[int, str]]]:
        """Per position, the bonds of ``pool`` that start there, longest first."""
        spans: dict[int, list[tuple[int, str]]] = {}
        n = len(parts)
        for begin in range(n - 1):
            text, found = keys[parts[begin]], []
            for end in range(begin + 1, begin + MAX_BOND_PIECES):
                if end == n:
                    break
                text += parts[end]
                if text in pool:
                    found.append((end + 1 - begin, text))
            if found:
                spans[begin] = found[::-1]
        return spans

    @staticmethod
    def _runs(parts, spans):
        """Cut a chunk where no bond crosses: the cover of each run is independent."""
        reach = begin = 0
        for i in range(len(parts) + 1):
            if i == reach and i > begin:
                if any(b in spans for b in range(begin, i)):
                    yield parts[begin:i], {b - begin: spans[b] for b in range(begin, i) if b in spans}
                begin = i
            if i < len(parts):
                reach = max(reach, i + 1, *(i + step for step, _ in spans.get(i, ())))

    @staticmethod
    def _cover(parts, spans, pool, piece_cost=None) -> tuple[int, list[str]]:
        """Tokens for ``parts`` (given ``piece_cost``) and the bonds used, matched as
        the encoder matches them: left to right, the longest bond in ``pool`` that
        starts at each piece."""
        cost, used = 0, []
        i, n = 0, len(parts)
        while i < n:
            for step, text in spans.get(i, ()):  # longest first
                if text in pool:
                    cost += 1
                    used.append(text)
                    i += step
                    break
            else:
                if piece_cost is not None:
                    cost += piece_cost[parts[i]]
                i += 1
        return cost, used

    def forget(self, bonds: Iterable[str], piece_keys: Iterable[str]) -> None:
        """Take account of bonds dropped from the pool and of pieces whose cost changed."""
        runs: set[int] = set()
        stale: set[str] = set()
        for text in bonds:
            runs.update(self.runs_of.get(text, ()))
            stale.update(self.by_bond.get(text, ()))
        for key in piece_keys:
            stale.update(self.by_piece.get(key, ()))
        for index in runs:
            self.uses.subtract(self.used[index])
            self.used[index] = self._cover(*self.runs[index], self.pool)[1]
            self.uses.update(self.used[index])
        for text in stale:
            self.own_cost.pop(text, None)

    def savings(self, piece_cost) -> dict[str, float]:
        """bond → tokens it saves on the corpus: its count × the share of its sampled
        occurrences that the cover takes × (tokens of its pieces without it − 1)."""
        out = {}
        for text, count in self.pool.items():
            uses = self.uses[text]
            if uses:
                own = self.own_cost.get(text)
                if own is None:
                    own = self.own_cost[text] = self._cover(*self.inner[text], self.pool, piece_cost)[0]
                out[text] = count * uses / self.seen[text] * (own - 1)
            else:
                out[text] = 0
        return out
