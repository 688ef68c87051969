/* The C twin of ltmc/fastpath.py: encode_pieces and segment_word, step for step;
 * and decode_flat, the scene decoder of Codebook.decode_scenes without the GIL.
 *
 * Everything is read from the codebook's own lists and dicts (fastpath.Tables),
 * except the token texts, which become two tries over code points (built once per
 * process). A change to one file must be made to the other: tests/test_fastpath.py
 * holds the two equal on random input. */

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

/* The decoder's rules, once for both C decoders (decodes_to and decode_flat_scenes;
 * fastpath.decode_run is their reference): the state between tokens, which spelling
 * a token takes in it, and what the token leaves for the next. */
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

/* The byte ids of a character no token covers (fastpath.char_bytes): the one raw
 * byte a surrogateescape'd code point stands for, else its UTF-8 (surrogatepass). */
static int char_bytes(Py_UCS4 c, long out[4])
{
    if (c >= 0xDC80 && c <= 0xDCFF) {
        out[0] = (long)c - 0xDC00;
        return 1;
    }
    if (c < 0x80) {
        out[0] = (long)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = 0xC0 | (c >> 6);
        out[1] = 0x80 | (c & 0x3F);
        return 2;
    }
    if (c < 0x10000) {
        out[0] = 0xE0 | (c >> 12);
        out[1] = 0x80 | ((c >> 6) & 0x3F);
        out[2] = 0x80 | (c & 0x3F);
        return 3;
    }
    out[0] = 0xF0 | (c >> 18);
    out[1] = 0x80 | ((c >> 12) & 0x3F);
    out[2] = 0x80 | ((c >> 6) & 0x3F);
    out[3] = 0x80 | (c & 0x3F);
    return 4;
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

typedef struct {
    Trie start, cont;
    uint64_t serial;    /* unique per Tries made in this process: which codebook a memo entry is for */
    uint64_t turnovers; /* of the encoder's caches (make_room), which void the memo's entries */
} Tries;

static uint64_t tries_made;

#define TRIES_CAPSULE "ltmc._fastpath.Tries"

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

static void trie_free(Trie *trie)
{
    PyMem_Free(trie->ids);
    PyMem_Free(trie->keys);
    PyMem_Free(trie->children);
}

/* A trie of every text the dict maps to an id >= 0; a node on the way to one is a
 * mere prefix (-1). */
static int trie_build(Trie *trie, PyObject *ids)
{
    PyObject *text, *value;
    Py_ssize_t pos = 0, edges = 0;
    while (PyDict_Next(ids, &pos, &text, &value)) {
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "token tables map strings to ids");
            return -1;
        }
        edges += PyUnicode_GET_LENGTH(text);
    }
    size_t size = 16;
    while (size < 2 * (size_t)edges + 16)
        size *= 2;
    trie->mask = size - 1;
    trie->n_nodes = 1;
    trie->ids = PyMem_Malloc(((size_t)edges + 1) * sizeof(int32_t));
    trie->keys = PyMem_Calloc(size, sizeof(uint64_t));
    trie->children = PyMem_Malloc(size * sizeof(int32_t));
    if (trie->ids == NULL || trie->keys == NULL || trie->children == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    trie->ids[0] = -1;
    pos = 0;
    while (PyDict_Next(ids, &pos, &text, &value)) {
        long token_id = PyLong_AsLong(value);
        if (token_id == -1 && PyErr_Occurred())
            return -1;
        if (token_id < 0)
            continue;
        int32_t node = 0;
        for (Py_ssize_t k = 0; k < PyUnicode_GET_LENGTH(text); k++) {
            Py_UCS4 ch = PyUnicode_READ_CHAR(text, k);
            int32_t child = trie_child(trie, node, ch);
            if (child < 0) {
                child = (int32_t)trie->n_nodes++;
                trie->ids[child] = -1;
                uint64_t key = edge_key(node, ch);
                size_t slot = edge_slot(key, trie->mask);
                while (trie->keys[slot] != 0)
                    slot = (slot + 1) & trie->mask;
                trie->keys[slot] = key;
                trie->children[slot] = child;
            }
            node = child;
        }
        trie->ids[node] = (int32_t)token_id;
    }
    return 0;
}

static void tries_free(PyObject *capsule)
{
    Tries *tries = PyCapsule_GetPointer(capsule, TRIES_CAPSULE);
    if (tries != NULL) {
        trie_free(&tries->start);
        trie_free(&tries->cont);
        PyMem_Free(tries);
    }
}

/* The tries of `tables`, built on first use and kept in tables.native. Borrowed
 * from the capsule, which `tables` holds. */
static Tries *tries_of(PyObject *tables)
{
    PyObject *native = PyObject_GetAttrString(tables, "native");
    if (native == NULL)
        return NULL;
    if (native == Py_None) {
        Py_DECREF(native);
        PyObject *start_ids = PyObject_GetAttrString(tables, "start_ids");
        PyObject *cont_ids = start_ids ? PyObject_GetAttrString(tables, "cont_ids") : NULL;
        Tries *tries = cont_ids ? PyMem_Calloc(1, sizeof(Tries)) : NULL;
        int failed = tries == NULL || !PyDict_Check(start_ids) || !PyDict_Check(cont_ids) ||
                     trie_build(&tries->start, start_ids) < 0 || trie_build(&tries->cont, cont_ids) < 0;
        Py_XDECREF(start_ids);
        Py_XDECREF(cont_ids);
        if (!failed)
            tries->serial = ++tries_made;
        native = failed ? NULL : PyCapsule_New(tries, TRIES_CAPSULE, tries_free);
        if (native == NULL) {
            if (tries != NULL) {
                trie_free(&tries->start);
                trie_free(&tries->cont);
                PyMem_Free(tries);
            }
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "tables: start_ids and cont_ids must be dicts");
            return NULL;
        }
        if (PyObject_SetAttrString(tables, "native", native) < 0) {
            Py_DECREF(native);
            return NULL;
        }
    }
    Tries *tries = PyCapsule_GetPointer(native, TRIES_CAPSULE);
    Py_DECREF(native); /* tables keeps it alive */
    return tries;
}

