/*
 * gr-phydnn: Python binding of phydnn::symbol_timing_cc (written by hand; there is no
 * bindtool/pygccxml step in this module's build).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <pybind11/complex.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

#include <gnuradio/phydnn/symbol_timing_cc.h>

void bind_symbol_timing_cc(py::module& m)
{
    using symbol_timing_cc = gr::phydnn::symbol_timing_cc;
    py::class_<symbol_timing_cc, gr::block, gr::basic_block,
               std::shared_ptr<symbol_timing_cc>>(
        m, "symbol_timing_cc",
        "Symbol timing recovery: polyphase matched filter, Gardner TED, PI loop "
        "(samples in, one symbol out per symbol).")
        .def(py::init(&symbol_timing_cc::make),
             py::arg("sps"), py::arg("loop_bw"), py::arg("damping"), py::arg("ted_gain"),
             py::arg("max_deviation"), py::arg("nfilters"), py::arg("taps"))
        .def("avg_period", &symbol_timing_cc::avg_period,
             "The loop's average symbol period, in samples.");
}
