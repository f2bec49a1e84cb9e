/* -*- c++ -*- */
/*
 * gr-phydnn: symbol timing recovery (see include/gnuradio/phydnn/symbol_timing_cc.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#ifndef INCLUDED_PHYDNN_SYMBOL_TIMING_CC_IMPL_H
#define INCLUDED_PHYDNN_SYMBOL_TIMING_CC_IMPL_H

#include <gnuradio/phydnn/symbol_timing_cc.h>
#include <volk/volk_alloc.hh>

namespace gr {
namespace phydnn {

class symbol_timing_cc_impl : public symbol_timing_cc
{
private:
    const int d_sps;
    const int d_nfilters;
    int d_arm_len;                            // taps per arm
    double d_delay;                           // the matched filter's delay, in samples
    volk::vector<float> d_taps;   // the arms one after another; arm a: taps a, a + N, ...,
                                  // reversed, each twice (re, im)
    float d_alpha, d_beta;                    // PI loop gains (clock_tracking_loop's)
    float d_min_period, d_max_period;
    float d_avg_period, d_inst_period;
    double d_last;         // position of the last symbol, in samples from in[0]
    gr_complex d_prev;     // the last symbol
    std::vector<double> d_positions;          // this call's symbol positions (tags)
    std::vector<gr::tag_t> d_tags;

    gr_complex interpolate(const gr_complex* in, double t) const;
    int track(const gr_complex* in, int ni, gr_complex* out, int noutput_items);
    void propagate_tags(int consumed, int produced);

public:
    symbol_timing_cc_impl(int sps,
                          float loop_bw,
                          float damping,
                          float ted_gain,
                          float max_deviation,
                          int nfilters,
                          const std::vector<float>& taps);

    float avg_period() const override { return d_avg_period; }

    void forecast(int noutput_items, gr_vector_int& ninput_items_required) override;

    int general_work(int noutput_items,
                     gr_vector_int& ninput_items,
                     gr_vector_const_void_star& input_items,
                     gr_vector_void_star& output_items) override;
};

} // namespace phydnn
} // namespace gr

#endif /* INCLUDED_PHYDNN_SYMBOL_TIMING_CC_IMPL_H */