static int append_id(PyObject *list, long token_id)
{
    PyObject *value = PyLong_FromLong(token_id);
    if (value == NULL)
        return -1;
    int status = PyList_Append(list, value);
    Py_DECREF(value);
    return status;
}

/* fastpath.py_segment_word on the tries: a new reference to a list of ids or None.
 * Long because it follows its Python twin step for step (one loop, one cleanup), so
 * that the two can be read side by side; tests/test_fastpath.py holds them equal. */
static PyObject *segment(const Tries *tries, PyObject *word, PyObject *bound_arg)
{
    long bound = 0;
    int has_bound = bound_arg != Py_None;
    if (has_bound) {
        bound = PyLong_AsLong(bound_arg);
        if (bound == -1 && PyErr_Occurred())
            return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(word);
    int kind = PyUnicode_KIND(word);
    const void *data = PyUnicode_DATA(word);
    long inf = (long)n * 8 + 8;
    /* cost[i]: fewest ids for word[:i]; its last token spans back_begin[i]..i and is
     * back_id[i], or -1 for that one character's bytes. */
    long *cost = PyMem_Malloc(3 * (size_t)(n + 1) * sizeof(long));
    if (cost == NULL)
        return PyErr_NoMemory();
    long *back_begin = cost + n + 1, *back_id = back_begin + n + 1;
    PyObject *out = NULL;
    for (Py_ssize_t i = 0; i <= n; i++) {
        cost[i] = inf;
        back_begin[i] = back_id[i] = 0;
    }
    if (has_bound)
        cost[n] = bound < inf ? bound : inf;
    int32_t node = 0;
    for (Py_ssize_t end = 1; end <= n; end++) {
        node = trie_child(&tries->start, node, PyUnicode_READ(kind, data, end - 1));
        if (node < 0)
            break;
        long token_id = tries->start.ids[node];
        if (token_id >= 0) {
            cost[end] = 1;
            back_begin[end] = 0;
            back_id[end] = token_id;
        }
    }
    if (cost[n] == 1) {
        out = PyList_New(0);
        if (out != NULL && append_id(out, back_id[n]) < 0)
            Py_CLEAR(out);
        goto done;
    }
    long least = inf;
    for (Py_ssize_t i = 0; i <= n; i++)
        least = cost[i] < least ? cost[i] : least;
    if (least == inf)
        goto none;
    long spelled_bytes[4];
    for (Py_ssize_t begin = 1; begin < n; begin++) {
        long reach = cost[begin] + 1;
        if (reach >= cost[n])
            continue;
        node = 0;
        for (Py_ssize_t end = begin + 1; end <= n; end++) {
            node = trie_child(&tries->cont, node, PyUnicode_READ(kind, data, end - 1));
            if (node < 0)
                break;
            long token_id = tries->cont.ids[node];
            if (token_id >= 0 && reach < cost[end]) {
                cost[end] = reach;
                back_begin[end] = (long)begin;
                back_id[end] = token_id;
            }
        }
        if (reach < cost[begin + 1]) {
            long spelled = cost[begin] + char_bytes(PyUnicode_READ(kind, data, begin), spelled_bytes);
            if (spelled < cost[begin + 1]) {
                cost[begin + 1] = spelled;
                back_begin[begin + 1] = (long)begin;
                back_id[begin + 1] = -1;
            }
        }
    }
    if (has_bound && cost[n] >= bound)
        goto none;
    /* Walk the path back to front, then emit it front to back. */
    Py_ssize_t steps = 0;
    for (Py_ssize_t end = n; end; end = back_begin[end])
        steps++;
    long *ends = PyMem_Malloc((size_t)steps * sizeof(long));
    if (ends == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t k = steps;
    for (Py_ssize_t end = n; end; end = back_begin[end])
        ends[--k] = (long)end;
    out = PyList_New(0);
    for (k = 0; out != NULL && k < steps; k++) {
        long end = ends[k];
        if (back_id[end] >= 0) {
            if (append_id(out, back_id[end]) < 0)
                Py_CLEAR(out);
            continue;
        }
        int count = char_bytes(PyUnicode_READ(kind, data, back_begin[end]), spelled_bytes);
        for (int b = 0; out != NULL && b < count; b++)
            if (append_id(out, spelled_bytes[b]) < 0)
                Py_CLEAR(out);
    }
    PyMem_Free(ends);
    goto done;
none:
    out = Py_NewRef(Py_None);
done:
    PyMem_Free(cost);
    return out;
}

/* fastpath.Tables, its fields fetched once per call (new references), and its tries. */
typedef struct {
    PyObject *role, *variants, *literal, *space_after, *cap_effect, *space_id;
    PyObject *bonds, *caches, *old_caches, *word_cache, *cache_limit, *encode_other;
    Tries *tries;
} Tables;

#define N_FIELDS 12 /* the PyObject fields above, in order */
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
    if ((t->tries = tries_of(source)) == NULL)
        goto fail;
    return 0;
fail:
    tables_release(t);
    return -1;
}

static long item_long(PyObject *list, Py_ssize_t index)
{
    return PyLong_AsLong(PyList_GET_ITEM(list, index));
}

/* fastpath.decode_run, asked only "do `ids` decode to `target` from (cap, space)?":
 * 1 and the state after in *cap_after, *space_after; 0; or -1 with an exception. */
static int decodes_to(const Tables *t, const long *ids, Py_ssize_t count, int cap, int space, const char *target,
                      Py_ssize_t target_size, int *cap_after, int *space_after)
{
    Py_ssize_t n_ids = PyList_GET_SIZE(t->role), at = 0;
    DecodeState state = {cap, space, 0, 0};
    for (Py_ssize_t k = 0; k < count; k++) {
        long token_id = ids[k];
        if (token_id < 0 || token_id >= n_ids) {
            PyErr_SetString(PyExc_IndexError, "token id outside the codebook");
            return -1;
        }
        long role = item_long(t->role, token_id);
        int variant = decode_variant(&state, token_id, (int)role);
        if (variant < 0)
            continue;
        PyObject *spelling;
        if (role == START) {
            PyObject *four = PyList_GET_ITEM(t->variants, token_id);
            if (!PyTuple_CheckExact(four) || PyTuple_GET_SIZE(four) != 4) {
                PyErr_SetString(PyExc_TypeError, "a START token needs four spellings");
                return -1;
            }
            spelling = PyTuple_GET_ITEM(four, variant);
        } else {
            spelling = PyList_GET_ITEM(t->literal, token_id);
        }
        if (!PyBytes_CheckExact(spelling)) {
            PyErr_SetString(PyExc_TypeError, "spellings must be bytes");
            return -1;
        }
        Py_ssize_t size = PyBytes_GET_SIZE(spelling);
        if (at + size > target_size || memcmp(PyBytes_AS_STRING(spelling), target + at, (size_t)size) != 0)
            return 0;
        at += size;
        decode_after(&state, PyList_GET_ITEM(t->space_after, token_id) == Py_True, item_long(t->cap_effect, token_id));
    }
    if (PyErr_Occurred())
        return -1;
    *cap_after = state.cap;
    *space_after = state.space;
    return at == target_size;
}

/* fastpath._word_segments: a new reference to a list of ids or None, NULL on error. */
static PyObject *word_segments(const Tables *t, PyObject *word, PyObject *bound)
{
    PyObject *seg = PyDict_GetItemWithError(t->word_cache, word);
    if (seg != NULL)
        return Py_NewRef(seg);
    if (PyErr_Occurred())
        return NULL;
    seg = segment(t->tries, word, bound);
    if (seg != NULL && PyDict_SetItem(t->word_cache, word, seg) < 0)
        Py_CLEAR(seg);
    return seg;
}

/* Lower-case the first character as str.lower() does. Latin and Cyrillic capitals
 * are done here (each maps to one letter at a fixed offset); the rest (full case
 * mappings such as İ → i̇) by Python. New reference. */
static PyObject *lower_first(PyObject *core)
{
    Py_UCS4 first = PyUnicode_READ_CHAR(core, 0), lowered = 0;
    if ((first >= 'a' && first <= 'z') || (first >= '0' && first <= '9') || (first >= 0x430 && first <= 0x45F))
        return Py_NewRef(core);
    if ((first >= 'A' && first <= 'Z') || (first >= 0x410 && first <= 0x42F))
        lowered = first + 0x20;
    else if (first >= 0x400 && first <= 0x40F)
        lowered = first + 0x50;
    if (lowered) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(core);
        Py_UCS4 widest = PyUnicode_MAX_CHAR_VALUE(core);
        PyObject *lower = PyUnicode_New(n, widest > lowered ? widest : lowered);
        if (lower == NULL)
            return NULL;
        if (PyUnicode_CopyCharacters(lower, 0, core, 0, n) < 0 || PyUnicode_WriteChar(lower, 0, lowered) < 0) {
            Py_DECREF(lower);
            return NULL;
        }
        return lower;
    }
    PyObject *head = PyUnicode_Substring(core, 0, 1);
    PyObject *lower_head = head ? PyObject_CallMethod(head, "lower", NULL) : NULL;
    PyObject *rest = lower_head ? PyUnicode_Substring(core, 1, PyUnicode_GET_LENGTH(core)) : NULL;
    PyObject *lower = rest ? PyUnicode_Concat(lower_head, rest) : NULL;
    Py_XDECREF(head);
    Py_XDECREF(lower_head);
    Py_XDECREF(rest);
    return lower;
}

