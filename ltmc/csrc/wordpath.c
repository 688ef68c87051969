/* The word path of a piece no cache holds (fastpath._encode_word_piece): the
 * spellings of the word, from segment (fastpath.py_segment_word on the codebook's
 * token tries), each kept only if it decodes back to the piece (decodes_to); and
 * segment_word, the segmenter alone, for Python. */

#include "fastpath.h"

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

static int append_id(PyObject *list, long token_id)
{
    PyObject *value = PyLong_FromLong(token_id);
    if (value == NULL)
        return -1;
    int status = PyList_Append(list, value);
    Py_DECREF(value);
    return status;
}

/* An id's weight (fastpath.Tables.weights), 0 past the end of the list. */
static inline int64_t weight_of(const Tries *tries, long token_id)
{
    return token_id >= 0 && token_id < tries->n_weights ? tries->weights[token_id] : 0;
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
    int tied = tries->weights != NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(word);
    int kind = PyUnicode_KIND(word);
    const void *data = PyUnicode_DATA(word);
    long inf = (long)n * 8 + 8;
    /* cost[i]: fewest ids for word[:i]; its last token spans back_begin[i]..i and is
     * back_id[i], or -1 for that one character's bytes. gain[i]: with weights, the
     * summed weight of that path (weights are <= 0, so an unreached 0 never wins). */
    long *cost = PyMem_Malloc(3 * (size_t)(n + 1) * sizeof(long));
    int64_t *gain = PyMem_Calloc((size_t)(n + 1), sizeof(int64_t));
    if (cost == NULL || gain == NULL) {
        PyMem_Free(cost);
        PyMem_Free(gain);
        return PyErr_NoMemory();
    }
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
            gain[end] = tied ? weight_of(tries, token_id) : 0;
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
        if (reach > cost[n] || (reach == cost[n] && !tied))
            continue;
        node = 0;
        for (Py_ssize_t end = begin + 1; end <= n; end++) {
            node = trie_child(&tries->cont, node, PyUnicode_READ(kind, data, end - 1));
            if (node < 0)
                break;
            long token_id = tries->cont.ids[node];
            if (token_id < 0)
                continue;
            int64_t got = tied ? gain[begin] + weight_of(tries, token_id) : 0;
            if (reach < cost[end] || (tied && reach == cost[end] && got > gain[end])) {
                cost[end] = reach;
                back_begin[end] = (long)begin;
                back_id[end] = token_id;
                gain[end] = got;
            }
        }
        if (reach < cost[begin + 1] || (tied && reach == cost[begin + 1])) {
            int count = char_bytes(PyUnicode_READ(kind, data, begin), spelled_bytes);
            long spelled = cost[begin] + count;
            int64_t got = 0;
            for (int b = 0; tied && b < count; b++)
                got += weight_of(tries, spelled_bytes[b]);
            if (tied)
                got += gain[begin];
            if (spelled < cost[begin + 1] || (tied && spelled == cost[begin + 1] && got > gain[begin + 1])) {
                cost[begin + 1] = spelled;
                back_begin[begin + 1] = (long)begin;
                back_id[begin + 1] = -1;
                gain[begin + 1] = got;
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
    PyMem_Free(gain);
    return out;
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
PyObject *ltmc_encode_word_piece(const Tables *t, PyObject *piece, int cap, int space)
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

PyObject *ltmc_segment_word(PyObject *module, PyObject *args)
{
    PyObject *word, *tables, *bound;
    if (!PyArg_ParseTuple(args, "UOO:segment_word", &word, &tables, &bound))
        return NULL;
    Tries *tries = ltmc_tries_of(tables);
    return tries ? segment(tries, word, bound) : NULL;
}
