"""Regenerate the packaged synthetic data set: ``pexsurv/datasets/ct041_like.csv`` (primary
data cut) and ``ct041_like_updated.csv`` (the same patients, ``CT041_UPDATED_CUT`` = 5
months later).

    .venv/bin/python benchmarks/make_ct041_data.py                    # write both CSVs
    .venv/bin/python benchmarks/make_ct041_data.py --pick-seed 1000   # how the seed was chosen

The files are ``pexsurv.simulate.simulate_ct041_like()`` (its default seed) and its
``at_cutoff(cutoff + 5)``, written with full float precision; ``tests/test_simulate.py``
checks that they still equal the simulation.

The default seed is not a random draw: ``--pick-seed N`` scores seeds 1..N by the summed
squared log-ratios of the trial's summaries (:func:`pexsurv.simulate.summarize_ct041` with
RPSFT g-estimation, both data cuts) to the published values and prints the best ones. The
shipped realisation is the best of 1..N, so that a demo on it tells the published story (a
single random trial of 156 patients can easily show, say, an OS hazard ratio above 1).
"""

from __future__ import annotations

import argparse
import math

from pexsurv.datasets import CT041_LIKE_FILES
from pexsurv.models import rpsftm_gestimate
from pexsurv.simulate import (
    CT041_TARGETS,
    CT041_UPDATED_CUT,
    simulate_ct041_like,
    summarize_ct041,
)

# Follow-up is not a property of the scenario the demo should mimic (see
# calibrate_ct041.md); everything else is.
SCORED = [k for k in CT041_TARGETS if not k.startswith("os_followup")]


def distance(seed: int) -> float:
    """Summed squared log-ratios achieved/published of one realisation (inf if a summary
    is missing or of the wrong sign)."""
    got = summarize_ct041(simulate_ct041_like(seed=seed), gestimate=rpsftm_gestimate)
    ratios = [got[k] / CT041_TARGETS[k] for k in SCORED]
    if not all(r > 0 for r in ratios):  # NaN compares False too
        return math.inf
    return sum(math.log(r) ** 2 for r in ratios)


def pick_seed(n_seeds: int) -> None:
    scores = sorted((distance(s), s) for s in range(1, n_seeds + 1))
    for score, seed in scores[:5]:
        print(f"seed {seed}: distance {score:.4f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pick-seed", type=int, metavar="N",
                        help="score seeds 1..N instead of writing the CSVs")
    args = parser.parse_args(argv)
    if args.pick_seed:
        pick_seed(args.pick_seed)
        return
    primary = simulate_ct041_like()
    updated = primary.at_cutoff(primary.params["cutoff"] + CT041_UPDATED_CUT)
    for cut, sim in (("primary", primary), ("updated", updated)):
        sim.data.to_csv(CT041_LIKE_FILES[cut], index=False)
        print(f"wrote {len(sim.data)} rows to {CT041_LIKE_FILES[cut]}")


if __name__ == "__main__":
    main()
