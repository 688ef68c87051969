/* Mining's loops in C: segmenting.Segmenter on tries (candidate_tries,
 * discard_candidate, segment_candidates) and corpus_counts.py_slice_counts
 * (slice_counts). */

#include "fastpath.h"

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
        ltmc_trie_free(&c->trie[role]);
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
        status = ltmc_trie_build(trie, ids);
    Py_XDECREF(ids);
    return status;
}

PyObject *ltmc_candidate_tries(PyObject *module, PyObject *args)
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

PyObject *ltmc_discard_candidate(PyObject *module, PyObject *args)
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
PyObject *ltmc_segment_candidates(PyObject *module, PyObject *args)
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
PyObject *ltmc_slice_counts(PyObject *module, PyObject *args)
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
