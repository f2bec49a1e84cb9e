"""A documented energy model of the mobile device (paper 003 Fig. 9 and Fig. 11 report the
device's energy: head DNN execution plus transmission). Energy per batch of 64 images:

    E = 64 x MACs(head) x e_MAC  +  P_radio x airtime

- e_MAC, the device class of paper 003 (Sec. IV-A: the head runs on a Jetson Orin Nano): its
  GPU's peak FP32 rate is 1024 CUDA cores x 2 FLOP x 625 MHz = 1.28 TFLOP/s = 0.64 TMAC/s in
  the 15 W power mode (NVIDIA Jetson Orin Nano Series Data Sheet, DS-11105-001: GPU cores,
  maximum GPU frequency, power modes). 15 W / 0.64e12 MAC/s = 23.4 pJ per MAC: the energy at
  full utilisation, so a lower bound for small batches (which leave the GPU partly idle).
- P_radio, the transmitter model of Cui, Goldsmith and Bahai, "Energy-constrained modulation
  optimization", IEEE Trans. Wireless Commun. 4(5), 2005, Sec. II and Table I: power
  amplifier P_out / eta with drain efficiency eta = 0.35 and the PAPR factor xi = 1 of
  QPSK, plus the transmit chain's circuits P_DAC + P_mix + P_filt + P_syn = 15.4 + 30.3 +
  2.5 + 50.0 mW; radiated power P_out = 20 dBm (100 mW, a Wi-Fi class device; our choice,
  stated). P_radio = 0.1 / 0.35 + 0.0982 = 0.384 W, on whenever the device is on air.
- Airtime: PHY codecs, the symbols on air of the link's framing (preamble, header, payload,
  pad per segment: :func:`phydnn.link.segment.frame_length`) x sps / sample rate; the
  full-stack baselines, their 802.11a channel time (DIFS, backoff, data, SIFS, ACK), as the
  bench measures it.
"""

from __future__ import annotations

from typing import Any

from phydnn.link.segment import DEFAULT_MAX_PAYLOAD

__all__ = ["E_MAC_J", "P_RADIO_W", "batch_airtime_s", "energy_row"]

GPU_CORES, GPU_HZ, MODULE_W = 1024, 625e6, 15.0             # Jetson Orin Nano, 15 W mode
E_MAC_J = MODULE_W / (GPU_CORES * GPU_HZ)                    # 2 FLOP = 1 MAC per core-cycle
PA_EFFICIENCY, PAPR_XI, P_OUT_W = 0.35, 1.0, 0.1            # Cui et al. 2005; 20 dBm
P_CIRCUIT_W = (15.4 + 30.3 + 2.5 + 50.0) * 1e-3             # DAC, mixer, filter, synthesiser
P_RADIO_W = PAPR_XI / PA_EFFICIENCY * P_OUT_W + P_CIRCUIT_W


def batch_airtime_s(symbols_per_image: int, images: int = 64, sps: int = 2,
                    samp_rate: float = 20e6, max_payload: int = DEFAULT_MAX_PAYLOAD,
                    pilot_spacing: int = 0) -> float:
    """Seconds on air for a batch on this link (every segment framed, with its pilots every
    ``pilot_spacing`` data symbols where it has them, the first led by the lead ramp), at
    ``sps``."""
    from phydnn.link.payload import on_air_length
    from phydnn.link.segment import LEAD_RAMP, frame_length, segment_layout

    total = int(symbols_per_image) * int(images)
    count, length = segment_layout(total, max_payload)
    last = total - (count - 1) * length
    symbols = (count - 1) * frame_length(on_air_length(length, pilot_spacing)) + \
        frame_length(on_air_length(last, pilot_spacing)) + LEAD_RAMP
    return symbols * sps / samp_rate


def energy_row(name: str, head_macs: int, airtime_s: float, images: int = 64
               ) -> dict[str, Any]:
    """The device's energy for one batch: compute, radio, total (joules) and their parts."""
    compute = images * int(head_macs) * E_MAC_J
    radio = P_RADIO_W * float(airtime_s)
    return {"approach": name, "head_macs": int(head_macs), "airtime_ms": airtime_s * 1e3,
            "compute_mj": compute * 1e3, "radio_mj": radio * 1e3,
            "total_mj": (compute + radio) * 1e3}
