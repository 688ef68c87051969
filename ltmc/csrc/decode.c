/* decode_flat (scene_decoder.decode_scenes): the decoder's rules of fastpath.h applied to
 * whole scenes, without the GIL. */

#include "fastpath.h"

/* Scenes of ids back to bytes: decode_run on every scene, over flat arrays
 * (scene_decoder.SpellingArrays), so that it runs without the GIL and decode
 * threads work at once. */
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
PyObject *ltmc_decode_flat(PyObject *module, PyObject *args)
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
