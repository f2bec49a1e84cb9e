/*
 * gr-phydnn: Python binding of phydnn::channel_cc (written by hand, as
 * symbol_timing_cc_python.cc).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <pybind11/complex.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

#include <gnuradio/phydnn/channel_cc.h>

void bind_channel_cc(py::module& m)
{
    using channel_cc = gr::phydnn::channel_cc;
    py::class_<channel_cc, gr::block, gr::basic_block, std::shared_ptr<channel_cc>>(
        m, "channel_cc",
        "Sample clock offset, multipath taps, frequency offset and AWGN in one block "
        "(GNU Radio's mmse_resampler_cc -> fir_filter_ccc -> rotator_cc -> add_cc with "
        "fastnoise_source_c, sample for sample).")
        .def(py::init(&channel_cc::make),
             py::arg("noise_voltage"), py::arg("phase_inc"), py::arg("ratio"), py::arg("mu"),
             py::arg("taps"), py::arg("seed"), py::arg("pool"))
        .def("set_noise_voltage", &channel_cc::set_noise_voltage, py::arg("noise_voltage"),
             "Set the noise amplitude (draws the pool anew).")
        .def("set_phase_inc", &channel_cc::set_phase_inc, py::arg("phase_inc"),
             "Set the frequency offset, radians per sample.");
}
