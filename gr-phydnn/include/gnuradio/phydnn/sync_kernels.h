/* -*- c++ -*- */
/*
 * gr-phydnn: the numeric kernels of the per-segment sync (phydnn.link.sync), in C++.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#ifndef INCLUDED_PHYDNN_SYNC_KERNELS_H
#define INCLUDED_PHYDNN_SYNC_KERNELS_H

#include <gnuradio/phydnn/api.h>
#include <complex>
#include <cstdint>
#include <vector>

namespace gr {
namespace phydnn {
namespace sync_kernels {

/*!
 * \brief The per-segment sync's arithmetic, what phydnn.link.sync computes in numpy (its
 * functions of the same names are the reference these are tested against, in
 * tests/qa_sync_kernels.py). Plain functions of arrays: the Python segment sync keeps the
 * decisions (header decode, refusals, block sizes) and calls these for the work per symbol,
 * without the GIL (in numpy, a segment's ~60 calls on short arrays each held it).
 */

typedef std::complex<float> cf;
typedef std::complex<double> cd;

/*! \brief The fit of known symbols: z_n = y_n conj(s_n) = g e^{j 2 pi f n} + noise. */
struct known_fit {
    cd gain;            //!< complex gain at symbol 0
    double freq;        //!< cycles per symbol
    double noise_var;   //!< what the fit leaves, per symbol
};

/*! \brief estimate_from_known: the periodogram's peak (zero-padded 4x, at least 256
 *  points), a parabola through it, then the gain and the residual. */
PHYDNN_API known_fit estimate_from_known(const cf* received, const cf* known, int n);

/*! \brief squared_tone: the residual frequency of derotated BPSK symbols from the tone
 *  of r^2 within +-span cycles per symbol (the zoomed 8x zero-padded periodogram). */
PHYDNN_API double squared_tone(const cf* r, int n, double span);

/*! \brief What track() leaves: the derotated symbols, the next symbol's phase and
 *  frequency. */
struct tracked {
    std::vector<cf> symbols;
    double phase;
    double freq;
};

/*!
 * \brief SegmentSync._track: derotate \p y by (phase, freq), scale by 1/amp, equalise
 * (\p eq_taps, \p eq_delay; none when eq_len is 0) and descramble (\p conj_chips, n of
 * them; none when null), then the M-th power block phases over blocks of \p step symbols
 * (\p p0_order = the constellation's first point to the M-th), unwrapped from 0, smoothed
 * about their line over \p smooth blocks (> 1), drawn as a line between block centres and
 * removed; the frequency refined by their slope.
 */
PHYDNN_API tracked track(const cf* y,
                         int n,
                         int order,
                         cd p0_order,
                         double phase,
                         double freq,
                         double amp,
                         int step,
                         int smooth,
                         const cf* eq_taps,
                         int eq_len,
                         int eq_delay,
                         const cf* conj_chips);

/*! \brief estimate_channel: least-squares taps g[0..pre+post] of r_n = sum_k g_k s_(n-k)
 *  by the normal equations (Toeplitz Gram matrix), and the noise the fit leaves. */
PHYDNN_API std::vector<cd>
estimate_channel(const cf* received, const cf* known, int n, int pre, int post, double* resid);

/*! \brief What header_front() leaves: the tracked header, the phase and frequency at its
 *  start and after it, the amplitude (0: no signal, nothing else computed), the sync word
 *  derotated and scaled. */
struct front {
    std::vector<cf> header;
    double phase, freq, phase_out, freq_out, amp;
    std::vector<cf> sync;
};

/*! \brief sync.header_front: the sync word's gain and frequency, the frequency refined on
 *  the header's squared BPSK, the gain again, the header tracked (blocks of \p step);
 *  \p symbols hold the sync word (\p nsw, \p sync_word) and then the header. */
PHYDNN_API front header_front(
    const cf* symbols, int n, const cf* sync_word, int nsw, int step, double span);

/*! \brief The header's information bits from its \p repetitions x \p coded received
 *  BPSK symbols (phase-corrected): the copies' real parts added, scaled and quantised as
 *  phydnn.fec.ConvolutionalCode does (-llr / mean |llr|, then 128 + 48 x, to uint8), and
 *  decoded by gr-fec's K = 7 (109, 79) terminated rate-1/2 Viterbi decoder (cc_decoder,
 *  one per thread: a decoder keeps state while it works) into \p bits information bits. */
PHYDNN_API std::vector<uint8_t>
header_bits(const cf* symbols, int repetitions, int coded, int bits);

} // namespace sync_kernels
} // namespace phydnn
} // namespace gr

#endif /* INCLUDED_PHYDNN_SYNC_KERNELS_H */
