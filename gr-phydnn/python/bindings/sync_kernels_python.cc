/*
 * gr-phydnn: Python bindings of phydnn::sync_kernels (submodule sync_kernels of
 * gnuradio.phydnn.phydnn_python). Arrays in as numpy complex64 (copied only when they are
 * not already contiguous complex64); the work runs without the GIL.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <pybind11/complex.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

#include <gnuradio/phydnn/sync_kernels.h>

namespace {

namespace k = gr::phydnn::sync_kernels;
typedef py::array_t<k::cf, py::array::c_style | py::array::forcecast> carray;

int length(const carray& a) { return static_cast<int>(a.size()); }

void same_length(const carray& a, const carray& b, const char* what)
{
    if (a.size() != b.size())
        throw std::invalid_argument(std::string(what) + ": the arrays differ in length");
}

py::array_t<k::cf> to_numpy(std::vector<k::cf>&& v)
{
    py::array_t<k::cf> out(v.size());
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

} // namespace

void bind_sync_kernels(py::module& parent)
{
    py::module m = parent.def_submodule(
        "sync_kernels",
        "The per-segment sync's numeric kernels in C++ (phydnn.link.sync's numpy functions "
        "of the same names are their reference).");

    m.def(
        "estimate_from_known",
        [](const carray& received, const carray& known) {
            same_length(received, known, "estimate_from_known");
            k::known_fit fit;
            {
                py::gil_scoped_release free;
                fit = k::estimate_from_known(received.data(), known.data(), length(known));
            }
            return py::make_tuple(fit.gain, fit.freq, fit.noise_var);
        },
        py::arg("received"), py::arg("known"),
        "(complex gain at symbol 0, frequency in cycles/symbol, noise variance).");

    m.def(
        "squared_tone",
        [](const carray& r, double span) {
            py::gil_scoped_release free;
            return k::squared_tone(r.data(), length(r), span);
        },
        py::arg("r"), py::arg("span"),
        "Residual frequency (cycles/symbol) of derotated BPSK symbols.");

    m.def(
        "track",
        [](const carray& y, int order, k::cd p0_order, double phase, double freq, double amp,
           int step, int smooth, const carray& eq_taps, int eq_delay,
           py::object conj_chips) {
            carray chips;
            const bool scrambled = !conj_chips.is_none();
            if (scrambled) {
                chips = conj_chips.cast<carray>();
                if (chips.size() < y.size())
                    throw std::invalid_argument("track: fewer chips than symbols");
            }
            k::tracked out;
            {
                py::gil_scoped_release free;
                out = k::track(y.data(), length(y), order, p0_order, phase, freq, amp, step,
                               smooth, eq_taps.data(), length(eq_taps), eq_delay,
                               scrambled ? chips.data() : nullptr);
            }
            return py::make_tuple(to_numpy(std::move(out.symbols)), out.phase, out.freq);
        },
        py::arg("y"), py::arg("order"), py::arg("p0_order"), py::arg("phase"),
        py::arg("freq"), py::arg("amp"), py::arg("step"), py::arg("smooth"),
        py::arg("eq_taps"), py::arg("eq_delay"), py::arg("conj_chips"),
        "SegmentSync._track's arithmetic: (derotated symbols, next phase, next frequency).");

    m.def(
        "header_front",
        [](const carray& symbols, const carray& sync_word, int step, double span) {
            k::front f;
            {
                py::gil_scoped_release free;
                f = k::header_front(symbols.data(), length(symbols), sync_word.data(),
                                    length(sync_word), step, span);
            }
            return py::make_tuple(to_numpy(std::move(f.header)), f.phase, f.freq,
                                  f.phase_out, f.freq_out, f.amp, to_numpy(std::move(f.sync)));
        },
        py::arg("symbols"), py::arg("sync_word"), py::arg("step"), py::arg("span"),
        "sync.header_front: (tracked header, phase, freq, phase after, freq after, amplitude, "
        "derotated sync word).");

    m.def(
        "header_bits",
        [](const carray& symbols, int repetitions, int coded, int bits) {
            if (symbols.size() != static_cast<py::ssize_t>(repetitions) * coded)
                throw std::invalid_argument("header_bits: repetitions x coded symbols");
            std::vector<uint8_t> out;
            {
                py::gil_scoped_release free;
                out = k::header_bits(symbols.data(), repetitions, coded, bits);
            }
            py::array_t<uint8_t> a(out.size());
            std::copy(out.begin(), out.end(), a.mutable_data());
            return a;
        },
        py::arg("symbols"), py::arg("repetitions"), py::arg("coded"), py::arg("bits"),
        "The header's information bits (uint8), Viterbi-decoded by gr-fec.");

    m.def(
        "estimate_channel",
        [](const carray& received, const carray& known, int pre, int post) {
            same_length(received, known, "estimate_channel");
            std::vector<k::cd> g;
            double resid = 0.0;
            {
                py::gil_scoped_release free;
                g = k::estimate_channel(received.data(), known.data(), length(known), pre,
                                        post, &resid);
            }
            py::array_t<k::cd> taps(g.size());
            std::copy(g.begin(), g.end(), taps.mutable_data());
            return py::make_tuple(taps, resid);
        },
        py::arg("received"), py::arg("known"), py::arg("pre"), py::arg("post"),
        "(least-squares channel taps, noise variance the fit leaves).");
}
