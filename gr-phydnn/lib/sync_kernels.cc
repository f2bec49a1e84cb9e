/* -*- c++ -*- */
/*
 * gr-phydnn: the per-segment sync's numeric kernels (see
 * include/gnuradio/phydnn/sync_kernels.h). Each function follows its numpy reference in
 * phydnn/link/sync.py and phydnn/link/equaliser.py step by step; the comments name them.
 * Phases and sums are kept in double, the symbols in float, as there.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <gnuradio/fec/cc_decoder.h>
#include <gnuradio/phydnn/sync_kernels.h>
#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace gr {
namespace phydnn {
namespace sync_kernels {

namespace {

constexpr double TWO_PI = 6.283185307179586476925286766559;
constexpr int EXACT = 64;   // symbols per exact phasor in a recurrence (its error ~1e-14)
constexpr int ANCHOR = 512; // the same in dft_power, where a sine and a cosine per bin and
                            // anchor cost more than the sums (a double recurrence drifts by
                            // ~1e-16 a step: 1e-13 over 512)

int ceil_log2(int n)
{
    int bits = 0;
    while ((1 << bits) < n)
        bits++;
    return bits;
}

// in-place radix-2 FFT of a power-of-two length, e^{-j 2 pi k n / N} (numpy's sign)
void fft(std::vector<cd>& x)
{
    const size_t n = x.size();
    for (size_t i = 1, j = 0; i < n; i++) {   // bit reversal
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j)
            std::swap(x[i], x[j]);
    }
    for (size_t len = 2; len <= n; len <<= 1) {
        const double a = -TWO_PI / static_cast<double>(len);
        const cd wl(std::cos(a), std::sin(a));
        for (size_t i = 0; i < n; i += len) {
            cd w(1.0, 0.0);
            for (size_t k = 0; k < len / 2; k++) {
                const cd u = x[i + k], v = x[i + k + len / 2] * w;
                x[i + k] = u + v;
                x[i + k + len / 2] = u - v;
                w *= wl;
            }
        }
    }
}

// |FFT|^2 of z zero-padded to nfft points
std::vector<double> periodogram(const std::vector<cd>& z, int nfft)
{
    std::vector<cd> x(nfft, cd(0.0, 0.0));
    std::copy(z.begin(), z.end(), x.begin());
    fft(x);
    std::vector<double> spec(nfft);
    for (int k = 0; k < nfft; k++)
        spec[k] = std::norm(x[k]);
    return spec;
}

// the vertex of the parabola through (-1, a), (0, b), (1, c)
double vertex(double a, double b, double c)
{
    const double den = a - 2.0 * b + c;
    return den != 0.0 ? 0.5 * (a - c) / den : 0.0;
}

// _unwrap_from_zero: steps reduced to (-pi, pi] (ties to even, as np.round), summed
void unwrap_from_zero(std::vector<double>& angles)
{
    double previous = 0.0, total = 0.0;
    for (auto& a : angles) {
        double step = a - previous;
        previous = a;
        step -= TWO_PI * std::nearbyint(step / TWO_PI);
        total += step;
        a = total;
    }
}

// y_i scale e^{-j (phase + 2 pi freq i)} (sync._ramp): a phasor recurrence, exact every
// EXACT symbols
std::vector<cf> derotate(const cf* y, int n, double phase, double freq, double scale)
{
    std::vector<cf> r(n);
    const cd turn = std::polar(1.0, -TWO_PI * freq);
    for (int i0 = 0; i0 < n; i0 += EXACT) {
        cd w = std::polar(scale, -std::fmod(phase + TWO_PI * freq * i0, TWO_PI));
        for (int i = i0; i < std::min(n, i0 + EXACT); i++) {
            r[i] = y[i] * cf(w);
            w *= turn;
        }
    }
    return r;
}

double mean(const std::vector<double>& x)
{
    double sum = 0.0;
    for (const double v : x)
        sum += v;
    return sum / x.size();
}

// _ls_slope: the least-squares slope of y against x
double ls_slope(const std::vector<double>& x, const std::vector<double>& y)
{
    const size_t n = x.size();
    const double mx = mean(x), my = mean(y);
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        num += (x[i] - mx) * (y[i] - my);
        den += (x[i] - mx) * (x[i] - mx);
    }
    return num / den;
}

// _smooth_about_line: theta -> its least-squares line plus a moving mean of `window` of
// what the line leaves, the mean normalised where the window is cut at the ends (numpy's
// convolve "same" with ones(L): the sum over [i - L / 2, i + (L - 1) / 2])
void smooth_about_line(const std::vector<double>& centres,
                       std::vector<double>& theta,
                       int window)
{
    const int n = static_cast<int>(theta.size());
    const int len = std::min(window, n);
    const double slope = ls_slope(centres, theta);
    const double mx = mean(centres), my = mean(theta);
    std::vector<double> line(n), resid(n);
    for (int i = 0; i < n; i++) {
        line[i] = my + slope * (centres[i] - mx);
        resid[i] = theta[i] - line[i];
    }
    for (int i = 0; i < n; i++) {
        const int lo = std::max(i - len / 2, 0), hi = std::min(i + (len - 1) / 2, n - 1);
        double sum = 0.0;
        for (int m = lo; m <= hi; m++)
            sum += resid[m];
        theta[i] = line[i] + sum / (hi - lo + 1);
    }
}

// Gaussian elimination with partial pivoting: a (n x n, row-major) x = b, in place
std::vector<cd> solve(std::vector<cd> a, std::vector<cd> b, int n)
{
    for (int col = 0; col < n; col++) {
        int pivot = col;
        for (int r = col + 1; r < n; r++)
            if (std::abs(a[r * n + col]) > std::abs(a[pivot * n + col]))
                pivot = r;
        if (std::abs(a[pivot * n + col]) == 0.0)
            throw std::runtime_error("sync_kernels: a singular system");
        if (pivot != col) {
            for (int c = 0; c < n; c++)
                std::swap(a[col * n + c], a[pivot * n + c]);
            std::swap(b[col], b[pivot]);
        }
        for (int r = col + 1; r < n; r++) {
            const cd f = a[r * n + col] / a[col * n + col];
            if (f == cd(0.0, 0.0))
                continue;
            for (int c = col; c < n; c++)
                a[r * n + c] -= f * a[col * n + c];
            b[r] -= f * b[col];
        }
    }
    std::vector<cd> x(n);
    for (int r = n - 1; r >= 0; r--) {
        cd sum = b[r];
        for (int c = r + 1; c < n; c++)
            sum -= a[r * n + c] * x[c];
        x[r] = sum / a[r * n + r];
    }
    return x;
}

// complex samples as separate real and imaginary doubles: loops over them vectorise
struct split {
    std::vector<double> re, im;
    split(const cf* x, int n) : re(n), im(n)
    {
        for (int i = 0; i < n; i++)
            re[i] = x[i].real(), im[i] = x[i].imag();
    }
};

// sum_m a_(m + k) conj(b_m) over the m where both exist (equaliser._lagged); AVX2 where the
// CPU has it (the clone is chosen when the library loads)
__attribute__((target_clones("avx2", "default"))) cd lagged(const split& a, const split& b, int k)
{
    const int na = static_cast<int>(a.re.size()), nb = static_cast<int>(b.re.size());
    const int lo = std::max(0, -k), hi = std::min(nb, na - k);
    const double *ar = a.re.data() + k, *ai = a.im.data() + k;
    const double *br = b.re.data(), *bi = b.im.data();
    double re = 0.0, im = 0.0;
#pragma omp simd reduction(+ : re, im)
    for (int m = lo; m < hi; m++) {
        re += ar[m] * br[m] + ai[m] * bi[m];
        im += ai[m] * br[m] - ar[m] * bi[m];
    }
    return cd(re, im);
}

// |sum_n z_n e^{-j 2 pi k n / nfft}|^2 at each of the bins k: all bins in one pass over z,
// each bin's phasor a recurrence (exact every ANCHOR samples), the bins in vector lanes
__attribute__((target_clones("avx2", "default"))) void
dft_power(const std::vector<cd>& z, const std::vector<long>& bins, long nfft, double* power)
{
    const int nb = static_cast<int>(bins.size()), n = static_cast<int>(z.size());
    std::vector<double> sr_(nb, 0.0), si_(nb, 0.0), wr_(nb), wi_(nb), tr_(nb), ti_(nb);
    double *sr = sr_.data(), *si = si_.data(), *wr = wr_.data(), *wi = wi_.data();
    double *tr = tr_.data(), *ti = ti_.data();
    for (int b = 0; b < nb; b++) {
        const cd t = std::polar(1.0, -TWO_PI * static_cast<double>(bins[b] % nfft) / nfft);
        tr[b] = t.real(), ti[b] = t.imag();
    }
    for (int i0 = 0; i0 < n; i0 += ANCHOR) {
        for (int b = 0; b < nb; b++) {
            const long phase = ((bins[b] % nfft) * i0) % nfft;
            const cd w = std::polar(1.0, -TWO_PI * static_cast<double>(phase) / nfft);
            wr[b] = w.real(), wi[b] = w.imag();
        }
        for (int i = i0; i < std::min(n, i0 + ANCHOR); i++) {
            const double zr = z[i].real(), zi = z[i].imag();
#pragma omp simd
            for (int b = 0; b < nb; b++) {
                sr[b] += zr * wr[b] - zi * wi[b];
                si[b] += zr * wi[b] + zi * wr[b];
                const double r = wr[b] * tr[b] - wi[b] * ti[b];
                wi[b] = wr[b] * ti[b] + wi[b] * tr[b];
                wr[b] = r;
            }
        }
    }
    for (int b = 0; b < nb; b++)
        power[b] = sr[b] * sr[b] + si[b] * si[b];
}

} // namespace

known_fit estimate_from_known(const cf* received, const cf* known, int n)
{
    if (n < 1)
        throw std::invalid_argument("estimate_from_known: no symbols");
    std::vector<cd> z(n);
    for (int i = 0; i < n; i++)
        z[i] = cd(received[i] * std::conj(known[i]));   // complex64 product, as numpy's
    const int nfft = 1 << std::max(ceil_log2(n) + 2, 8);
    const std::vector<double> spec = periodogram(z, nfft);
    const int k = static_cast<int>(std::max_element(spec.begin(), spec.end()) - spec.begin());
    const double delta =
        vertex(spec[(k + nfft - 1) % nfft], spec[k], spec[(k + 1) % nfft]);
    double f = (k + delta) / nfft;
    if (f >= 0.5)
        f -= 1.0;
    cd g(0.0, 0.0);
    for (int i = 0; i < n; i++)
        g += z[i] * std::polar(1.0, -TWO_PI * f * i);
    g /= static_cast<double>(n);
    double resid = 0.0;
    for (int i = 0; i < n; i++)
        resid += std::norm(cd(received[i]) - g * cd(known[i]) * std::polar(1.0, TWO_PI * f * i));
    return { g, f, resid / n * n / std::max(n - 3, 1) };
}

double squared_tone(const cf* r, int n, double span)
{
    constexpr int ZOOM = 8;   // sync.ZOOM
    std::vector<cd> z(n);
    for (int i = 0; i < n; i++)
        z[i] = cd(r[i] * r[i]);
    const int nfft = 1 << (ceil_log2(n) + 3);
    const int reach = std::max(static_cast<int>(std::ceil(2.0 * span * nfft)), 1);
    const int near = (reach + ZOOM - 1) / ZOOM;
    // the coarse periodogram (zero-padded 1x, bins ZOOM fine bins apart) within +-near
    // coarse bins: 0..near, then -near..-1 (the order numpy searches)
    std::vector<long> coarse_bins;
    for (int b = 0; b <= near; b++)
        coarse_bins.push_back(static_cast<long>(b) * ZOOM);
    for (int b = -near; b < 0; b++)
        coarse_bins.push_back(static_cast<long>(b) * ZOOM + nfft);
    std::vector<double> spec(coarse_bins.size());
    dft_power(z, coarse_bins, nfft, spec.data());
    const int best_at = static_cast<int>(std::max_element(spec.begin(), spec.end()) - spec.begin());
    const int kc = best_at <= near ? best_at : best_at - 2 * near - 1;
    // the fine bins kc ZOOM + o, o = -ZOOM - 1 .. ZOOM + 1 (_zoom_periodogram)
    const int centre = kc * ZOOM;
    constexpr int NFINE = 2 * ZOOM + 3;
    std::vector<long> fine_bins;
    for (int o = -ZOOM - 1; o <= ZOOM + 1; o++)
        fine_bins.push_back((static_cast<long>(centre + o) % nfft + nfft) % nfft);
    double fine[NFINE];
    dft_power(z, fine_bins, nfft, fine);
    int at = -1;
    double best = -1.0;
    for (int i = 1; i <= 2 * ZOOM + 1; i++) {
        const int bin = centre + i - ZOOM - 1;
        const double value = std::abs(bin) <= reach ? fine[i] : -1.0;
        if (value > best)
            best = value, at = i;
    }
    const double delta = vertex(fine[at - 1], fine[at], fine[at + 1]);
    return (centre + at - ZOOM - 1 + delta) / nfft / 2.0;
}

tracked track(const cf* y,
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
              const cf* conj_chips)
{
    if (n < 1 || step < 1)
        throw std::invalid_argument("track: n and step must be >= 1");
    if (order < 2 || (order & (order - 1)))
        throw std::invalid_argument("track: the order must be a power of two >= 2");
    // derotate by the carried phase and frequency, scale (the ramp of _track)
    std::vector<cf> r = derotate(y, n, phase, freq, 1.0 / amp);
    // _unmix: the equaliser (Equaliser.apply: the full convolution, aligned by its delay),
    // then the scrambler's chips
    if (eq_len > 0) {
        std::vector<cf> e(n, cf(0.0f, 0.0f));
        for (int i = 0; i < n; i++) {
            const int m = i + eq_delay;   // index into the full convolution
            cf sum(0.0f, 0.0f);
            const int k0 = std::max(0, m - (n - 1)), k1 = std::min(eq_len - 1, m);
            for (int k = k0; k <= k1; k++)
                sum += r[m - k] * eq_taps[k];
            e[i] = sum;
        }
        r.swap(e);
    }
    if (conj_chips)
        for (int i = 0; i < n; i++)
            r[i] *= conj_chips[i];
    // _block_phases: the M-th power of each block's symbols summed, its angle / M
    const int nb = (n + step - 1) / step;
    std::vector<double> theta(nb), centres(nb);
    const cd turn = std::conj(p0_order);
    for (int b = 0; b < nb; b++) {
        cd sum(0.0, 0.0);
        for (int i = b * step; i < std::min(n, (b + 1) * step); i++) {
            cf p = r[i];
            for (int o = order; o > 1; o /= 2)   // repeated squaring (M a power of two)
                p *= p;
            sum += cd(p);
        }
        theta[b] = std::arg(sum * turn);
        centres[b] = b * step + (step - 1) / 2.0;
    }
    centres[nb - 1] = ((nb - 1) * step + n - 1) / 2.0;   // the last block may be short
    unwrap_from_zero(theta);
    for (auto& t : theta)
        t /= order;
    if (smooth > 1 && nb >= 3)
        smooth_about_line(centres, theta, smooth);
    // np.interp between block centres (held at the ends), removed
    // (the angle is a line between centres, so within a run of symbols between two centres
    // its phasor is a recurrence too, exact at the run's start)
    tracked out{ std::vector<cf>(n), 0.0, 0.0 };
    int b = 0;
    for (int i0 = 0; i0 < n;) {
        double angle, slope_here;   // at i0, and per symbol until i1
        int i1;
        if (i0 <= centres[0]) {
            angle = theta[0], slope_here = 0.0;
            i1 = static_cast<int>(std::floor(centres[0])) + 1;
        } else if (i0 >= centres[nb - 1]) {
            angle = theta[nb - 1], slope_here = 0.0;
            i1 = n;
        } else {
            while (centres[b + 1] < i0)
                b++;
            slope_here = (theta[b + 1] - theta[b]) / (centres[b + 1] - centres[b]);
            angle = theta[b] + (i0 - centres[b]) * slope_here;
            i1 = static_cast<int>(std::floor(centres[b + 1])) + 1;
        }
        i1 = std::min({ i1, n, i0 + EXACT });
        cd w = std::polar(1.0, -angle);
        const cd turn = std::polar(1.0, -slope_here);
        for (int i = i0; i < i1; i++) {
            out.symbols[i] = r[i] * cf(w);
            w *= turn;
        }
        i0 = i1;
    }
    const double slope = nb >= 3 ? ls_slope(centres, theta) : 0.0;
    const double next = theta[nb - 1] + slope * (n - centres[nb - 1]);
    out.phase = phase + TWO_PI * freq * n + next;
    out.freq = freq + slope / TWO_PI;
    return out;
}

front header_front(
    const cf* symbols, int n, const cf* sync_word, int nsw, int step, double span)
{
    if (n <= nsw)
        throw std::invalid_argument("header_front: no header after the sync word");
    const int nh = n - nsw;
    const known_fit fit = estimate_from_known(symbols, sync_word, nsw);
    front out{ {}, 0.0, 0.0, 0.0, 0.0, std::abs(fit.gain), {} };
    if (!(out.amp > 0.0)) {
        out.amp = 0.0;
        return out;
    }
    double freq = fit.freq;
    double phase = std::arg(fit.gain) + TWO_PI * freq * nsw;
    // the header derotated by the sync word's estimate
    const std::vector<cf> coarse = derotate(symbols + nsw, nh, phase, freq, 1.0);
    freq += squared_tone(coarse.data(), nh, span);
    cd g(0.0, 0.0);   // the gain again, at the refined frequency
    for (int k = 0; k < nsw; k++)
        g += cd(symbols[k] * std::conj(sync_word[k])) * std::polar(1.0, -TWO_PI * freq * k);
    g /= static_cast<double>(nsw);
    out.phase = std::arg(g) + TWO_PI * freq * nsw;
    out.freq = freq;
    tracked t = track(symbols + nsw, nh, 2, cd(1.0, 0.0), out.phase, freq, out.amp, step, 1,
                      nullptr, 0, 0, nullptr);
    out.header = std::move(t.symbols);
    out.phase_out = t.phase;
    out.freq_out = t.freq;
    out.sync.resize(nsw);
    for (int k = 0; k < nsw; k++)
        out.sync[k] = symbols[k] * cf(std::polar(1.0 / out.amp, -(std::arg(g) + TWO_PI * freq * k)));
    return out;
}

std::vector<cd>
estimate_channel(const cf* received, const cf* known, int n, int pre, int post, double* resid)
{
    const int taps = pre + post + 1, span = pre + post;
    if (n <= span)
        throw std::invalid_argument("estimate_channel: fewer known symbols than taps");
    std::vector<cd> rhs(taps), acf(2 * span + 1), gram(taps * taps);
    const split r(received, n), s(known, n);
    for (int i = 0; i < taps; i++)
        rhs[i] = lagged(r, s, i - pre);
    for (int d = -span; d <= span; d++)
        acf[d + span] = lagged(s, s, d);
    for (int i = 0; i < taps; i++)
        for (int j = 0; j < taps; j++)
            gram[i * taps + j] = acf[span + (j - pre) - (i - pre)];
    std::vector<cd> g = solve(gram, rhs, taps);
    // np.convolve(s, g)[pre:pre + n] against r, tap by tap over all symbols
    std::vector<double> fr(n, 0.0), fi(n, 0.0);
    for (int k = 0; k < taps; k++) {
        const double gr_ = g[k].real(), gi = g[k].imag();
        const int lo = std::max(0, k - pre), hi = std::min(n, n + k - pre);
#pragma omp simd
        for (int i = lo; i < hi; i++) {   // s[i + pre - k] exists
            fr[i] += s.re[i + pre - k] * gr_ - s.im[i + pre - k] * gi;
            fi[i] += s.re[i + pre - k] * gi + s.im[i + pre - k] * gr_;
        }
    }
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++)
        sum += (r.re[i] - fr[i]) * (r.re[i] - fr[i]) + (r.im[i] - fi[i]) * (r.im[i] - fi[i]);
    *resid = sum / std::max(n - taps, 1);
    return g;
}

std::vector<uint8_t> header_bits(const cf* symbols, int repetitions, int coded, int bits)
{
    if (repetitions < 1 || coded != 2 * (bits + 6))
        throw std::invalid_argument("header_bits: coded must be 2 (bits + 6), the K = 7 "
                                    "rate-1/2 terminated code's length");
    // gr-fec's decoder, as phydnn.fec.ConvolutionalCode makes it, one per thread and size
    thread_local std::map<int, gr::fec::generic_decoder::sptr> decoders;
    auto& decoder = decoders[bits];
    if (!decoder)
        decoder = gr::fec::code::cc_decoder::make(
            bits, 7, 2, { 109, 79 }, 0, -1, CC_TERMINATED, false);
    std::vector<float> soft(coded, 0.0f);
    for (int r = 0; r < repetitions; r++)
        for (int i = 0; i < coded; i++)
            soft[i] += symbols[r * coded + i].real();
    double scale = 0.0;
    for (const float v : soft)
        scale += std::fabs(v);
    scale /= coded;
    std::vector<uint8_t> quantised(coded), out(bits);
    for (int i = 0; i < coded; i++) {
        const float x = scale > 0.0 ? static_cast<float>(-soft[i] / scale) : 0.0f;
        quantised[i] = static_cast<uint8_t>(
            std::min(255.0f, std::max(0.0f, std::nearbyint(128.0f + 48.0f * x))));
    }
    decoder->generic_work(quantised.data(), out.data());
    return out;
}

} // namespace sync_kernels
} // namespace phydnn
} // namespace gr
