"""The VAE notebook's training under `torchrun`, on one machine or several.

Write the job once (the config, the fit/validation carve-out and the training ratings),
then start one process per GPU on every machine with torchrun's own arguments:

    write_job("job.pt", config, vae_split, data.train)  # in Python: the notebook's values
    torchrun --nproc_per_node 2 -m recsys_lib.runs.train_job job.pt trained.pt
    # two machines, run on each with its --node_rank:
    torchrun --nnodes 2 --node_rank 0 --master_addr HOST --master_port 29500 \\
        --nproc_per_node 2 -m recsys_lib.runs.train_job job.pt trained.pt

Rank 0 writes the checkpoints and `trained.pt` (a `TrainedVAE`); with several machines
the checkpoint folder must be on a disk they share for a resume to find it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from recsys_lib.data import Interactions
from recsys_lib.models.vae import RunConfig
from recsys_lib.runs.vae import TrainedVAE, VAEData, train_on_rank
from recsys_lib.training.atomic import atomic_save
from recsys_lib.training.launch import init_from_environment

__all__ = ["load_trained", "main", "write_job"]


def write_job(path: str | Path, config: RunConfig, data: VAEData, train: Interactions, *,
              ensemble_seeds: int = 1, resume: bool = False) -> Path:
    """Save what every rank needs to train (`train_vae`'s arguments) to `path`."""
    return atomic_save({"config": config, "data": data, "train": train,
                        "ensemble_seeds": ensemble_seeds, "resume": resume}, path)


def load_trained(path: str | Path) -> TrainedVAE:
    """The `TrainedVAE` rank 0 wrote (a file this library wrote: full pickle)."""
    return torch.load(path, weights_only=False)["trained"]


def main(argv: list[str] | None = None) -> int:
    """Train the job in JOB on this rank; rank 0 saves the fits to OUT."""
    parser = argparse.ArgumentParser(prog="python -m recsys_lib.runs.train_job",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("job", type=Path, help="the file write_job wrote")
    parser.add_argument("out", type=Path, help="where rank 0 saves the TrainedVAE")
    args = parser.parse_args(argv)
    replicas = init_from_environment()
    try:
        trained = train_on_rank(**torch.load(args.job, weights_only=False))
        if replicas.is_main:
            atomic_save({"trained": trained}, args.out)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
