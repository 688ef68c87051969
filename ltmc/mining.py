"""Learn a codebook from a corpus under a vocabulary budget.

1. Count pieces, and runs of two to four pieces (n-grams), a few lines at a
   time so that a run may span a line break. Words are counted without their
   leading space and, where the lower-case spelling also occurs, without a
   sentence-initial capital: the codebook implies both. Keep a sample of these
   chunks of lines, chosen by their hash.
2. Gather candidates: every character; punctuation and whitespace runs; word
   forms, their stems (pymorphy3; of the 200,000 most frequent forms, on ru/
   every one) and prefixes as start tokens; endings and word-final and inner
   pieces as continuation tokens (prefixes, pieces and characters only if they
   occur at least 3 times per id of the budget; a rarer character takes an
   id only if some are left over); hyperbonds.
3. Prune by Viterbi counts, as a unigram tokenizer is trained: segment every
   word form with the fewest tokens, and price each token by what losing it
   would cost its uses. By default (``objective="likelihood"``) that is the
   log-likelihood they lose under a unigram model of the current uses:
   uses × (−log p of its best spelling without it + log p(token)); with
   ``objective="tokens"``, the tokens they gain: uses × (tokens of that
   spelling − 1). Drop the cheapest part and repeat until the budget is met.
   A hyperbond is priced by the tokens it saves (at the mean nats of a token
   under the likelihood objective), with its uses found as the encoder finds
   them: the sampled chunks are covered by pieces and bonds, the longest bond
   first, left to right, and a bond's count is scaled by the share of its
   sampled occurrences that the cover takes. Mined for pairs (``paired``),
   costs are counted in paired positions (``ltmc.pairing``) instead of tokens.

   The likelihood objective keeps more whole forms and fewer inner pieces: its
   ids carry 1.3 % fewer bytes, yet a model trained on them reached fewer bits
   per byte on unseen authors (docs/benchmarks.md, "Training").
4. Count the ids the finished codebook spells every word form with, as often as
   the form occurs: its counts, by which the encoder takes the likeliest of
   equally short spellings (``ltmc.codebook``).

Step 1 is ``ltmc.corpus_counts`` (bounded: the tables are pruned of their rarest
entries whenever they grow past a cap, so memory does not grow with the corpus);
step 3 prices units with ``ltmc.segmenting``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from ltmc.codebook import Codebook
from ltmc.corpus_counts import CorpusCounts, slice_counts, storable, word_core
from ltmc.errors import ExitCode, LtmcError
from ltmc.pretokenize import pieces
from ltmc.segmenting import BondCover, PieceCost, PieceKeys, Segmentations, Segmenter
from ltmc.stages import StageMap, analyse_all
from ltmc.vocab import DEFAULT_SPECIALS, FIRST_FREE_ID, MAX_TOKEN_CHARS, check_specials, unique_entries

MIN_COUNT = 2  # a unit seen once saves nothing on the corpus it was mined from
# Analyse this many most frequent forms for stems and endings: on ru/ every form.
# The stems of rare forms are what a rare word is best spelled with: against the
# 10,000 most frequent, a small model reached 1.4 % fewer bits per byte on unseen
# authors at 8192 ids and 1.1 % at 32768, though mine-bonds takes about 1.7× as
# long (docs/benchmarks.md).
MORPH_FORMS = 200_000
# Prefixes and inner pieces rarer than this many word occurrences per id of the
# budget are not candidates: they rarely pay for their id, and where they do on
# the mining corpus they tend to be one author's names. With every form's stems
# as candidates 3 is best: a small model reached 0.3 % fewer bits per byte on
# unseen authors than with 1.5 at 8192 ids and 0.7 % at 32768; 6 was worse.
PIECE_MIN_SHARE = 3.0
# Mined for pairs, a prefix that makes a stem beside an ending saves a position
# where a whole form would, and rarer ones pay: 0.5 gives 0.2% fewer positions
# at 8192 ids and 0.6% at 32768 than 1.5 (0.25 and 0.75 are between the two).
PAIRED_PIECE_MIN_SHARE = 0.5
MIN_PIECE_COUNT = 20  # and never rarer than this
SHRINK = 0.6  # share of the surplus candidates dropped per pruning round
OBJECTIVES = ("likelihood", "tokens")


def _tokens(n_units: int) -> int:
    return n_units


def _positions(n_units: int) -> int:
    """Positions a word of ``n_units`` takes paired (``ltmc.pairing``): its start
    shares one with the first continuation, every further one takes its own."""
    return max(1, n_units - 1)


@dataclass
class MiningReport:
    vocab_size: int
    budget: int
    filled: bool
    objective: str
    kinds: Counter = field(default_factory=Counter)


def _least(keyed: dict, values: np.ndarray, count: int) -> list:
    """The keys of ``keyed`` with the ``count`` least ``values`` (one per key, in its
    order), ties going to the least key: the head of a sort by (value, key), in no
    set order, found by a partition rather than a sort."""
    keys = list(keyed)
    if count >= len(keys):
        return keys
    cut = np.partition(values, count - 1)[count - 1]
    chosen = [keys[i] for i in np.flatnonzero(values < cut)]
    tied = sorted(keys[i] for i in np.flatnonzero(values == cut))
    return chosen + tied[: count - len(chosen)]


def _by_count(counter: Counter) -> list:
    """Most frequent first, ties in a fixed order: what is mined must not depend on
    the order the texts came in."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _literal_kind(text: str) -> str:
    return "space" if text.isspace() else "punct"


