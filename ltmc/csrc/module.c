/* The module ltmc._fastpath: its method table, whose functions live in the files of
 * their roles (fastpath.h says which), and fastpath.py's constants, which a test
 * compares with fastpath.py's own. */

#include "fastpath.h"

static PyMethodDef methods[] = {
    {"encode_pieces", ltmc_encode_pieces, METH_VARARGS, "encode_pieces(parts, tables) -> (ids packed as int32, words); see ltmc.fastpath.py_encode_pieces"},
    {"split_pieces", ltmc_split_pieces, METH_VARARGS, "split_pieces(text, classes) -> pieces or None; see ltmc.fastpath.pieces"},
    {"decode_flat", ltmc_decode_flat, METH_VARARGS, "decode_flat(ids, starts, role, space_after, cap_effect, spell_offsets, spell_data) -> (bytes, int64 ends); see Codebook.decode_scenes"},
    {"segment_word", ltmc_segment_word, METH_VARARGS, "segment_word(word, tables, bound) -> ids or None; see ltmc.fastpath.py_segment_word"},
    {"candidate_tries", ltmc_candidate_tries, METH_VARARGS, "candidate_tries(start_units, cont_units, max_chars) -> capsule; see ltmc.segmenting.Segmenter"},
    {"discard_candidate", ltmc_discard_candidate, METH_VARARGS, "discard_candidate(tries, role, text); see ltmc.segmenting.Segmenter.discard"},
    {"segment_candidates", ltmc_segment_candidates, METH_VARARGS, "segment_candidates(tries, word, without, first_role) -> units; see ltmc.segmenting.Segmenter.py_segment"},
    {"slice_counts", ltmc_slice_counts, METH_VARARGS, "slice_counts(words, prefix_lo, prefix_hi, inner_lo, inner_hi, final_lo, final_hi) -> (prefix counts, inner counts); see ltmc.corpus_counts.py_slice_counts"},
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
