/*
 * gr-phydnn: Python bindings of the C++ blocks (module gnuradio.phydnn.phydnn_python).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <pybind11/pybind11.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

namespace py = pybind11;

// BINDING_FUNCTION_PROTOTYPES(
void bind_channel_cc(py::module& m);
void bind_symbol_timing_cc(py::module& m);
void bind_sync_kernels(py::module& m);
// ) END BINDING_FUNCTION_PROTOTYPES

// import_array() returns NULL on newer Pythons: call it from a function that returns void*
void* init_numpy()
{
    import_array();
    return NULL;
}

PYBIND11_MODULE(phydnn_python, m)
{
    init_numpy();
    py::module::import("gnuradio.gr");   // the base block classes
    // BINDING_FUNCTION_CALLS(
    bind_channel_cc(m);
    bind_symbol_timing_cc(m);
    bind_sync_kernels(m);
    // ) END BINDING_FUNCTION_CALLS
}