def mine(
    texts: Iterable[str],
    vocab_size: int,
    progress=None,
    paired: bool = False,
    specials: Iterable[str] = DEFAULT_SPECIALS,
    bonds: bool = True,
    objective: str | None = None,
    stage_map: StageMap = map,
    count_power: float = 1.0,
) -> tuple[Codebook, MiningReport]:
    counts = CorpusCounts()
    for text in texts:
        counts.add(text)
        if progress:
            progress(len(text.encode("utf-8", "surrogateescape")))
    return mine_from_counts(counts, vocab_size, paired, specials, bonds, objective, stage_map, count_power)


def _word_counts(counts: CorpusCounts, sample: list[tuple[str, ...]], count_power: float = 1.0) -> tuple[Counter, Counter, dict[str, str]]:
    """Word forms as the codebook sees them (each count raised to ``count_power``),
    literal pieces, and piece → form."""
    # Bonds are priced on the sample (its chunks' pieces) by the cost of each piece,
    # so every piece in it needs a count; one that pruning dropped was rare.
    missing = {piece for parts in sample for piece in parts} - counts.pieces.keys()
    piece_counts = counts.pieces
    if missing:
        piece_counts = dict(counts.pieces)
        piece_counts.update(dict.fromkeys(missing, 1))
    words: Counter[str] = Counter()
    literals: Counter[str] = Counter()
    for piece, n in piece_counts.items():
        core = word_core(piece)
        if core[:1].isalnum():
            words[core] += n
        elif storable(piece):
            literals[piece] += n
    form_of = {}
    for word in list(words):
        lower = word[:1].lower() + word[1:]
        if lower != word and lower in words:
            form_of[word] = lower
    for word, lower in form_of.items():
        words[lower] += words.pop(word)
    if count_power != 1.0:
        words = Counter({word: max(1, round(n**count_power)) for word, n in words.items()})
    return words, literals, form_of