#define MAX_CANDIDATES 4

/* fastpath._encode_word_piece: a new reference to (ids packed as int32, cap after,
 * space after), Py_None if the word path does not settle this piece, NULL on error.
 * Long for the same reason as segment: a step-for-step port of its twin. */
static PyObject *encode_word_piece(const Tables *t, PyObject *piece, int cap, int space)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(piece);
    Py_ssize_t skip = n >= 2 && PyUnicode_READ_CHAR(piece, 0) == ' ' && Py_UNICODE_ISALNUM(PyUnicode_READ_CHAR(piece, 1));
    if (n - skip == 0 || !Py_UNICODE_ISALNUM(PyUnicode_READ_CHAR(piece, skip)))
        Py_RETURN_NONE;
    long lead = -1;
    if (skip && !space)
        lead = t->space_id == Py_None ? ' ' : PyLong_AsLong(t->space_id);
    else if (!skip && space)
        lead = GLUE_ID;
    PyObject *core = PyUnicode_Substring(piece, skip, n);
    PyObject *lower = core ? lower_first(core) : NULL;
    PyObject *lower_seg = lower ? word_segments(t, lower, Py_None) : NULL;
    PyObject *core_seg = NULL, *target = NULL, *result = NULL;
    long *ids = NULL;
    if (lower_seg == NULL)
        goto done;
    int same = PyUnicode_Compare(core, lower);
    if (same == -1 && PyErr_Occurred())
        goto done;
    if (same != 0) {
        PyObject *bound = lower_seg == Py_None ? Py_NewRef(Py_None) : PyLong_FromSsize_t(PyList_GET_SIZE(lower_seg) + 2);
        core_seg = bound ? word_segments(t, core, bound) : NULL;
        Py_XDECREF(bound);
        if (core_seg == NULL)
            goto done;
    }
    /* Candidates in fastpath's order (own spelling, with FLIP, lower case, with FLIP),
     * then stably sorted by length. */
    PyObject *segs[MAX_CANDIDATES];
    int flips[MAX_CANDIDATES], count = 0;
    PyObject *pair[2] = {core_seg, lower_seg};
    for (int k = 0; k < 2; k++) {
        if (pair[k] == NULL || pair[k] == Py_None || PyList_GET_SIZE(pair[k]) == 0)
            continue;
        for (int flip = 0; flip < 2; flip++)
            segs[count] = pair[k], flips[count++] = flip;
    }
    Py_ssize_t sizes[MAX_CANDIDATES], longest = 0;
    for (int k = 0; k < count; k++) {
        sizes[k] = (lead >= 0) + flips[k] + PyList_GET_SIZE(segs[k]);
        longest = sizes[k] > longest ? sizes[k] : longest;
        for (int j = k; j > 0 && sizes[j - 1] > sizes[j]; j--) {
            Py_ssize_t size = sizes[j]; sizes[j] = sizes[j - 1]; sizes[j - 1] = size;
            PyObject *seg = segs[j]; segs[j] = segs[j - 1]; segs[j - 1] = seg;
            int flip = flips[j]; flips[j] = flips[j - 1]; flips[j - 1] = flip;
        }
    }
    target = PyUnicode_AsEncodedString(piece, "utf-8", "surrogateescape");
    ids = PyMem_Malloc((size_t)(longest + 1) * sizeof(long));
    if (target == NULL || ids == NULL) {
        if (ids == NULL)
            PyErr_NoMemory();
        goto done;
    }
    for (int k = 0; k < count; k++) {
        Py_ssize_t size = 0;
        if (lead >= 0)
            ids[size++] = lead;
        if (flips[k])
            ids[size++] = FLIP_ID;
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(segs[k]); j++)
            ids[size++] = item_long(segs[k], j);
        if (PyErr_Occurred())
            goto done;
        int cap_after, space_after;
        int match = decodes_to(t, ids, size, cap, space, PyBytes_AS_STRING(target), PyBytes_GET_SIZE(target), &cap_after, &space_after);
        if (match < 0)
            goto done;
        if (match) {
            PyObject *packed = PyBytes_FromStringAndSize(NULL, size * (Py_ssize_t)sizeof(int32_t));
            if (packed != NULL) {
                int32_t *slots = (int32_t *)PyBytes_AS_STRING(packed);
                for (Py_ssize_t j = 0; j < size; j++)
                    slots[j] = (int32_t)ids[j];
                result = Py_BuildValue("(NOO)", packed, cap_after ? Py_True : Py_False, space_after ? Py_True : Py_False);
            }
            goto done;
        }
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(ids);
    Py_XDECREF(target);
    Py_XDECREF(core_seg);
    Py_XDECREF(lower_seg);
    Py_XDECREF(lower);
    Py_XDECREF(core);
    return result;
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
        PyObject *found = encode_word_piece(t, piece, cap, space);
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

