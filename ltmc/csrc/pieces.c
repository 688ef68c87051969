/* split_pieces: pretokenize.pieces without the regex, for encode_pieces; the pieces
 * it makes are interned, so that the encoder's memo (encode.c) mostly sees a
 * recurring piece as the same object. */

#include "fastpath.h"

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
PyObject *ltmc_split_pieces(PyObject *module, PyObject *args)
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
