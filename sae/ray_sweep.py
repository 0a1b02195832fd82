"""The SAE sweep on Ray (train_sae.py --ray; docs/ray.md).

Each training job of the sweep (the SAEs of one width trained together by vmap, or one wide
SAE) is one Ray task: a GPU where the cluster has them, CPUs otherwise. A task reads the same
training rows as the driver from the activation folder, which every node must see, trains
from the initial weights the driver made (seeded by name, as in the single-process sweep) and
returns the trained weights; the driver evaluates, exports and records each SAE as its task
finishes. A task lost with its worker or node is run again by Ray (max_retries).
"""
import numpy as np
import torch

from othello.ray_cluster import cpus_given, require_ray
from sae.activations import load_activations
from sae.model import SparseAutoencoder
from sae.train import train_saes

ray = require_ray()


@ray.remote(max_retries=3)
def train_job(activations, field, checkpoint_sha256, rows, initial, train_config):
    """Train one job's SAEs; `initial` is [(SAEConfig, state_dict)]. Returns ([trained
    state_dict], [train record]) on the CPU."""
    torch.set_num_threads(cpus_given())
    device = "cuda" if torch.cuda.is_available() else "cpu"  # Ray shows a task only the GPUs it was given
    train = load_activations(activations, "train", [field], checkpoint_sha256=checkpoint_sha256)[field]
    x = torch.from_numpy(np.asarray(train[rows])).to(device)
    saes = []
    for config, state in initial:
        sae = SparseAutoencoder(config)
        sae.load_state_dict(state)
        saes.append(sae.to(device))
    records = train_saes(saes, x, train_config, progress=False)
    return [{k: v.cpu() for k, v in sae.state_dict().items()} for sae in saes], records


def train_on_ray(jobs, activations, field, checkpoint_sha256, rows, cpus):
    """Train `jobs` ((freshly initialised SAEs, SAETrainConfig) each), all submitted at once;
    yields (job index, train records) as each finishes, its SAEs then holding the trained weights."""
    options = {"num_cpus": cpus}
    if ray.cluster_resources().get("GPU", 0) > 0:
        options["num_gpus"] = 1
    rows = ray.put(np.asarray(rows))  # once for all tasks
    pending = {train_job.options(**options).remote(
        activations, field, checkpoint_sha256, rows,
        [(sae.config, {k: v.cpu() for k, v in sae.state_dict().items()}) for sae in saes], train_config): index
        for index, (saes, train_config) in enumerate(jobs)}
    try:
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ref)
            states, records = ray.get(ref)
            for sae, state in zip(jobs[index][0], states):
                sae.load_state_dict(state)
            yield index, records
    finally:  # the driver stopped early (an error, Ctrl-C): leave nothing running on the cluster
        for ref in pending:
            ray.cancel(ref, force=True)
