/* Tries over code points (fastpath.h's Trie): building and freeing one, for the
 * token texts of the encoder and the candidate units of mining; and the codebook's
 * pair of token tries, built once per process and kept in Tables.native. */

#include "fastpath.h"

static uint64_t tries_made;

#define TRIES_CAPSULE "ltmc._fastpath.Tries"

void ltmc_trie_free(Trie *trie)
{
    PyMem_Free(trie->ids);
    PyMem_Free(trie->keys);
    PyMem_Free(trie->children);
}

/* A trie of every text the dict maps to an id >= 0; a node on the way to one is a
 * mere prefix (-1). */
int ltmc_trie_build(Trie *trie, PyObject *ids)
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

static void tries_release(Tries *tries)
{
    ltmc_trie_free(&tries->start);
    ltmc_trie_free(&tries->cont);
    PyMem_Free(tries->weights);
    PyMem_Free(tries);
}

static void tries_free(PyObject *capsule)
{
    Tries *tries = PyCapsule_GetPointer(capsule, TRIES_CAPSULE);
    if (tries != NULL)
        tries_release(tries);
}

/* tables.weights (None, or a list of ints) as a C array in `tries`; -1 on error. */
static int weights_build(Tries *tries, PyObject *weights)
{
    if (weights == Py_None)
        return 0;
    if (!PyList_Check(weights)) {
        PyErr_SetString(PyExc_TypeError, "tables: weights must be None or a list of ints");
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(weights);
    tries->weights = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (tries->weights == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long long w = PyLong_AsLongLong(PyList_GET_ITEM(weights, i));
        if (w == -1 && PyErr_Occurred())
            return -1;
        tries->weights[i] = w;
    }
    tries->n_weights = n;
    return 0;
}

/* The tries of `tables`, built on first use and kept in tables.native. Borrowed
 * from the capsule, which `tables` holds. */
Tries *ltmc_tries_of(PyObject *tables)
{
    PyObject *native = PyObject_GetAttrString(tables, "native");
    if (native == NULL)
        return NULL;
    if (native == Py_None) {
        Py_DECREF(native);
        PyObject *start_ids = PyObject_GetAttrString(tables, "start_ids");
        PyObject *cont_ids = start_ids ? PyObject_GetAttrString(tables, "cont_ids") : NULL;
        PyObject *weights = cont_ids ? PyObject_GetAttrString(tables, "weights") : NULL;
        Tries *tries = weights ? PyMem_Calloc(1, sizeof(Tries)) : NULL;
        int failed = tries == NULL || !PyDict_Check(start_ids) || !PyDict_Check(cont_ids) ||
                     ltmc_trie_build(&tries->start, start_ids) < 0 || ltmc_trie_build(&tries->cont, cont_ids) < 0 ||
                     weights_build(tries, weights) < 0;
        Py_XDECREF(start_ids);
        Py_XDECREF(cont_ids);
        Py_XDECREF(weights);
        if (!failed)
            tries->serial = ++tries_made;
        native = failed ? NULL : PyCapsule_New(tries, TRIES_CAPSULE, tries_free);
        if (native == NULL) {
            if (tries != NULL)
                tries_release(tries);
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