/* Character classes of fastpath.char_classes(), as pretokenize.PIECE_PATTERN sees them. */
enum { OTHER = 0, LETTER = 1, MARK = 2, NUMBER = 3, SPACE = 4 };

/* Pieces recur: a few thousand make up most of a text. The last string made for
 * each slot of a small table is kept, so that a repeated piece is the same object:
 * its hash is cached and dict lookups match it by identity, where a new string
 * would be allocated, hashed, compared character by character and freed. The
 * table is indexed by a hash of the piece's code points and holds at most
 * INTERN_SLOTS strings. */
#define INTERN_SLOTS 262144
static PyObject *interned[INTERN_SLOTS];

static int same_chars(PyObject *piece, int kind, const void *data, Py_ssize_t begin, Py_ssize_t length)
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

static int emit(PyObject *out, PyObject *text, Py_ssize_t begin, Py_ssize_t end)
{
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    uint64_t hash = 0xcbf29ce484222325ull; /* FNV-1a over code points */
    for (Py_ssize_t k = begin; k < end; k++)
        hash = (hash ^ PyUnicode_READ(kind, data, k)) * 0x100000001b3ull;
    size_t slot = (size_t)(hash >> 40) & (INTERN_SLOTS - 1);
    PyObject *piece = interned[slot];
    if (piece != NULL && PyUnicode_GET_LENGTH(piece) == end - begin && same_chars(piece, kind, data, begin, end - begin))
        return PyList_Append(out, piece);
    piece = PyUnicode_Substring(text, begin, end);
    if (piece == NULL)
        return -1;
    Py_XSETREF(interned[slot], piece); /* the table keeps this reference */
    return PyList_Append(out, piece);
}