def mine_from_counts(
    counts: CorpusCounts,
    vocab_size: int,
    paired: bool = False,
    specials: Iterable[str] = DEFAULT_SPECIALS,
    bonds: bool = True,
    objective: str | None = None,
    stage_map: StageMap = map,
    count_power: float = 1.0,
) -> tuple[Codebook, MiningReport]:
    """The codebook that spells the counted corpus likeliest under a unigram model
    of its ids (``objective="likelihood"``, the default), in the fewest ids
    (``"tokens"``), or with ``paired`` in the fewest paired positions
    (``ltmc.pairing``). Its ``specials`` (BOS, EOS, PAD and the caller's) take the
    last ids of ``vocab_size``. Without ``bonds`` no run of pieces is a candidate:
    a model trained on such ids reached fewer bits per byte at equal compute
    (docs/benchmarks.md, "Training"). The word forms are analysed by
    ``stages.analyse_forms`` run by ``stage_map``: an engine's spreads them over
    its workers. ``count_power`` below 1 weighs each form by its count to that
    power, so that ids go from common whole forms to the stems and pieces that
    spell rarer ones: 0.7 gave a small model fewer bits per byte on unseen authors
    once it trained on twice the text or more (docs/benchmarks.md, "Training")."""
    objective = _check_objective(objective, paired)
    if not 0 < count_power <= 1:
        raise LtmcError(f"--count-power must be in (0, 1], not {count_power}", ExitCode.USAGE)
    specials = check_specials(specials)
    budget = vocab_size - FIRST_FREE_ID - len(specials)
    if budget < 0:
        raise LtmcError(f"--vocab-size {vocab_size} is too small: the bytes, markers and {len(specials)} special tokens take {FIRST_FREE_ID + len(specials)} ids", ExitCode.USAGE)
    sample = [tuple(pieces(chunk)) for chunk in counts.sample]
    words, literals, form_of = _word_counts(counts, sample, count_power)
    share = PAIRED_PIECE_MIN_SHARE if paired else PIECE_MIN_SHARE
    min_piece = max(MIN_PIECE_COUNT, share * words.total() / max(budget, 1))
    fixed, rarer_chars = _characters(words, literals, budget, min_piece)
    start, cont = _unit_candidates(words, min_piece, stage_map)
    for char in (c for kind, c in fixed if kind in ("stem", "suffix")):
        start.pop(char, None)
        cont.pop(char, None)
    keys = PieceKeys(form_of)
    pruning = _Pruning(
        words=words,
        start=start,
        cont=cont,
        letters={c for kind, c in fixed if kind == "stem"},
        literals={p: n for p, n in literals.items() if n >= MIN_COUNT and len(p) > 1},
        bonds=_bond_candidates(counts, keys) if bonds else Counter(),
        sample=sample,
        keys=keys,
        budget=budget,
        room=budget - len(fixed),
        paired=paired,
        likelihood=objective == "likelihood",
    )
    loss, reserve = pruning.run()
    kind_of = {"start": start, "cont": cont}

    def entry(role: str, unit: str) -> tuple[str, str]:
        if role in kind_of:
            return kind_of[role][unit], unit
        return (_literal_kind(unit) if role == "literal" else "bond"), unit

    def best_first(units) -> list[tuple[str, str]]:
        return [entry(*key) for key, value in sorted(units, key=lambda kv: (-kv[1], kv[0])) if value > 0]

    # The kept units, then the dropped ones and the rarer characters for any ids
    # left: a unit may share its text with another (a bond of whitespace pieces
    # ("\n", "\n") and the piece "\n\n" that ends a text), and one id serves both.
    candidates = fixed + best_first(loss.items()) + best_first(kv for kv in reserve.items() if kv[0] not in loss) + rarer_chars
    book = Codebook.from_entries(islice(unique_entries(candidates), budget), specials=specials)
    book = book.with_counts(_usage(book, words))
    report = MiningReport(len(book), vocab_size, filled=len(book) == vocab_size, objective=objective)
    report.kinds.update(t.kind for t in book.tokens)
    return book, report


def default_objective(paired: bool) -> str:
    """What mining prunes by unless told: ``likelihood`` for ids, ``tokens`` (positions) for pairs."""
    return "tokens" if paired else "likelihood"


def _check_objective(objective: str | None, paired: bool) -> str:
    if objective is None:
        return default_objective(paired)
    if objective not in OBJECTIVES:
        raise LtmcError(f"unknown mining objective {objective!r}: use one of {', '.join(OBJECTIVES)}", ExitCode.USAGE)
    if paired and objective != "tokens":
        raise LtmcError("mined for pairs, the objective is the fewest positions: use --objective tokens, or mine without --paired", ExitCode.USAGE)
    return objective


def _usage(book: Codebook, words: Counter) -> np.ndarray:
    """How often the encoder uses each id to spell the corpus's word forms, each as
    often as it occurs: the counts that break its ties between spellings of as few
    ids (``Codebook.with_counts``). Each form is spelled alone, as a scene: a form in
    lower case takes FLIP there, and the same ids after it as in running text."""
    forms = list(words)
    ids, _ = book.encode_scenes(forms)
    per_form = np.diff(ids.offsets.to_numpy(zero_copy_only=False))
    occurrences = np.repeat(np.fromiter(words.values(), np.int64, len(forms)), per_form)
    usage = np.bincount(ids.values.to_numpy(zero_copy_only=False), weights=occurrences, minlength=len(book))
    return usage.astype(np.int64)


