/* encode_pieces (fastpath.py_encode_pieces): pieces in, ids packed as int32 out.
 * Each piece goes through the bond trie and the memo, then the young and old caches
 * (fastpath._make_room, _encode_new_piece); a miss takes the word path (wordpath.c)
 * or, for what is not a word, the codebook's encode_other. */

#include "fastpath.h"

/* Where each of Tables's PyObject fields (fastpath.h) is fetched from, in order. */
static const char *field_names[N_FIELDS] = {
    "role", "variants", "literal", "space_after", "cap_effect", "space_id",
    "bonds", "caches", "old_caches", "word_cache", "cache_limit", "encode_other",
};

static void tables_release(Tables *t)
{
    PyObject **fields = (PyObject **)t;
    for (int f = 0; f < N_FIELDS; f++)
        Py_CLEAR(fields[f]);
}

static int tables_fetch(PyObject *source, Tables *t)
{
    PyObject **fields = (PyObject **)t;
    for (int f = 0; f < N_FIELDS; f++)
        fields[f] = NULL;
    for (int f = 0; f < N_FIELDS; f++) {
        if ((fields[f] = PyObject_GetAttrString(source, field_names[f])) == NULL)
            goto fail;
    }
    Py_ssize_t n_ids = PyList_Check(t->role) ? PyList_GET_SIZE(t->role) : -1;
    PyObject *lists[] = {t->role, t->variants, t->literal, t->space_after, t->cap_effect};
    for (int k = 0; k < 5; k++) {
        if (!PyList_CheckExact(lists[k]) || PyList_GET_SIZE(lists[k]) != n_ids) {
            PyErr_SetString(PyExc_TypeError, "tables: per-id fields must be lists of one length");
            goto fail;
        }
    }
    if (!PyDict_CheckExact(t->bonds) ||
        !PyDict_CheckExact(t->word_cache) || !PyList_CheckExact(t->caches) || PyList_GET_SIZE(t->caches) != N_STATES ||
        !PyList_CheckExact(t->old_caches) || PyList_GET_SIZE(t->old_caches) != N_STATES ||
        !PyLong_Check(t->cache_limit) || !PyCallable_Check(t->encode_other)) {
        PyErr_SetString(PyExc_TypeError, "tables: the encoder's fields are not ready (call Codebook.prepare_encoder)");
        goto fail;
    }
    for (int s = 0; s < N_STATES; s++) {
        if (!PyDict_CheckExact(PyList_GET_ITEM(t->caches, s)) || !PyDict_CheckExact(PyList_GET_ITEM(t->old_caches, s))) {
            PyErr_SetString(PyExc_TypeError, "tables: each cache must be a dict");
            goto fail;
        }
    }
    if ((t->tries = ltmc_tries_of(source)) == NULL)
        goto fail;
    return 0;
fail:
    tables_release(t);
    return -1;
}

/* How many words a piece holds (pretokenize.count_words): a bare word is one,
 * without the regex; anything else asks Python. -1 on error. */
static long words_in(PyObject *piece)
{
    static PyObject *count_words = NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(piece);
    Py_ssize_t k = n && PyUnicode_READ_CHAR(piece, 0) == ' ';
    int bare_word = k < n;
    for (; bare_word && k < n; k++)
        bare_word = Py_UNICODE_ISALPHA(PyUnicode_READ_CHAR(piece, k));
    if (bare_word)
        return 1;
    if (count_words == NULL) {
        PyObject *module = PyImport_ImportModule("ltmc.pretokenize");
        count_words = module ? PyObject_GetAttrString(module, "count_words") : NULL;
        Py_XDECREF(module);
        if (count_words == NULL)
            return -1;
    }
    PyObject *counted = PyObject_CallOneArg(count_words, piece);
    if (counted == NULL)
        return -1;
    long words = PyLong_AsLong(counted);
    Py_DECREF(counted);
    return words;
}

/* A fastpath.Hit: `header`, then `ids` (packed int32 bytes, or a sequence of ints),
 * in one bytes object. New reference. */
static PyObject *make_hit(PyObject *ids, int32_t header)
{
    PyObject *seq = PyBytes_CheckExact(ids) ? NULL : PySequence_Fast(ids, "ids must be a sequence of ints");
    if (seq == NULL && !PyBytes_CheckExact(ids))
        return NULL;
    Py_ssize_t n = seq ? PySequence_Fast_GET_SIZE(seq) : PyBytes_GET_SIZE(ids) / (Py_ssize_t)sizeof(int32_t);
    PyObject *hit = PyBytes_FromStringAndSize(NULL, (n + 1) * (Py_ssize_t)sizeof(int32_t));
    if (hit != NULL) {
        int32_t *slots = (int32_t *)PyBytes_AS_STRING(hit);
        slots[0] = header;
        if (seq == NULL)
            memcpy(slots + 1, PyBytes_AS_STRING(ids), (size_t)n * sizeof(int32_t));
        for (Py_ssize_t j = 0; seq != NULL && j < n; j++)
            slots[j + 1] = (int32_t)PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, j));
        if (PyErr_Occurred())
            Py_CLEAR(hit);
    }
    Py_XDECREF(seq);
    return hit;
}

