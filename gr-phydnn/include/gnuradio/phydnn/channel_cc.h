/* -*- c++ -*- */
/*
 * gr-phydnn: the loopback's channel in one block.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#ifndef INCLUDED_PHYDNN_CHANNEL_CC_H
#define INCLUDED_PHYDNN_CHANNEL_CC_H

#include <gnuradio/block.h>
#include <gnuradio/phydnn/api.h>
#include <cstdint>
#include <vector>

namespace gr {
namespace phydnn {

/*!
 * \brief A radio channel for a loopback faster than the air it simulates: sample clock
 * offset, multipath taps, frequency offset and AWGN in one pass over the samples.
 * \ingroup phydnn
 *
 * \details
 * What GNU Radio's chain mmse_resampler_cc(mu, ratio) -> fir_filter_ccc(taps) ->
 * rotator_cc(phase_inc) -> add_cc with fastnoise_source_c(GR_GAUSSIAN, noise_voltage, seed,
 * pool) computes (channel_model's order: clock, taps, frequency, noise), with GNU Radio's
 * own parts: the 8-tap MMSE interpolator (mmse_fir_interpolator_cc's taps and arm choice,
 * inline) stepped as mmse_resampler_cc steps it, the FIR kernel (gr::filter::kernel::fir_filter_ccc), the
 * rotator (gr::blocks::rotator) and fastnoise_source's noise (a pool of \p pool Gaussian
 * values from gr::random(seed), indexed by xoroshiro128+ seeded with \p seed), so that for
 * the same settings the output is that chain's, sample for sample (qa_channel_sim.py
 * tests it). One block instead of five: no buffers between them and one scheduler thread
 * where the chain ran five (at 20 MS/s on two cores, the threads' hand-offs and the five
 * passes over memory cost more than the arithmetic).
 *
 * The resampler is skipped when \p ratio is 1 and \p mu 0, the FIR when \p taps is {1}.
 * Stream tags are not propagated (channel_model's block_tags default).
 */
class PHYDNN_API channel_cc : virtual public gr::block
{
public:
    typedef std::shared_ptr<channel_cc> sptr;

    /*!
     * \param noise_voltage complex noise amplitude (the noise's E|n|^2 is its square)
     * \param phase_inc frequency offset, radians per sample (rotator_cc's phase_inc)
     * \param ratio input samples per output sample (mmse_resampler_cc's resamp_ratio)
     * \param mu the interpolator's first fractional position, in [0, 1) samples
     * \param taps multipath taps at the sample rate ({1}: none)
     * \param seed the noise's seed (fastnoise_source_c's)
     * \param pool Gaussian values in the noise table, a power of two
     */
    static sptr make(float noise_voltage,
                     float phase_inc,
                     float ratio,
                     float mu,
                     const std::vector<gr_complex>& taps,
                     uint64_t seed,
                     size_t pool);

    /*! \brief Set the noise amplitude (draws the pool anew, as fastnoise does). */
    virtual void set_noise_voltage(float noise_voltage) = 0;
    /*! \brief Set the frequency offset, radians per sample. */
    virtual void set_phase_inc(float phase_inc) = 0;
};

} // namespace phydnn
} // namespace gr

#endif /* INCLUDED_PHYDNN_CHANNEL_CC_H */
