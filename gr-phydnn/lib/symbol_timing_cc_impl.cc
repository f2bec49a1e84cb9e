/* -*- c++ -*- */
/*
 * gr-phydnn: symbol timing recovery (see include/gnuradio/phydnn/symbol_timing_cc.h).
 *
 * Why not GNU Radio's symbol_sync_cc: it handles any TED, interpolator and output rate
 * through virtual calls, a slicer decision and tag checks on every interpolant, and ran
 * at 20 M samples/s here, the whole 20 MS/s air on one of the two cores. This block does
 * the one case the deframer uses in a tight loop: two interpolants per symbol, each one
 * VOLK dot product of one matched-filter arm.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "symbol_timing_cc_impl.h"
#include <gnuradio/io_signature.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gr {
namespace phydnn {

symbol_timing_cc::sptr symbol_timing_cc::make(int sps,
                                              float loop_bw,
                                              float damping,
                                              float ted_gain,
                                              float max_deviation,
                                              int nfilters,
                                              const std::vector<float>& taps)
{
    return gnuradio::make_block_sptr<symbol_timing_cc_impl>(
        sps, loop_bw, damping, ted_gain, max_deviation, nfilters, taps);
}

namespace {

void check(bool ok, const std::string& what)
{
    if (!ok)
        throw std::invalid_argument("symbol_timing_cc: " + what);
}

} // namespace

symbol_timing_cc_impl::symbol_timing_cc_impl(int sps,
                                             float loop_bw,
                                             float damping,
                                             float ted_gain,
                                             float max_deviation,
                                             int nfilters,
                                             const std::vector<float>& taps)
    : gr::block("phydnn_symbol_timing_cc",
                gr::io_signature::make(1, 1, sizeof(gr_complex)),
                gr::io_signature::make(1, 1, sizeof(gr_complex))),
      d_sps(sps),
      d_nfilters(nfilters)
{
    check(sps >= 2, "sps=" + std::to_string(sps) + " is not allowed; it must be >= 2");
    check(nfilters >= 1, "nfilters must be >= 1");
    check(loop_bw > 0.0f && damping > 0.0f && ted_gain > 0.0f,
          "loop_bw, damping and ted_gain must be > 0");
    check(max_deviation >= 0.0f && max_deviation < sps / 2.0f,
          "max_deviation must be in [0, sps / 2)");
    check(taps.size() >= static_cast<size_t>(nfilters), "taps must hold >= nfilters taps");

    // Polyphase decomposition: arm a holds taps a, a + N, a + 2N, ... (zero-padded to a
    // whole number per arm), reversed so that one dot product over the input is the sum
    // y(n + a / N) = sum_j x[n - j] h[a + N j].
    // (taps per arm rounded up to a multiple of 4: whole 8-float vectors; the extra taps,
    // zeros, meet the oldest samples)
    d_arm_len = static_cast<int>((taps.size() + nfilters - 1) / nfilters);
    d_arm_len = (d_arm_len + 3) / 4 * 4;
    d_delay = (taps.size() - 1) / (2.0 * nfilters);
    d_taps.assign(static_cast<size_t>(nfilters) * 2 * d_arm_len, 0.0f);   // arm after arm
    for (int a = 0; a < nfilters; a++) {
        float* arm = d_taps.data() + static_cast<size_t>(a) * 2 * d_arm_len;
        for (int j = 0; j < d_arm_len; j++) {     // each tap twice: re, im
            size_t k = a + static_cast<size_t>(nfilters) * j;
            const float tap = k < taps.size() ? taps[k] : 0.0f;
            arm[2 * (d_arm_len - 1 - j)] = arm[2 * (d_arm_len - 1 - j) + 1] = tap;
        }
    }

    // The PI loop filter of GNU Radio's clock_tracking_loop (3.10): the same gains for the
    // same (loop bandwidth, damping, TED gain), so the loop settles and tracks as the stock
    // block's did with these settings.
    const float wn = loop_bw, zw = damping * loop_bw;
    const float k0 = 2.0f / ted_gain, k1 = std::exp(-zw), sh = std::sinh(zw);
    float cosx;
    if (damping > 1.0f)
        cosx = std::cosh(wn * std::sqrt(damping * damping - 1.0f));
    else if (damping == 1.0f)
        cosx = 1.0f;
    else
        cosx = std::cos(wn * std::sqrt(1.0f - damping * damping));
    d_alpha = k0 * k1 * sh;
    d_beta = k0 * (1.0f - k1 * (sh + cosx));
    d_min_period = sps - max_deviation;
    d_max_period = sps + max_deviation;
    d_avg_period = d_inst_period = static_cast<float>(sps);
    // the first symbol carries sample `delay` of the stream, where a transmitter's own RRC
    // (a full convolution) puts its first symbol's peak, as symbol_sync_cc starts: a burst at
    // the very start of a stream is sampled on its symbols before the loop has pulled in
    // (started half a symbol off, the 0.005 loop took the whole preamble to get there and
    // the first frame's header failed). An arm's worth of history (zeros) keeps every
    // interpolant's window inside the buffer.
    set_history(d_arm_len);
    d_last = d_arm_len - 1 + 2.0 * d_delay - sps;
    d_prev = gr_complex(0.0f, 0.0f);

    set_relative_rate(1, static_cast<uint64_t>(sps));
    set_tag_propagation_policy(TPP_DONT);
}

void symbol_timing_cc_impl::forecast(int noutput_items, gr_vector_int& ninput_items_required)
{
    ninput_items_required[0] =
        static_cast<int>(std::ceil(noutput_items * d_max_period)) + d_arm_len + 2;
}

namespace {

typedef float v8f __attribute__((vector_size(32)));

// sum_i x[i] h[i] over interleaved complex samples x and taps doubled per sample (h0 h0 h1
// h1 ...), n a multiple of 8 floats: a straight multiply-add, no shuffles (inlined into
// the loop below, so compiled for its clone's target)
inline __attribute__((always_inline)) gr_complex
dot_doubled(const float* x, const float* h, int n)
{
    v8f even = { 0 }, odd = { 0 };   // two accumulators: half the dependency chain
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f x0, h0, x1, h1;
        std::memcpy(&x0, x + i, sizeof x0);   // unaligned loads
        std::memcpy(&h0, h + i, sizeof h0);
        std::memcpy(&x1, x + i + 8, sizeof x1);
        std::memcpy(&h1, h + i + 8, sizeof h1);
        even += x0 * h0;
        odd += x1 * h1;
    }
    if (i < n) {
        v8f x0, h0;
        std::memcpy(&x0, x + i, sizeof x0);
        std::memcpy(&h0, h + i, sizeof h0);
        even += x0 * h0;
    }
    const v8f acc = even + odd;
    return gr_complex(acc[0] + acc[2] + acc[4] + acc[6], acc[1] + acc[3] + acc[5] + acc[7]);
}

} // namespace

// The interpolant at position t >= 0 (samples from in[0]): the nearest of the nfilters arms
// (a half rounds up) over the arm's window ending at sample floor(t).
inline __attribute__((always_inline)) gr_complex
symbol_timing_cc_impl::interpolate(const gr_complex* in, double t) const
{
    long n = static_cast<long>(t);   // t >= 0: truncation is the floor
    int arm = static_cast<int>((t - n) * d_nfilters + 0.5);
    if (arm == d_nfilters) {
        arm = 0;
        n++;
    }
    return dot_doubled(reinterpret_cast<const float*>(in + n - d_arm_len + 1),
                       d_taps.data() + static_cast<size_t>(arm) * 2 * d_arm_len,
                       2 * d_arm_len);
}

// The loop over a call's symbols, cloned for AVX2 where the CPU has it (the clone is chosen
// when the library loads): the interpolations inline, so that the two of a symbol overlap
// and nothing is called per symbol.
__attribute__((target_clones("avx2", "default"))) int
symbol_timing_cc_impl::track(const gr_complex* in, int ni, gr_complex* out, int noutput_items)
{
    int k = 0;
    while (k < noutput_items) {
        const double t_mid = d_last + 0.5 * d_inst_period;
        const double t_sym = d_last + d_inst_period;
        if (static_cast<long>(t_sym) + 1 >= ni)
            break;
        const gr_complex mid = interpolate(in, t_mid);
        const gr_complex sym = interpolate(in, t_sym);
        const gr_complex diff = d_prev - sym;
        const float error = mid.real() * diff.real() + mid.imag() * diff.imag();
        d_avg_period = std::min(std::max(d_avg_period + d_beta * error, d_min_period),
                                d_max_period);
        d_inst_period = d_avg_period + d_alpha * error;
        if (d_inst_period <= 0.0f)
            d_inst_period = d_avg_period;
        out[k] = sym;
        d_positions[k++] = t_sym;
        d_prev = sym;
        d_last = t_sym;
    }
    return k;
}

int symbol_timing_cc_impl::general_work(int noutput_items,
                                        gr_vector_int& ninput_items,
                                        gr_vector_const_void_star& input_items,
                                        gr_vector_void_star& output_items)
{
    const gr_complex* in = static_cast<const gr_complex*>(input_items[0]);
    gr_complex* out = static_cast<gr_complex*>(output_items[0]);
    d_positions.resize(noutput_items);
    const int k = track(in, ninput_items[0], out, noutput_items);
    // keep a whole arm of samples before the next interpolant
    const int consumed =
        std::max(0, static_cast<int>(d_last) - (d_arm_len - 1));
    propagate_tags(consumed, k);
    d_last -= consumed;
    consume_each(consumed);
    return k;
}

void symbol_timing_cc_impl::propagate_tags(int consumed, int produced)
{
    if (consumed <= 0 || produced <= 0)
        return;
    const uint64_t start = nitems_read(0);   // in[history - 1] is this item
    get_tags_in_range(d_tags, 0, start, start + consumed);
    auto end = d_positions.begin() + produced;
    for (const auto& tag : d_tags) {
        // a symbol at position t carries the input of sample t - delay
        const double at =
            static_cast<double>(tag.offset - start) + (d_arm_len - 1) + d_delay;
        const auto hit = std::lower_bound(d_positions.begin(), end, at);
        const int64_t index = std::min<int64_t>(hit - d_positions.begin(), produced - 1);
        add_item_tag(0, nitems_written(0) + index, tag.key, tag.value, tag.srcid);
    }
}

} // namespace phydnn
} // namespace gr