/* fastpath._make_room: before an entry goes into the young caches. Once they hold
 * cache_limit entries they become the old ones, and the old ones are dropped: what
 * was used since the last turnover survives it, where clearing everything made a
 * corpus whose pieces outnumber the limit pay for its common pieces again at every
 * turn (ru/ three times with a codebook mined on 2 MB: 930k encodings, not 292k). */
static int make_room(const Tables *t)
{
    Py_ssize_t cached = 0;
    for (int s = 0; s < N_STATES; s++)
        cached += PyDict_GET_SIZE(PyList_GET_ITEM(t->caches, s));
    Py_ssize_t limit = PyLong_AsSsize_t(t->cache_limit);
    if (limit == -1 && PyErr_Occurred())
        return -1;
    if (cached < limit)
        return 0;
    for (int s = 0; s < N_STATES; s++) {
        PyObject *old = PyList_GET_ITEM(t->old_caches, s), *young = PyList_GET_ITEM(t->caches, s);
        PyDict_Clear(old);
        /* swap the two dicts between the lists: each is still held once */
        PyList_SET_ITEM(t->old_caches, s, young);
        PyList_SET_ITEM(t->caches, s, old);
    }
    PyDict_Clear(t->word_cache);
    t->tries->turnovers++;
    return 0;
}

/* fastpath._encode_new_piece: a piece not in the young cache of `state`: taken back
 * from the old cache, or encoded; cached, and returned as a new reference to its
 * fastpath.Hit (header, then ids, as int32). */
static PyObject *encode_new_piece(const Tables *t, PyObject *piece, long state)
{
    PyObject *hit = PyDict_GetItemWithError(PyList_GET_ITEM(t->old_caches, state), piece);
    if (hit != NULL) {
        Py_INCREF(hit); /* before make_room, which may drop the old caches */
    } else if (PyErr_Occurred()) {
        return NULL;
    } else {
        int cap = state >> 1, space = state & 1;
        PyObject *found = ltmc_encode_word_piece(t, piece, cap, space);
        if (found == Py_None) {
            Py_DECREF(found);
            found = PyObject_CallFunction(t->encode_other, "OOO", piece, cap ? Py_True : Py_False, space ? Py_True : Py_False);
        }
        if (found == NULL)
            return NULL;
        long words = words_in(piece);
        if (words >= 0 && PyTuple_CheckExact(found) && PyTuple_GET_SIZE(found) == 3) {
            int cap_after = PyObject_IsTrue(PyTuple_GET_ITEM(found, 1));
            int space_after = PyObject_IsTrue(PyTuple_GET_ITEM(found, 2));
            if (cap_after >= 0 && space_after >= 0)
                hit = make_hit(PyTuple_GET_ITEM(found, 0), (int32_t)(2 * cap_after + space_after + 4 * words));
        } else if (words >= 0) {
            PyErr_SetString(PyExc_TypeError, "encode_other must return (ids, cap after, space after)");
        }
        Py_DECREF(found);
        if (hit == NULL)
            return NULL;
    }
    if (make_room(t) < 0 || PyDict_SetItem(PyList_GET_ITEM(t->caches, state), piece, hit) < 0)
        Py_CLEAR(hit);
    return hit;
}

/* Item `index` of a bond-trie node [bond text or None, children], checked. */
static PyObject *node_item(PyObject *node, Py_ssize_t index)
{
    if (!PyList_CheckExact(node) || PyList_GET_SIZE(node) != 2) {
        PyErr_SetString(PyExc_TypeError, "bond trie node must be a list [text or None, children]");
        return NULL;
    }
    return PyList_GET_ITEM(node, index);
}

/* A memo in front of the bond trie's first level and the young caches. A piece
 * is mostly the same object each time it recurs (split_pieces interns them), so a
 * table indexed by its address answers both questions with one probe, where the
 * two dict probes miss the CPU cache in tables of ~1M entries. With 2^18 slots
 * here and for interning, 84% of lookups are answered over five passes of 29 MB
 * (71% with 2^16 for both); the table is 16 MB. An entry is for one codebook's
 * tries (serial) and one generation of the caches (turnovers): it holds what the
 * dicts held when it was made, and is void once they turn over, so the caches
 * see the same lookups, inserts and moves from the old cache as without it. It
 * holds references to its piece (so the address is not reused), the bond node and
 * the hits, kept until the slot is reused. */
#define MEMO_BITS 18
typedef struct {
    PyObject *piece;
    uint64_t serial, turnovers;
    int node_known;
    PyObject *node; /* the bond trie's node for the piece, or NULL where no bond starts */
    PyObject *hits[N_STATES];
} MemoSlot;
static MemoSlot memo[1 << MEMO_BITS];