/* pretokenize.pieces(text) without the regex: the same pieces, found by walking
 * PIECE_PATTERN's alternatives by hand over a class table, or None where a
 * character lies beyond the table (the caller then uses the regex). */
static PyObject *split_pieces(PyObject *module, PyObject *args)
{
    PyObject *text;
    Py_buffer table;
    if (!PyArg_ParseTuple(args, "Uy*:split_pieces", &text, &table))
        return NULL;
    const unsigned char *classes = table.buf;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), limit = table.len;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t k = 0; k < n; k++) {
        if ((Py_ssize_t)PyUnicode_READ(kind, data, k) >= limit) {
            PyBuffer_Release(&table);
            Py_RETURN_NONE;
        }
    }
#define CLASS(k) (classes[PyUnicode_READ(kind, data, (k))])
    PyObject *out = PyList_New(0);
    Py_ssize_t i = 0;
    while (out != NULL && i < n) {
        Py_ssize_t start = i;
        if (CLASS(i) == SPACE) {
            Py_ssize_t run_end = i;
            while (run_end < n && CLASS(run_end) == SPACE)
                run_end++;
            /* \s+, unless it is one space that " ?" joins to what follows */
            if (run_end - i >= 2 || run_end == n || PyUnicode_READ(kind, data, i) != ' ') {
                if (emit(out, text, i, run_end) < 0)
                    Py_CLEAR(out);
                i = run_end;
                continue;
            }
            i++; /* one space, then a letter, number or symbol: " ?" joins it */
        }
        int first = CLASS(i);
        if (first == LETTER) { /* \p{L}[\p{L}\p{M}]*(?:[-'’]\p{L}[\p{L}\p{M}]*)* */
            i++;
            for (;;) {
                while (i < n && (CLASS(i) == LETTER || CLASS(i) == MARK))
                    i++;
                Py_UCS4 joiner = i + 1 < n ? PyUnicode_READ(kind, data, i) : 0;
                if (!(joiner == '-' || joiner == '\'' || joiner == 0x2019) || CLASS(i + 1) != LETTER)
                    break;
                i += 2;
            }
        } else if (first == NUMBER) { /* \p{N}{1,3} */
            Py_ssize_t end = i + 3 < n ? i + 3 : n;
            while (i < end && CLASS(i) == NUMBER)
                i++;
        } else { /* [^\s\p{L}\p{N}]+ */
            while (i < n && (CLASS(i) == OTHER || CLASS(i) == MARK))
                i++;
        }
        if (emit(out, text, start, i) < 0)
            Py_CLEAR(out);
    }
#undef CLASS
    PyBuffer_Release(&table);
    return out;
}

