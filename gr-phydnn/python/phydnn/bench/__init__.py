"""``phydnn bench``: latency, bytes on air, PHY throughput and full-stack baselines (paper 003
Sec. IV-C). Runs GNU Radio flowgraphs, so it is not part of the GNU-Radio-free core."""