static MemoSlot *memo_for(PyObject *piece, const Tries *tries)
{
    MemoSlot *m = &memo[(((uintptr_t)piece >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - MEMO_BITS)];
    if (m->piece == piece && m->serial == tries->serial && m->turnovers == tries->turnovers)
        return m;
    Py_XSETREF(m->piece, Py_NewRef(piece));
    Py_CLEAR(m->node);
    for (int s = 0; s < N_STATES; s++)
        Py_CLEAR(m->hits[s]);
    m->serial = tries->serial;
    m->turnovers = tries->turnovers;
    m->node_known = 0;
    return m;
}

/* fastpath.py_encode_pieces. Long because the hot loop (memo, caches, word path,
 * bonds) stays in one frame with one error path (`fail`), as in its Python twin. */
PyObject *ltmc_encode_pieces(PyObject *module, PyObject *args)
{
    PyObject *parts, *source;
    if (!PyArg_ParseTuple(args, "O!O:encode_pieces", &PyList_Type, &parts, &source))
        return NULL;
    Tables t;
    if (tables_fetch(source, &t) < 0)
        return NULL;
    /* The ids, packed as int32 in a buffer that doubles when full (room for two
     * ids a piece to start with: on ru/prose there are 0.97). */
    Py_ssize_t used = 0, capacity = 2 * (Py_ssize_t)sizeof(int32_t) * PyList_GET_SIZE(parts) + 64;
    char *ids = PyMem_Malloc((size_t)capacity);
    if (ids == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    long words = 0, state = SENTENCE_START;
    Py_ssize_t n = PyList_GET_SIZE(parts), i = 0;
    while (i < n) {
        PyObject *piece = PyList_GET_ITEM(parts, i);
        Py_ssize_t step = 1;
        MemoSlot *m = memo_for(piece, t.tries);
        if (!m->node_known) {
            PyObject *found = PyDict_GetItemWithError(t.bonds, piece);
            if (found == NULL && PyErr_Occurred())
                goto fail;
            m->node = Py_XNewRef(found);
            m->node_known = 1;
        }
        PyObject *node = m->node; /* the trie holds it too */
        for (Py_ssize_t end = i + 1; node != NULL && end < n; end++) {
            PyObject *children = node_item(node, 1);
            if (children == NULL || !PyDict_CheckExact(children)) {
                if (children != NULL)
                    PyErr_SetString(PyExc_TypeError, "bond trie children must be a dict");
                goto fail;
            }
            node = PyDict_GetItemWithError(children, PyList_GET_ITEM(parts, end));
            if (node == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                break;
            }
            PyObject *text = node_item(node, 0);
            if (text == NULL)
                goto fail;
            if (text != Py_None) {
                piece = text;
                step = end + 1 - i;
            }
        }
        /* `piece` is borrowed from `parts` or the bond trie; a miss touches neither. */
        m = memo_for(piece, t.tries);
        PyObject *hit = m->hits[state];
        if (hit != NULL) {
            Py_INCREF(hit);
        } else {
            hit = PyDict_GetItemWithError(PyList_GET_ITEM(t.caches, state), piece);
            if (hit != NULL)
                Py_INCREF(hit);
            else if (PyErr_Occurred() || (hit = encode_new_piece(&t, piece, state)) == NULL)
                goto fail;
            /* again: encoding may have run Python code, or turned the caches over */
            m = memo_for(piece, t.tries);
            Py_XSETREF(m->hits[state], Py_NewRef(hit));
        }
        if (!PyBytes_CheckExact(hit) || PyBytes_GET_SIZE(hit) < 4) {
            PyErr_SetString(PyExc_TypeError, "a cached piece must be bytes: a header, then its ids, as int32");
            Py_DECREF(hit);
            goto fail;
        }
        const char *raw = PyBytes_AS_STRING(hit);
        int32_t header;
        memcpy(&header, raw, 4);
        Py_ssize_t size = PyBytes_GET_SIZE(hit) - 4;
        if (used + size > capacity) {
            capacity = 2 * (used + size);
            char *grown = PyMem_Realloc(ids, (size_t)capacity);
            if (grown == NULL) {
                Py_DECREF(hit);
                PyErr_NoMemory();
                goto fail;
            }
            ids = grown;
        }
        memcpy(ids + used, raw + 4, (size_t)size);
        used += size;
        long in_piece = header >> 2;
        state = header & 3;
        Py_DECREF(hit);
        words += in_piece;
        i += step;
    }
    tables_release(&t);
    PyObject *packed = PyBytes_FromStringAndSize(ids, used);
    PyMem_Free(ids);
    return packed ? Py_BuildValue("(Nl)", packed, words) : NULL;
fail:
    PyMem_Free(ids);
    tables_release(&t);
    return NULL;
}
