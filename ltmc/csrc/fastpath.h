/* The C twin of ltmc/fastpath.py: encode_pieces and segment_word, step for step;
 * and decode_flat, the scene decoder of Codebook.decode_scenes without the GIL.
 *
 * Everything is read from the codebook's own lists and dicts (fastpath.Tables),
 * except the token texts, which become two tries over code points (built once per
 * process). A change to one side must be made to the other: tests/test_fastpath.py
 * holds the two equal on random input.
 *
 * One extension module, ltmc._fastpath, built from the files of ltmc/csrc/ (setup.py
 * lists them), one role each:
 *   fastpath.h  what they share: fastpath.py's constants, the decoder's rules, the
 *               trie over code points, the tables the encoder reads, and the
 *               functions one file calls in another
 *   tries.c     building and freeing a trie (the encoder's and mining's), and the
 *               codebook's pair of token tries, kept in Tables.native
 *   pieces.c    split_pieces: text into pieces without the regex
 *   wordpath.c  the word path of a cache miss, and segment_word, its segmenter
 *   encode.c    encode_pieces: the loop over pieces, its memo, caches and bonds
 *   decode.c    decode_flat: scenes of ids back to bytes
 *   mining.c    mining's segmenter and piece counts (segmenting, corpus_counts)
 *   module.c    the method table and PyInit__fastpath
 * A function called from another file is named ltmc_*; everything else is static. */

#ifndef LTMC_FASTPATH_H
#define LTMC_FASTPATH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* fastpath.py's constants; the module exports them and a test compares. */
#define START 0
#define MARKER 3
#define SET 1
#define CLEAR 2
#define GLUE_ID 257
#define FLIP_ID 258
#define SENTENCE_START 2
#define N_STATES 4

/* The decoder's rules, once for both C decoders (decodes_to in wordpath.c and
 * decode_flat_scenes in decode.c; fastpath.decode_run is their reference): the state
 * between tokens, which spelling a token takes in it, and what the token leaves for
 * the next. */
typedef struct {
    int cap, space, glue, flip;
} DecodeState;

static const DecodeState FRESH_SCENE = {1, 0, 0, 0};

/* Which of its four spellings a START token takes (other tokens have one: 0), or -1
 * for GLUE and FLIP, which spell nothing and only change the state. The separator and
 * the special tokens spell their one text (none for the separator) and start afresh;
 * their effects (no space, capital kept) leave it so. */
static inline int decode_variant(DecodeState *s, long id, int role)
{
    if (role == MARKER) {
        if (id == GLUE_ID) {
            s->glue = 1;
            return -1;
        }
        if (id == FLIP_ID) {
            s->flip = 1;
            return -1;
        }
        *s = FRESH_SCENE;
        return 0;
    }
    if (role != START)
        return 0;
    int variant = 2 * (s->space && !s->glue) + (s->cap != s->flip);
    s->glue = s->flip = 0;
    return variant;
}

/* The state after a token that was spelled. */
static inline void decode_after(DecodeState *s, int space_after, long cap_effect)
{
    s->space = space_after;
    if (cap_effect == SET)
        s->cap = 1;
    else if (cap_effect == CLEAR)
        s->cap = 0;
}

/* The start and continuation token texts (text → id) as tries over code points,
 * built once per process: a walk then costs one probe per character instead of a
 * substring, a hash and a dict lookup (py_segment_word's prefix walk dicts), and
 * nothing like those dicts is built. Edges live in one open-addressing table keyed
 * by (node, code point). */
typedef struct {
    int32_t *ids; /* per node: the token id, or -1 for a mere prefix */
    Py_ssize_t n_nodes;
    uint64_t *keys; /* (node << 21 | code point) + 1; 0 marks an empty slot */
    int32_t *children;
    size_t mask;
} Trie;

/* The codebook's pair of token tries (ltmc_tries_of, tries.c), and its weights. */
typedef struct {
    Trie start, cont;
    int64_t *weights;     /* fastpath.Tables.weights per id, or NULL: ties go to the longest last token */
    Py_ssize_t n_weights;
    uint64_t serial;    /* unique per Tries made in this process: which codebook a memo entry is for */
    uint64_t turnovers; /* of the encoder's caches (make_room), which void the memo's entries */
} Tries;

static inline uint64_t edge_key(int32_t node, Py_UCS4 ch)
{
    return (((uint64_t)node << 21) | ch) + 1;
}

static inline size_t edge_slot(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 24) & mask;
}

/* The child of `node` along `ch`, or -1. */
static inline int32_t trie_child(const Trie *trie, int32_t node, Py_UCS4 ch)
{
    uint64_t key = edge_key(node, ch);
    for (size_t slot = edge_slot(key, trie->mask);; slot = (slot + 1) & trie->mask) {
        if (trie->keys[slot] == key)
            return trie->children[slot];
        if (trie->keys[slot] == 0)
            return -1;
    }
}

/* Whether `piece` holds the `length` characters of (kind, data) from `begin`: the
 * interning of split_pieces and the `without` of segment_candidates. */
static inline int same_chars(PyObject *piece, int kind, const void *data, Py_ssize_t begin, Py_ssize_t length)
{
    int piece_kind = PyUnicode_KIND(piece);
    const void *piece_data = PyUnicode_DATA(piece);
    if (piece_kind == kind)
        return memcmp(piece_data, (const char *)data + begin * kind, (size_t)(length * kind)) == 0;
    for (Py_ssize_t k = 0; k < length; k++)
        if (PyUnicode_READ(piece_kind, piece_data, k) != PyUnicode_READ(kind, data, begin + k))
            return 0;
    return 1;
}

/* fastpath.Tables, its fields fetched once per call (new references), and its tries. */
typedef struct {
    PyObject *role, *variants, *literal, *space_after, *cap_effect, *space_id;
    PyObject *bonds, *caches, *old_caches, *word_cache, *cache_limit, *encode_other;
    Tries *tries;
} Tables;

#define N_FIELDS 12 /* the PyObject fields above, in order (encode.c names them) */

/* tries.c */
int ltmc_trie_build(Trie *trie, PyObject *ids);
void ltmc_trie_free(Trie *trie);
Tries *ltmc_tries_of(PyObject *tables);

/* wordpath.c, for encode.c */
PyObject *ltmc_encode_word_piece(const Tables *t, PyObject *piece, int cap, int space);

/* The module's functions (module.c's method table), each in the file of its role. */
PyObject *ltmc_split_pieces(PyObject *module, PyObject *args);        /* pieces.c */
PyObject *ltmc_segment_word(PyObject *module, PyObject *args);        /* wordpath.c */
PyObject *ltmc_encode_pieces(PyObject *module, PyObject *args);       /* encode.c */
PyObject *ltmc_decode_flat(PyObject *module, PyObject *args);         /* decode.c */
PyObject *ltmc_candidate_tries(PyObject *module, PyObject *args);     /* mining.c */
PyObject *ltmc_discard_candidate(PyObject *module, PyObject *args);   /* mining.c */
PyObject *ltmc_segment_candidates(PyObject *module, PyObject *args);  /* mining.c */
PyObject *ltmc_slice_counts(PyObject *module, PyObject *args);        /* mining.c */

#endif
