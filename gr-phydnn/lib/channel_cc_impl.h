/* -*- c++ -*- */
/*
 * gr-phydnn: the loopback's channel in one block (see include/gnuradio/phydnn/channel_cc.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#ifndef INCLUDED_PHYDNN_CHANNEL_CC_IMPL_H
#define INCLUDED_PHYDNN_CHANNEL_CC_IMPL_H

#include <gnuradio/blocks/rotator.h>
#include <gnuradio/filter/fir_filter.h>
#include <gnuradio/phydnn/channel_cc.h>
#include <gnuradio/random.h>
#include <cstdlib>
#include <memory>

namespace gr {
namespace phydnn {

class channel_cc_impl : public channel_cc
{
private:
    const bool d_resample;
    const double d_ratio;
    double d_mu;
    std::unique_ptr<gr::filter::kernel::fir_filter_ccc> d_fir;   // null: flat channel
    int d_hist;                          // FIR taps - 1: the samples kept between calls
    std::vector<gr_complex> d_stage;     // [d_hist samples of history | this call's]
    std::vector<gr_complex> d_filtered;
    gr::blocks::rotator d_rotator;
    gr::random d_rng;                    // draws the pool, as fastnoise_source's does
    uint64_t d_state[2];                 // xoroshiro128+ state: the pool's indices
    size_t d_pool_size;
    std::unique_ptr<gr_complex[], decltype(&std::free)> d_pool;   // on huge pages
    std::vector<uint64_t> d_index;       // a run of the pool's indices, prefetched
    float d_ampl;                        // per real dimension: noise_voltage / sqrt(2)

    void draw_pool();

public:
    channel_cc_impl(float noise_voltage,
                    float phase_inc,
                    float ratio,
                    float mu,
                    const std::vector<gr_complex>& taps,
                    uint64_t seed,
                    size_t pool);

    void set_noise_voltage(float noise_voltage) override;
    void set_phase_inc(float phase_inc) override;

    void forecast(int noutput_items, gr_vector_int& ninput_items_required) override;

    int general_work(int noutput_items,
                     gr_vector_int& ninput_items,
                     gr_vector_const_void_star& input_items,
                     gr_vector_void_star& output_items) override;
};

} // namespace phydnn
} // namespace gr

#endif /* INCLUDED_PHYDNN_CHANNEL_CC_IMPL_H */