static PyObject *segment_word(PyObject *module, PyObject *args)
{
    PyObject *word, *tables, *bound;
    if (!PyArg_ParseTuple(args, "UOO:segment_word", &word, &tables, &bound))
        return NULL;
    Tries *tries = tries_of(tables);
    return tries ? segment(tries, word, bound) : NULL;
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
static PyObject *encode_pieces(PyObject *module, PyObject *args)
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

/* Scenes of ids back to bytes: decode_run on every scene, over flat arrays (the
 * codebook's _Spellings), so that it runs without the GIL and decode threads work at
 * once. */
typedef struct {
    const int32_t *ids, *starts;
    const int8_t *role, *cap_effect;
    const uint8_t *space_after;
    const int64_t *spell_offsets;
    const char *spell_data;
    Py_ssize_t scenes, vocab;
} Flat;

#define DECODE_NO_MEMORY (-1)
#define DECODE_BAD_ID (-2)

/* Fills `*out` (grown with realloc as needed) and ends[0..scenes]; the bytes used, or
 * DECODE_NO_MEMORY, or DECODE_BAD_ID with the id in `*bad`. */
static int64_t decode_flat_scenes(const Flat *f, char **out, int64_t capacity, int64_t *ends, int32_t *bad)
{
    int64_t used = 0;
    ends[0] = 0;
    for (Py_ssize_t s = 0; s < f->scenes; s++) {
        DecodeState state = FRESH_SCENE;
        for (int32_t k = f->starts[s]; k < f->starts[s + 1]; k++) {
            int32_t id = f->ids[k];
            if (id < 0 || id >= f->vocab) {
                *bad = id;
                return DECODE_BAD_ID;
            }
            int variant = decode_variant(&state, id, f->role[id]);
            if (variant < 0)
                continue;
            const int64_t *at = f->spell_offsets + 4 * (int64_t)id + variant;
            int64_t size = at[1] - at[0];
            if (used + size > capacity) {
                capacity = 2 * (used + size);
                char *grown = realloc(*out, (size_t)capacity);
                if (grown == NULL)
                    return DECODE_NO_MEMORY;
                *out = grown;
            }
            memcpy(*out + used, f->spell_data + at[0], (size_t)size);
            used += size;
            decode_after(&state, f->space_after[id], f->cap_effect[id]);
        }
        ends[s + 1] = used;
    }
    return used;
}

/* Codebook.decode_scenes's arrays in, (bytes, int64 ends) out: most of its length is
 * checking the seven buffers it is handed, before the GIL is released. */
static PyObject *decode_flat(PyObject *module, PyObject *args)
{
    Py_buffer views[7];
    int got = 0;
    PyObject *result = NULL;
    PyObject *objects[7];
    if (!PyArg_ParseTuple(args, "OOOOOOO:decode_flat", &objects[0], &objects[1], &objects[2], &objects[3], &objects[4], &objects[5], &objects[6]))
        return NULL;
    for (; got < 7; got++)
        if (PyObject_GetBuffer(objects[got], &views[got], PyBUF_C_CONTIGUOUS) < 0)
            goto done;
    Flat f = {.ids = views[0].buf, .starts = views[1].buf, .role = views[2].buf, .space_after = views[3].buf,
              .cap_effect = views[4].buf, .spell_offsets = views[5].buf, .spell_data = views[6].buf,
              .scenes = views[1].len / 4 - 1, .vocab = views[2].len};
    Py_ssize_t n = views[0].len / 4;
    if (views[0].len % 4 || views[1].len % 4 || f.scenes < 0 || views[3].len != f.vocab || views[4].len != f.vocab ||
        views[5].len != 8 * (4 * f.vocab + 1)) {
        PyErr_SetString(PyExc_ValueError, "decode_flat: array sizes do not fit together");
        goto done;
    }
    if (f.starts[0] != 0 || f.starts[f.scenes] != n) {
        PyErr_SetString(PyExc_ValueError, "decode_flat: scene offsets do not span the ids");
        goto done;
    }
    for (Py_ssize_t s = 0; s < f.scenes; s++)
        if (f.starts[s + 1] < f.starts[s]) {
            PyErr_SetString(PyExc_ValueError, "decode_flat: scene offsets go backwards");
            goto done;
        }
    PyObject *ends = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(8 * (f.scenes + 1)));
    int64_t capacity = 8 * (int64_t)n + 64; /* about 8 bytes a token on Russian text */
    char *out = malloc((size_t)capacity);
    if (ends == NULL || out == NULL) {
        Py_XDECREF(ends);
        free(out);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    int64_t used;
    int32_t bad = 0;
    int64_t *out_ends = (int64_t *)PyBytes_AS_STRING(ends);
    Py_BEGIN_ALLOW_THREADS
    used = decode_flat_scenes(&f, &out, capacity, out_ends, &bad);
    Py_END_ALLOW_THREADS
    PyObject *data = NULL;
    if (used == DECODE_BAD_ID)
        PyErr_Format(PyExc_IndexError, "token id %d is outside the codebook", (int)bad);
    else if (used == DECODE_NO_MEMORY)
        PyErr_NoMemory();
    else if ((data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)used)) != NULL) {
        char *into = PyBytes_AS_STRING(data);
        Py_BEGIN_ALLOW_THREADS /* the copy is most of a batch's bytes: not under the GIL */
        memcpy(into, out, (size_t)used);
        Py_END_ALLOW_THREADS
    }
    free(out);
    if (data != NULL)
        result = Py_BuildValue("(NN)", data, ends);
    else
        Py_DECREF(ends);
done:
    while (got > 0)
        PyBuffer_Release(&views[--got]);
    return result;
}

/* -- mining: segmenting.Segmenter on tries ---------------------------------------
 * Mining segments every word form over candidate sets that shrink round by round.
 * Python slices and looks up every substring; here each start position walks a
 * trie. A node's id indexes its role's list of unit texts, or is -1: a mere prefix,
 * or a unit discarded since. */
typedef struct {
    Trie trie[2]; /* START_ROLE, CONT_ROLE */
    PyObject *units[2];
    Py_ssize_t max_chars;
} Candidates;

enum { START_ROLE = 0, CONT_ROLE = 1 };
#define CANDIDATES_CAPSULE "ltmc._fastpath.Candidates"

static void candidates_free(Candidates *c)
{
    for (int role = 0; role < 2; role++) {
        trie_free(&c->trie[role]);
        Py_XDECREF(c->units[role]);
    }
    PyMem_Free(c);
}

static void candidates_capsule_free(PyObject *capsule)
{
    Candidates *c = PyCapsule_GetPointer(capsule, CANDIDATES_CAPSULE);
    if (c != NULL)
        candidates_free(c);
}

/* A trie of the texts of `units`, each node's id its index in the list. */
static int candidates_trie(Trie *trie, PyObject *units)
{
    PyObject *ids = PyDict_New();
    int status = ids != NULL ? 0 : -1;
    for (Py_ssize_t i = 0; status == 0 && i < PyList_GET_SIZE(units); i++) {
        PyObject *index = PyLong_FromSsize_t(i);
        status = index != NULL ? PyDict_SetItem(ids, PyList_GET_ITEM(units, i), index) : -1;
        Py_XDECREF(index);
    }
    if (status == 0)
        status = trie_build(trie, ids);
    Py_XDECREF(ids);
    return status;
}

