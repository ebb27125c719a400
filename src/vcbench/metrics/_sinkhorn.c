/* The row-wise log-sum-exp of log-domain Sinkhorn, compiled (vcbench.metrics._sinkhorn).

   row_logsumexp(cost, inv_eps, h, out) sets out[i] = log sum_j exp(h[j] - cost[i, j] * inv_eps)
   for a C-contiguous float64 cost (n x m), float64 h (m) and out (n): the same algorithm as the
   numba kernel (vcbench/metrics/sinkhorn_numba.py), which is the fallback where this module could
   not be built. Each row is read twice: its maximum, then the sum of the exponentials shifted by
   it. The exponent is formed in float64 and lies in [-inf, 0]; its exponential is taken in float32
   with a polynomial the compiler vectorises (relative error < 4e-7; exponents below -87 count as
   -87), and the sum is accumulated in float64. The GIL is released while it runs. It uses no
   Python or numpy memory, so the evaluate process loads no JIT compiler (docs/performance.md).
   Built with reassociation allowed (setup.py), so the sums are vectorised; the reduction order is
   fixed by the compiled code (the same bits on the same machine, in any process or thread). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
/* one build for every x86-64 CPU, the widest vectors chosen at load time */
#define VCB_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define VCB_CLONES
#endif

static inline float exp32(float x) {
    x = x > -87.0f ? x : -87.0f;
    float t = x * 1.4426950408889634f;
    int32_t k = (int32_t)(t - 0.5f); /* t <= 0: truncation towards zero rounds to nearest */
    float kf = (float)k;
    float r = x - kf * 0.693359375f - kf * -2.12194440e-4f; /* ln 2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = (k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

VCB_CLONES
static void kernel(Py_ssize_t n, Py_ssize_t m, const double *cost, double inv_eps, const double *h,
                   double *out) {
    for (Py_ssize_t i = 0; i < n; i++) {
        const double *row = cost + i * m;
        double top = h[0] - row[0] * inv_eps;
        for (Py_ssize_t j = 1; j < m; j++) {
            double v = h[j] - row[j] * inv_eps;
            top = v > top ? v : top;
        }
        double total = 0.0;
        for (Py_ssize_t j = 0; j < m; j++) {
            total += (double)exp32((float)(h[j] - row[j] * inv_eps - top));
        }
        out[i] = top + log(total);
    }
}

static int float64_buffer(PyObject *object, Py_buffer *view, int writable, int ndim,
                          const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) != 0) {
        PyErr_Format(PyExc_TypeError, "row_logsumexp: %s must be a C-contiguous%s float64 array",
                     name, writable ? " writable" : "");
        return -1;
    }
    if (view->ndim != ndim || view->itemsize != 8 || view->format == NULL ||
        strcmp(view->format, "d") != 0) {
        PyErr_Format(PyExc_TypeError, "row_logsumexp: %s must be a %d-D float64 array", name, ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *row_logsumexp(PyObject *self, PyObject *args) {
    PyObject *cost_obj, *h_obj, *out_obj;
    double inv_eps;
    if (!PyArg_ParseTuple(args, "OdOO", &cost_obj, &inv_eps, &h_obj, &out_obj)) {
        return NULL;
    }
    Py_buffer cost, h, out;
    if (float64_buffer(cost_obj, &cost, 0, 2, "cost") != 0) {
        return NULL;
    }
    if (float64_buffer(h_obj, &h, 0, 1, "h") != 0) {
        PyBuffer_Release(&cost);
        return NULL;
    }
    if (float64_buffer(out_obj, &out, 1, 1, "out") != 0) {
        PyBuffer_Release(&cost);
        PyBuffer_Release(&h);
        return NULL;
    }
    Py_ssize_t n = cost.shape[0], m = cost.shape[1];
    PyObject *result = Py_None;
    if (h.shape[0] != m || out.shape[0] != n || m == 0) {
        PyErr_SetString(PyExc_ValueError,
                        "row_logsumexp: need cost (n x m, m >= 1), h (m) and out (n)");
        result = NULL;
    } else {
        Py_BEGIN_ALLOW_THREADS
        kernel(n, m, (const double *)cost.buf, inv_eps, (const double *)h.buf, (double *)out.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&cost);
    PyBuffer_Release(&h);
    PyBuffer_Release(&out);
    Py_XINCREF(result);
    return result;
}

static PyMethodDef methods[] = {
    {"row_logsumexp", row_logsumexp, METH_VARARGS,
     "row_logsumexp(cost, inv_eps, h, out): out[i] = log sum_j exp(h[j] - cost[i, j] * inv_eps)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sinkhorn", "The compiled Sinkhorn log-sum-exp kernel.", -1, methods,
};

PyMODINIT_FUNC PyInit__sinkhorn(void) { return PyModule_Create(&module); }
