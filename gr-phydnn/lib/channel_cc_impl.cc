/* -*- c++ -*- */
/*
 * gr-phydnn: the loopback's channel in one block (see include/gnuradio/phydnn/channel_cc.h).
 *
 * Why not GNU Radio's chain of five blocks: on the two cores the loopback runs on, the
 * chain (resampler, FIR, rotator, noise source, adder) ran at 11-12 M samples/s with the
 * demo's offsets, under the 20 MS/s air it simulates, and its threads took the cores from
 * the receiver while a burst was on air. The parts here are that chain's own, called in
 * one loop over each call's samples.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "channel_cc_impl.h"
#include <gnuradio/io_signature.h>
#include <gnuradio/xoroshiro128p.h>
#include <sys/mman.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gr {
namespace phydnn {

channel_cc::sptr channel_cc::make(float noise_voltage,
                                  float phase_inc,
                                  float ratio,
                                  float mu,
                                  const std::vector<gr_complex>& taps,
                                  uint64_t seed,
                                  size_t pool)
{
    return gnuradio::make_block_sptr<channel_cc_impl>(
        noise_voltage, phase_inc, ratio, mu, taps, seed, pool);
}

namespace {

// GNU Radio's MMSE interpolator taps (gr-filter's interpolator_taps.h: NTAPS = 8 taps at each
// of NSTEPS + 1 = 129 fractional positions), the table mmse_fir_interpolator_cc filters with
namespace mmse {
#include <gnuradio/filter/interpolator_taps.h>
}

// mmse_fir_interpolator_cc::interpolate(in, mu), inline: the arm nearest mu (rint, as
// there) as its FIR kernel applies it, in[i] times tap NTAPS - 1 - i (a kernel reverses its
// taps); GNU Radio calls one VOLK dot product per output sample for this, which at 8 taps
// costs more in the call than in the arithmetic
inline gr_complex interpolate(const gr_complex* in, float mu)
{
    // rint(x) for x = mu NSTEPS >= 0, ties to even, without a libm call (x86-64's baseline
    // has no rounding instruction)
    const float x = mu * mmse::NSTEPS;
    int arm = static_cast<int>(x + 0.5f);
    if (arm - x == 0.5f && (arm & 1))
        arm--;
    const float* h = mmse::taps[arm];
    float re = 0.0f, im = 0.0f;
    for (int i = 0; i < mmse::NTAPS; i++) {
        re += in[i].real() * h[mmse::NTAPS - 1 - i];
        im += in[i].imag() * h[mmse::NTAPS - 1 - i];
    }
    return gr_complex(re, im);
}

constexpr int PREFETCH = 64;       // noise samples whose pool entries are fetched together
constexpr size_t HUGE_PAGE = 2 << 20;

void check(bool ok, const std::string& what)
{
    if (!ok)
        throw std::invalid_argument("channel_cc: " + what);
}

bool flat(const std::vector<gr_complex>& taps)
{
    return taps.size() == 1 && taps[0] == gr_complex(1.0f, 0.0f);
}

} // namespace

channel_cc_impl::channel_cc_impl(float noise_voltage,
                                 float phase_inc,
                                 float ratio,
                                 float mu,
                                 const std::vector<gr_complex>& taps,
                                 uint64_t seed,
                                 size_t pool)
    : gr::block("phydnn_channel_cc",
                gr::io_signature::make(1, 1, sizeof(gr_complex)),
                gr::io_signature::make(1, 1, sizeof(gr_complex))),
      d_resample(ratio != 1.0f || mu != 0.0f),
      d_ratio(ratio),
      d_mu(mu),
      d_hist(0),
      d_rng(seed),
      d_pool_size(pool),
      d_pool(nullptr, &std::free),
      d_index(PREFETCH)
{
    check(ratio > 0.0f, "ratio must be > 0");
    check(mu >= 0.0f && mu < 1.0f, "mu must be in [0, 1)");
    check(!taps.empty(), "taps must hold at least one tap ({1}: a flat channel)");
    check(pool > 0 && (pool & (pool - 1)) == 0, "pool must be a power of two");
    check(noise_voltage >= 0.0f, "noise_voltage must be >= 0");
    if (!flat(taps)) {
        d_fir = std::make_unique<gr::filter::kernel::fir_filter_ccc>(taps);
        d_hist = static_cast<int>(taps.size()) - 1;
    }
    d_stage.assign(d_hist, gr_complex(0.0f, 0.0f));   // the FIR starts on zeros, as a block
    set_phase_inc(phase_inc);
    xoroshiro128p_seed(d_state, seed);
    // the pool is read at random, a cache miss per sample: on 2 MB pages its 8 MB (2^20
    // values) need 4 TLB entries instead of 2048
    const size_t bytes = (pool * sizeof(gr_complex) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    d_pool.reset(static_cast<gr_complex*>(std::aligned_alloc(HUGE_PAGE, bytes)));
    check(d_pool != nullptr, "no memory for a pool of " + std::to_string(pool) + " values");
    madvise(d_pool.get(), bytes, MADV_HUGEPAGE);   // advice: without it, 4 KB pages
    d_ampl = noise_voltage / std::sqrt(2.0f);
    draw_pool();
    if (d_resample)
        set_inverse_relative_rate(d_ratio);
    set_tag_propagation_policy(TPP_DONT);
}

void channel_cc_impl::draw_pool()
{
    for (size_t i = 0; i < d_pool_size; i++)
        d_pool[i] = d_ampl * d_rng.rayleigh_complex();
}

void channel_cc_impl::set_noise_voltage(float noise_voltage)
{
    gr::thread::scoped_lock guard(d_setlock);
    d_ampl = noise_voltage / std::sqrt(2.0f);
    draw_pool();
}

void channel_cc_impl::set_phase_inc(float phase_inc)
{
    gr::thread::scoped_lock guard(d_setlock);
    d_rotator.set_phase_incr(std::exp(gr_complex(0.0f, phase_inc)));
}

void channel_cc_impl::forecast(int noutput_items, gr_vector_int& ninput_items_required)
{
    ninput_items_required[0] =
        d_resample ? static_cast<int>(std::ceil(noutput_items * d_ratio)) + mmse::NTAPS
                   : noutput_items;
}

int channel_cc_impl::general_work(int noutput_items,
                                  gr_vector_int& ninput_items,
                                  gr_vector_const_void_star& input_items,
                                  gr_vector_void_star& output_items)
{
    gr::thread::scoped_lock guard(d_setlock);
    const gr_complex* in = static_cast<const gr_complex*>(input_items[0]);
    gr_complex* out = static_cast<gr_complex*>(output_items[0]);
    const int ni = ninput_items[0];
    if (d_stage.size() < static_cast<size_t>(d_hist + noutput_items))
        d_stage.resize(d_hist + noutput_items);
    gr_complex* stage = d_stage.data() + d_hist;

    // 1. the receiver's sample clock: mmse_resampler_cc's stepping of the interpolator
    int k = 0, used = 0;
    if (d_resample) {
        while (k < noutput_items && used + mmse::NTAPS <= ni) {
            stage[k++] = interpolate(&in[used], static_cast<float>(d_mu));
            const double s = d_mu + d_ratio;     // >= 0: truncation is the floor
            const long whole = static_cast<long>(s);
            used += static_cast<int>(whole);
            d_mu = s - static_cast<double>(whole);
        }
    } else {
        k = used = std::min(noutput_items, ni);
        std::memcpy(stage, in, k * sizeof(gr_complex));
    }

    // 2. the multipath taps, over the history and this call's samples
    const gr_complex* rotated_from = stage;
    if (d_fir) {
        if (d_filtered.size() < static_cast<size_t>(k))
            d_filtered.resize(k);
        d_fir->filterN(d_filtered.data(), d_stage.data(), k);
        std::memmove(d_stage.data(), d_stage.data() + k, d_hist * sizeof(gr_complex));
        rotated_from = d_filtered.data();
    }

    // 3. the frequency offset, then 4. the noise: fastnoise_source's draw per sample (the
    // same indices in the same order), a run of PREFETCH indices drawn and their entries
    // requested before the first is added, so that the cache misses overlap
    d_rotator.rotateN(out, rotated_from, k);
    const uint64_t mask = d_pool_size - 1;
    const gr_complex* pool = d_pool.get();
    for (int i = 0; i < k; i += PREFETCH) {
        const int run = std::min(PREFETCH, k - i);
        for (int j = 0; j < run; j++) {
            d_index[j] = xoroshiro128p_next(d_state) & mask;
            __builtin_prefetch(pool + d_index[j]);
        }
        for (int j = 0; j < run; j++)
            out[i + j] += pool[d_index[j]];
    }

    consume_each(used);
    return k;
}

} // namespace phydnn
} // namespace gr