static PyObject *candidate_tries(PyObject *module, PyObject *args)
{
    PyObject *units[2];
    Py_ssize_t max_chars;
    if (!PyArg_ParseTuple(args, "O!O!n:candidate_tries", &PyList_Type, &units[START_ROLE], &PyList_Type, &units[CONT_ROLE], &max_chars))
        return NULL;
    Candidates *c = PyMem_Calloc(1, sizeof(Candidates));
    if (c == NULL)
        return PyErr_NoMemory();
    c->max_chars = max_chars;
    for (int role = 0; role < 2; role++) {
        c->units[role] = Py_NewRef(units[role]);
        if (candidates_trie(&c->trie[role], units[role]) < 0) {
            candidates_free(c);
            return NULL;
        }
    }
    PyObject *capsule = PyCapsule_New(c, CANDIDATES_CAPSULE, candidates_capsule_free);
    if (capsule == NULL)
        candidates_free(c);
    return capsule;
}

static int role_arg(int role)
{
    if (role == START_ROLE || role == CONT_ROLE)
        return 0;
    PyErr_SetString(PyExc_ValueError, "role must be 0 (start) or 1 (continuation)");
    return -1;
}

static PyObject *discard_candidate(PyObject *module, PyObject *args)
{
    PyObject *capsule, *text;
    int role;
    if (!PyArg_ParseTuple(args, "OiU:discard_candidate", &capsule, &role, &text) || role_arg(role) < 0)
        return NULL;
    Candidates *c = PyCapsule_GetPointer(capsule, CANDIDATES_CAPSULE);
    if (c == NULL)
        return NULL;
    const Trie *trie = &c->trie[role];
    int32_t node = 0;
    for (Py_ssize_t k = 0; node >= 0 && k < PyUnicode_GET_LENGTH(text); k++)
        node = trie_child(trie, node, PyUnicode_READ_CHAR(text, k));
    if (node >= 0)
        trie->ids[node] = -1;
    Py_RETURN_NONE;
}

/* segmenting.Segmenter.py_segment, step for step: the same costs, the same ties (the
 * earliest start wins), the same fallback of 2 per character no unit covers. Long for
 * that reason: one loop, one cleanup, as in its twin. */
static PyObject *segment_candidates(PyObject *module, PyObject *args)
{
    PyObject *capsule, *word, *without;
    int first_role;
    if (!PyArg_ParseTuple(args, "OUOi:segment_candidates", &capsule, &word, &without, &first_role) || role_arg(first_role) < 0)
        return NULL;
    Candidates *c = PyCapsule_GetPointer(capsule, CANDIDATES_CAPSULE);
    if (c == NULL)
        return NULL;
    if (without != Py_None && !PyUnicode_Check(without)) {
        PyErr_SetString(PyExc_TypeError, "without must be a str or None");
        return NULL;
    }
    Py_ssize_t without_len = without == Py_None ? -1 : PyUnicode_GET_LENGTH(without);
    Py_ssize_t n = PyUnicode_GET_LENGTH(word), max_chars = c->max_chars;
    int kind = PyUnicode_KIND(word);
    const void *data = PyUnicode_DATA(word);
    long inf = 4 * (long)n + 4;
    /* back_unit: 2 * index + role of the unit ending here, NO_UNIT for py_segment's
     * default ("", 0), SPELLED for the one character's fallback. */
    enum { NO_UNIT = -1, SPELLED = -2 };
    long *cost = PyMem_Malloc(3 * (size_t)(n + 1) * sizeof(long));
    if (cost == NULL)
        return PyErr_NoMemory();
    long *back_begin = cost + n + 1, *back_unit = back_begin + n + 1;
    for (Py_ssize_t i = 0; i <= n; i++) {
        cost[i] = inf;
        back_begin[i] = 0;
        back_unit[i] = NO_UNIT;
    }
#define IS_WITHOUT(begin, end) ((end) - (begin) == without_len && same_chars(without, kind, data, (begin), without_len))
    const Trie *first = &c->trie[first_role], *cont = &c->trie[CONT_ROLE];
    int32_t node = 0;
    for (Py_ssize_t end = 1; end <= n && end <= max_chars; end++) {
        node = trie_child(first, node, PyUnicode_READ(kind, data, end - 1));
        if (node < 0)
            break;
        if (first->ids[node] >= 0 && !IS_WITHOUT(0, end)) {
            cost[end] = 1;
            back_unit[end] = 2 * (long)first->ids[node] + first_role;
        }
    }
    for (Py_ssize_t begin = 1; begin <= n; begin++) {
        if (begin >= 2 && cost[begin] >= inf) {
            cost[begin] = cost[begin - 1] + 2;
            back_begin[begin] = (long)begin - 1;
            back_unit[begin] = SPELLED;
        }
        long reach = cost[begin] + 1;
        node = 0;
        for (Py_ssize_t end = begin + 1; end <= n && end - begin <= max_chars; end++) {
            node = trie_child(cont, node, PyUnicode_READ(kind, data, end - 1));
            if (node < 0)
                break;
            if (cont->ids[node] >= 0 && reach < cost[end] && !IS_WITHOUT(begin, end)) {
                cost[end] = reach;
                back_begin[end] = (long)begin;
                back_unit[end] = 2 * (long)cont->ids[node] + CONT_ROLE;
            }
        }
    }
#undef IS_WITHOUT
    Py_ssize_t steps = 0;
    for (Py_ssize_t end = n; end; end = back_begin[end])
        steps++;
    PyObject *out = PyList_New(steps);
    for (Py_ssize_t end = n, k = steps; out != NULL && end; end = back_begin[end]) {
        long unit = back_unit[end];
        PyObject *item;
        if (unit == NO_UNIT) {
            item = PyUnicode_New(0, 0);
        } else if (unit == SPELLED) {
            item = PyUnicode_Substring(word, end - 1, end);
        } else {
            PyObject *units = c->units[unit & 1];
            Py_ssize_t index = unit >> 1;
            item = index < PyList_GET_SIZE(units) ? Py_NewRef(PyList_GET_ITEM(units, index)) : NULL;
            if (item == NULL)
                PyErr_SetString(PyExc_RuntimeError, "candidate unit lists changed after their tries were built");
        }
        if (item == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, --k, item);
    }
    PyMem_Free(cost);
    return out;
}

