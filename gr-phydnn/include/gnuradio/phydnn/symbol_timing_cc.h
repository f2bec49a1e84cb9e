/* -*- c++ -*- */
/*
 * gr-phydnn: symbol timing recovery at the receiver's sample rate.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#ifndef INCLUDED_PHYDNN_SYMBOL_TIMING_CC_H
#define INCLUDED_PHYDNN_SYMBOL_TIMING_CC_H

#include <gnuradio/block.h>
#include <gnuradio/phydnn/api.h>
#include <vector>

namespace gr {
namespace phydnn {

/*!
 * \brief Symbol timing recovery: polyphase matched filter, Gardner timing error detector,
 * PI loop; samples in (sps per symbol), one matched-filtered symbol out per symbol.
 * \ingroup phydnn
 *
 * \details
 * The work that GNU Radio's symbol_sync_cc does with TED_GARDNER, IR_PFB_MF and one output
 * sample per symbol, written for that one case: two interpolants per symbol (the symbol
 * and the midpoint before it), each the nearest of the \p nfilters arms of the matched
 * filter \p taps (designed at nfilters x sps samples per symbol), the Gardner error
 * e = Re{conj(mid) (prev - sym)}, and clock_tracking_loop's PI loop filter (the same
 * proportional and integral gains for the same loop bandwidth, damping and TED gain; the
 * average period held within \p max_deviation samples of \p sps). Every input tag comes
 * out on the first symbol at or after its sample, counting the filter's delay.
 *
 * The numpy version, phydnn.link.timing.gardner_timing, is the reference it is tested
 * against.
 */
class PHYDNN_API symbol_timing_cc : virtual public gr::block
{
public:
    typedef std::shared_ptr<symbol_timing_cc> sptr;

    /*!
     * \param sps nominal samples per symbol (an integer >= 2)
     * \param loop_bw loop bandwidth (omega_n T, per symbol), as symbol_sync_cc's
     * \param damping damping factor of the loop
     * \param ted_gain the timing error detector's gain (the loop's gains are divided by it)
     * \param max_deviation largest deviation of the average period from sps, in samples
     * \param nfilters arms of the polyphase matched filter
     * \param taps the matched filter at nfilters * sps samples per symbol
     */
    static sptr make(int sps,
                     float loop_bw,
                     float damping,
                     float ted_gain,
                     float max_deviation,
                     int nfilters,
                     const std::vector<float>& taps);

    /*! \brief The loop's average symbol period, in samples. */
    virtual float avg_period() const = 0;
};

} // namespace phydnn
} // namespace gr

#endif /* INCLUDED_PHYDNN_SYMBOL_TIMING_CC_H */