def _characters(words: Counter, literals: Counter, budget: int, min_piece: float) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The characters that always get an id, and the rarer ones, which get one only if ids are left over.

    A common character is always kept: with it no common text falls back to bytes.
    A rarer one, like any piece, only if it pays for its id (at 8192 ids this frees
    ~160 ids that Latin, Greek and accented letters held: 0.3% fewer tokens on
    unseen authors, none at 32768); otherwise it gets one only if ids are left over."""
    chars: Counter[str] = Counter()
    for word, n in words.items():
        for char in word:
            chars[char] += n
    for piece, n in literals.items():
        for char in piece:
            chars[char] += n
    fixed: list[tuple[str, str]] = []
    rarer_chars: list[tuple[str, str]] = []  # rare, or past a quarter of the budget
    for char, n in _by_count(chars):
        if n < MIN_COUNT or not storable(char):
            continue
        entries = [("stem", char), ("suffix", char)] if char.isalnum() else [(_literal_kind(char), char)]
        if len(fixed) < budget // 4 and n >= min_piece:
            fixed += entries
        else:
            rarer_chars += entries
    return fixed, rarer_chars


def _unit_candidates(words: Counter, min_piece: float, stage_map: StageMap) -> tuple[dict[str, str], dict[str, str]]:
    """Start and continuation candidates, each with the kind it would be stored as:
    word forms, stems and prefixes; endings, inner and word-final pieces."""
    start: dict[str, str] = {}
    cont: dict[str, str] = {}
    for word, n in words.items():
        if n >= MIN_COUNT and len(word) > 1 and len(word) <= MAX_TOKEN_CHARS:
            start[word] = "word"
    for stem, ending in _stems_and_endings(_by_count(words)[:MORPH_FORMS], stage_map):
        if ending and len(stem) > 1:
            start.setdefault(stem, "stem")
            cont.setdefault(ending, "ending")
        elif ending:
            cont.setdefault(ending, "ending")
    piece_counts, inner_counts = slice_counts(words)
    for unit, n in piece_counts.items():
        if n >= min_piece:
            start.setdefault(unit, "stem")
    for unit, n in inner_counts.items():
        if n >= min_piece:
            cont.setdefault(unit, "suffix")
    return start, cont


def _stems_and_endings(counted: list[tuple[str, int]], stage_map: StageMap) -> Iterator[tuple[str, str]]:
    for batch in analyse_all(counted, stage_map):
        yield from zip(batch.column("stem").to_pylist(), batch.column("ending").to_pylist())


def _bond_candidates(counts: CorpusCounts, keys: PieceKeys) -> Counter[str]:
    bonds: Counter[str] = Counter()
    for parts, n in counts.ngrams.items():
        if n < MIN_COUNT:
            continue
        text = keys[parts[0]] + "".join(parts[1:])
        if len(text) <= MAX_TOKEN_CHARS and storable(text):
            bonds[text] += n
    return bonds


class _UnigramNats:
    """A unigram model of the units' current uses: a spelling's nats (−log p summed;
    a unit never used counts as used once), and the mean nats of a token."""

    def __init__(self, usage: Counter) -> None:
        used = {unit: n for unit, n in usage.items() if n > 0}
        total = max(1, sum(used.values()))
        self.unseen = math.log(total)
        self.nats = {unit: self.unseen - math.log(n) for unit, n in used.items()}
        self.mean = sum(n * self.nats[unit] for unit, n in used.items()) / total

    def of(self, units) -> float:
        return sum(self.nats.get(unit, self.unseen) for unit in units)


class _Pruning:
    """Step 3: price every candidate by what losing it would cost, drop the
    cheapest part, and repeat until what is left fits ``room`` ids."""

    def __init__(self, *, words, start, cont, letters, literals, bonds, sample, keys, budget, room, paired, likelihood) -> None:
        self.word_cost = _positions if paired else _tokens
        self.likelihood = likelihood
        self.letters = letters
        self.literals = literals
        self.keys = keys
        self.room = room
        self.seg = Segmenter(set(start) | letters, set(cont) | letters)
        # Keep the bond candidates that could matter: a few times the budget, by count.
        counted = -np.fromiter(bonds.values(), dtype=np.float64, count=len(bonds))
        self.bond_pool = {text: bonds[text] for text in _least(bonds, counted, 2 * budget)}
        self.cover = BondCover(sample, self.bond_pool, keys)
        endings = frozenset(unit for unit, kind in cont.items() if kind == "ending") if paired else None
        self.segmented = Segmentations(words, self.seg, endings)
        # A unit's best spelling without itself only changes when a unit of that
        # spelling is dropped (units are never added), so it is kept between rounds.
        self.spelled_without: dict[tuple[str, str], list[str]] = {}
        self.dropped: set[str] = set()

    def run(self) -> tuple[dict, dict]:
        """The last round's loss of every unit kept, and the dropped units with theirs."""
        reserve: dict[tuple[str, str], float] = {}
        while True:
            loss = self.losses()
            values = np.fromiter(loss.values(), dtype=np.float64, count=len(loss))
            surplus = int(np.count_nonzero(values > 0)) - self.room  # what saves nothing takes no id
            if surplus <= 0:
                return loss, reserve
            drop = surplus if surplus < 64 else max(int(surplus * SHRINK), 64)
            cheapest = [(key, loss[key]) for key in _least(loss, values, drop)]
            # Dropping can leave other units with no uses at all, so the rounds may end
            # some ids short; the dropped units, the most valued when dropped, fill them.
            reserve.update(cheapest)
            self.drop(cheapest)

    def losses(self) -> dict[tuple[str, str], float]:
        loss: dict[tuple[str, str], float] = {}
        usage = self.segmented.usage
        nats = _UnigramNats(usage) if self.likelihood else None
        for role, units in (("start", self.seg.start), ("cont", self.seg.cont)):
            for unit in units:
                if unit not in self.letters:
                    uses = usage[unit]
                    if not uses:
                        loss[(role, unit)] = 0
                    elif nats is not None:
                        loss[(role, unit)] = uses * (nats.of(self._spelled_without(role, unit)) - nats.of((unit,)))
                    else:
                        # Spelled in n units instead of one, a unit adds n − 1 to a word of two
                        # or more units, and word_cost(n) − 1 to a word it spells alone.
                        n = len(self._spelled_without(role, unit))
                        alone = self.segmented.alone[unit] if role == "start" else 0
                        loss[(role, unit)] = (uses - alone) * (n - 1) + alone * (self.word_cost(n) - 1)
        per_token = nats.mean if nats is not None else 1  # literals and bonds save tokens
        for text, n in self.literals.items():
            loss[("literal", text)] = n * (len(text) - 1) * per_token
        piece_cost = PieceCost(self.segmented.split, self.keys, self._literal_cost, self.word_cost)
        for text, saved in self.cover.savings(piece_cost).items():
            loss[("bond", text)] = saved * per_token
        return loss

    def _literal_cost(self, text: str) -> int:
        return 1 if text in self.literals else len(text)

    def _spelled_without(self, role: str, unit: str) -> list[str]:
        units = self.spelled_without.get((role, unit))
        if units is None or not self.dropped.isdisjoint(units):
            units = self.spelled_without[(role, unit)] = self.seg.segment(unit, without=unit, from_cont=role == "cont")
        return units

    def drop(self, cheapest: list[tuple[tuple[str, str], float]]) -> None:
        self.dropped.clear()
        dropped_bonds: list[str] = []
        recosted: list[str] = []  # pieces whose cost on their own changes: words and literals
        for (role, unit), _ in cheapest:
            if role in ("start", "cont"):
                self.seg.discard(role, unit)
                self.dropped.add(unit)
            elif role == "literal":
                del self.literals[unit]
                recosted.append(unit)
            else:
                del self.bond_pool[unit]
                dropped_bonds.append(unit)
        recosted += self.segmented.drop(self.dropped)
        self.cover.forget(dropped_bonds, recosted)
