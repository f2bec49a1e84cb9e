"""Exit thresholds under a compute budget (paper 002, Sec. III-C-2, Alg. 2, Eq. 17-18): the
budgeted batch classification of MSDNet (Huang et al. 2018, Sec. 5; its
``dynamic_eval_find_threshold``).

- Exit fractions Pr_k = r^k / sum_{j=1..K} r^j (Eq. 18; as printed its sum runs to k, which
  does not normalise: the intent is K, NOTES.md).
- Thresholds on a validation set: at exit k < K, theta_k is the confidence of the
  floor(n Pr_k)-th most confident sample *among those that have not exited yet*; theta_K =
  -inf (everything left leaves at the last exit). Alg. 2 prints its loops inverted; this is
  the intent.
- The budget is per image (Table IV's MACs per image; Eq. 6 writes it per batch of N, the
  same thing times N). r is found by bisection so that the *realised* mean cost on the
  validation images, sum_k (exits at k / n) C_k, stays under the budget by a margin of
  :data:`MARGIN_SE` standard errors of a mean over ``n_test`` images (so that a test set of
  that size, drawn like the validation set, realises at most the budget), not by the
  expected cost of Eq. 17. Where no r fits (a budget just above C_1), every image leaves at
  exit 1.

Confidence is the maximum softmax probability of an exit's classifier (Eq. 11-12), computed
at the transmitter from its own features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phydnn.errors import ConfigError

__all__ = ["MARGIN_SE", "Budget", "assign_exits", "exit_fractions", "find_thresholds",
           "plan_budget"]

MARGIN_SE = 3.0     # standard errors of a test-set mean kept between budget and plan


def exit_fractions(r: float, exits: int) -> np.ndarray:
    """Pr_k = r^k / sum_{j=1..K} r^j, k = 1..K (computed in logs: r may be tiny or huge)."""
    logs = np.arange(1, exits + 1) * np.log(r)
    p = np.exp(logs - logs.max())
    return p / p.sum()


def find_thresholds(confidence: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """theta (K,) from validation confidences (n, K) and exit fractions (K,)."""
    n, k_exits = confidence.shape
    theta = np.full(k_exits, -np.inf)
    left = np.ones(n, bool)
    for k in range(k_exits - 1):
        want = int(np.floor(n * fractions[k]))
        candidates = np.flatnonzero(left)
        if want <= 0 or not len(candidates):
            theta[k] = np.inf
            continue
        order = candidates[np.argsort(-confidence[candidates, k], kind="stable")]
        theta[k] = confidence[order[min(want, len(order)) - 1], k]
        left &= confidence[:, k] < theta[k]
    return theta


def assign_exits(confidence: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """0-based exit of each sample: the first k whose confidence reaches theta_k (Alg. 3)."""
    reach = confidence >= theta[None, :]
    reach[:, -1] = True
    return reach.argmax(1)


@dataclass(frozen=True)
class Budget:
    """A plan for one budget: r, the thresholds, and what they realise on validation."""

    budget_macs: float
    r: float
    thresholds: np.ndarray
    val_macs: float          # realised mean MACs per image on the validation images
    val_fractions: np.ndarray


def plan_budget(confidence: np.ndarray, costs: np.ndarray, budget_macs: float,
                n_test: int = 10000) -> Budget:
    """The thresholds that spend at most ``budget_macs`` per image (see the module doc).
    ``costs`` (K,): MACs per image of leaving at exit k (everything computed up to there)."""
    costs = np.asarray(costs, np.float64)
    k_exits = len(costs)
    if not costs[0] <= budget_macs:
        raise ConfigError(f"budget={budget_macs:.4g} MACs per image is not allowed; this "
                          f"multi-exit model needs {costs[0]:.4g} (exit 1) to "
                          f"{costs[-1]:.4g} (exit {k_exits})")

    def realise(log_r: float) -> tuple[float, float, np.ndarray, np.ndarray]:
        theta = find_thresholds(confidence, exit_fractions(float(np.exp(log_r)), k_exits))
        spent = costs[assign_exits(confidence, theta)]
        return spent.mean(), spent.std() / np.sqrt(n_test), theta, spent

    if budget_macs >= costs[-1]:
        lo = 30.0
    else:
        lo, hi = -30.0, 30.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            mean, se, _, _ = realise(mid)
            if mean + MARGIN_SE * se <= budget_macs:
                lo = mid
            else:
                hi = mid
    mean, _, theta, spent = realise(lo)
    if lo == -30.0:             # no r fits: every image leaves at exit 1 (C_1 <= budget)
        theta = np.full(k_exits, -np.inf)
        spent = np.full(len(confidence), costs[0])
        mean = float(costs[0])
    exits = np.searchsorted(costs, spent)
    fractions = np.bincount(exits, minlength=k_exits) / len(spent)
    return Budget(float(budget_macs), float(np.exp(lo)), theta, float(mean), fractions)