/* counts[word[begin:end]] += n */
static int add_count(PyObject *counts, PyObject *word, Py_ssize_t begin, Py_ssize_t end, PyObject *n)
{
    PyObject *key = PyUnicode_Substring(word, begin, end);
    if (key == NULL)
        return -1;
    PyObject *old = PyDict_GetItemWithError(counts, key); /* borrowed */
    PyObject *value = old != NULL ? PyNumber_Add(old, n) : PyErr_Occurred() ? NULL : Py_NewRef(n);
    int status = value != NULL ? PyDict_SetItem(counts, key, value) : -1;
    Py_XDECREF(value);
    Py_DECREF(key);
    return status;
}

/* corpus_counts.py_slice_counts, the same loops: every (lo, hi) is a range of sizes. */
static PyObject *slice_counts(PyObject *module, PyObject *args)
{
    PyObject *words;
    Py_ssize_t prefix_lo, prefix_hi, inner_lo, inner_hi, final_lo, final_hi;
    if (!PyArg_ParseTuple(args, "O!nnnnnn:slice_counts", &PyDict_Type, &words, &prefix_lo, &prefix_hi, &inner_lo, &inner_hi,
                          &final_lo, &final_hi))
        return NULL;
    PyObject *prefixes = PyDict_New(), *inner = PyDict_New();
    if (prefixes == NULL || inner == NULL)
        goto fail;
    PyObject *word, *n;
    Py_ssize_t pos = 0;
    while (PyDict_Next(words, &pos, &word, &n)) {
        if (!PyUnicode_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "words must map str to counts");
            goto fail;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(word);
        for (Py_ssize_t size = prefix_lo; size < prefix_hi && size < len; size++)
            if (add_count(prefixes, word, 0, size, n) < 0)
                goto fail;
        for (Py_ssize_t begin = 1; begin < len; begin++)
            for (Py_ssize_t size = inner_lo; size < inner_hi && begin + size <= len; size++)
                if (add_count(inner, word, begin, begin + size, n) < 0)
                    goto fail;
        for (Py_ssize_t size = final_lo; size < final_hi && size < len; size++)
            if (add_count(inner, word, len - size, len, n) < 0)
                goto fail;
    }
    return Py_BuildValue("(NN)", prefixes, inner);
fail:
    Py_XDECREF(prefixes);
    Py_XDECREF(inner);
    return NULL;
}

static PyMethodDef methods[] = {
    {"encode_pieces", encode_pieces, METH_VARARGS, "encode_pieces(parts, tables) -> (ids packed as int32, words); see ltmc.fastpath.py_encode_pieces"},
    {"split_pieces", split_pieces, METH_VARARGS, "split_pieces(text, classes) -> pieces or None; see ltmc.fastpath.pieces"},
    {"decode_flat", decode_flat, METH_VARARGS, "decode_flat(ids, starts, role, space_after, cap_effect, spell_offsets, spell_data) -> (bytes, int64 ends); see Codebook.decode_scenes"},
    {"segment_word", segment_word, METH_VARARGS, "segment_word(word, tables, bound) -> ids or None; see ltmc.fastpath.py_segment_word"},
    {"candidate_tries", candidate_tries, METH_VARARGS, "candidate_tries(start_units, cont_units, max_chars) -> capsule; see ltmc.segmenting.Segmenter"},
    {"discard_candidate", discard_candidate, METH_VARARGS, "discard_candidate(tries, role, text); see ltmc.segmenting.Segmenter.discard"},
    {"segment_candidates", segment_candidates, METH_VARARGS, "segment_candidates(tries, word, without, first_role) -> units; see ltmc.segmenting.Segmenter.py_segment"},
    {"slice_counts", slice_counts, METH_VARARGS, "slice_counts(words, prefix_lo, prefix_hi, inner_lo, inner_hi, final_lo, final_hi) -> (prefix counts, inner counts); see ltmc.corpus_counts.py_slice_counts"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ltmc._fastpath", "C twin of ltmc.fastpath", -1, methods};

PyMODINIT_FUNC PyInit__fastpath(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "START", START) < 0 || PyModule_AddIntConstant(m, "MARKER", MARKER) < 0 ||
        PyModule_AddIntConstant(m, "SET", SET) < 0 || PyModule_AddIntConstant(m, "CLEAR", CLEAR) < 0 ||
        PyModule_AddIntConstant(m, "GLUE_ID", GLUE_ID) < 0 || PyModule_AddIntConstant(m, "FLIP_ID", FLIP_ID) < 0 ||
        PyModule_AddIntConstant(m, "SENTENCE_START", SENTENCE_START) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
