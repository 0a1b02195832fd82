"""The positions the concept metrics are measured on (sae/concepts.py), and the baselines every
SAE is compared with: the raw neurons, PCA directions, an SAE of an untrained network of the
same architecture, and linear probes (the ceiling of what a linear readout recovers)."""
import numpy as np
import torch

from model import OthelloNet
from othello.bitboard import bitboard_rules
from othello.concepts import concept_matrix, quantile_cuts, scalar_values
from othello.OthelloPlayers import search_best_moves
from sae.concepts import closest_features, concept_summary, fit_probes, probe_summary
from sae.model import SAEConfig, SparseAutoencoder
from sae.train import train_sae

# The fields of the activation store the concepts need, besides the residual stream.
CONCEPT_FIELDS = ("boards", "last_move", "flipped", "value")
# The untrained-network baseline: one SAE shaped like the viewer's default one, trained on at
# most this many of the sweep's training positions.
RANDOM_NETWORK_SAE = dict(n_features=1024, l1_penalty=2.0)
RANDOM_NETWORK_POSITIONS = 200_000


def sample_rows(count, limit, rng):
    """Sorted random rows, `limit` of `count` (all when limit is 0 or not smaller)."""
    if not limit or limit >= count:
        return np.arange(count)
    return np.sort(rng.choice(count, size=limit, replace=False))


def stored_concepts(network, arrays, rows, sims, cuts=None):
    """The concepts of some rows of an activation split: from their stored boards, last moves,
    flipped discs and values, and a fresh search for the model's move. Returns (names, (N, C)
    bool, cuts): the scalars' cut points are these rows' quartiles unless `cuts` is given."""
    rules = bitboard_rules(network.model_config.board_size)
    mine, theirs = rules.from_boards(np.asarray(arrays["boards"][rows]))
    cuts = cuts or quantile_cuts(scalar_values(rules, mine, theirs))
    names, concepts = concept_matrix(rules, mine, theirs, np.asarray(arrays["last_move"][rows]), cuts,
                                     flipped=np.asarray(arrays["flipped"][rows]),
                                     best_move=search_best_moves(network, rules, mine, theirs, sims),
                                     value=np.asarray(arrays["value"][rows]))
    return names, concepts, cuts


class ConceptData:
    """Board concepts (with the model's own outputs: its search's move from a fresh search of
    `sims` simulations, and its value's sign) and residual streams of `positions` positions of
    each split. Labels are learnt on "train" and scored on "heldout"."""

    def __init__(self, network, field, splits, positions, rng, sims):
        self.x, self.concepts, self.boards = {}, {}, {}
        cuts = None
        for split, arrays in splits.items():
            rows = sample_rows(len(arrays["boards"]), positions, rng)
            # the cut points come from the first split (train) and serve both
            self.names, self.concepts[split], cuts = stored_concepts(network, arrays, rows, sims, cuts)
            self.x[split] = torch.from_numpy(np.asarray(arrays[field][rows]))
            self.boards[split] = np.asarray(arrays["boards"][rows])
        self.probes = fit_probes(self.x["train"], self.concepts["train"])

    def summary(self, encode, x=None):
        """concept_summary of features given by `encode` (raw activations -> features), of the
        stored streams or of others (`x`: {split: (N, d)}) on the same positions."""
        with torch.no_grad():
            features = {split: encode(stream).cpu().numpy() for split, stream in (x or self.x).items()}
        return concept_summary(features["train"], self.concepts["train"], features["heldout"],
                               self.concepts["heldout"], self.names)

    def probe_cosine(self, decoder):
        """Mean over concepts of the cosine between each probe and its closest decoder direction."""
        return float(closest_features(self.probes[0], decoder)[1].mean())

    def baselines(self, model_config, layer, train_config, seed, train_boards):
        """The same metrics for the raw neurons (the stream is non-negative: a sum of ReLUs), its
        principal directions (each sign a feature), an SAE on an untrained network's stream
        (trained on `train_boards`, the sweep's training positions), and the linear probes."""
        x = self.x["train"]
        mean = x.mean(dim=0)
        _, _, directions = torch.linalg.svd(x - mean, full_matrices=False)

        def pca(stream):
            projection = (stream - mean) @ directions.T
            return torch.cat([projection.clamp_min(0), (-projection).clamp_min(0)], dim=1)

        random_sae, random_x = self.random_network_sae(model_config, layer, train_config, seed, train_boards)
        return {"neurons": self.summary(lambda stream: stream), "pca": self.summary(pca),
                "random_network_sae": self.summary(random_sae.encode, random_x),
                "linear_probes": probe_summary(self.probes, self.x["heldout"], self.concepts["heldout"], self.names)}

    def random_network_sae(self, model_config, layer, train_config, seed, train_boards):
        """An SAE trained as the sweep trains its own, on the residual stream of a randomly
        initialised network of the same architecture over `train_boards`; and that network's
        stream on these positions."""
        torch.manual_seed(seed)
        net = OthelloNet(model_config).eval()
        rows = sample_rows(len(train_boards), RANDOM_NETWORK_POSITIONS, np.random.default_rng(seed))

        def stream(boards):
            with torch.no_grad():
                return torch.cat([net.residual_stream(torch.as_tensor(chunk, dtype=torch.float32), layer)
                                  for chunk in np.array_split(np.asarray(boards), max(1, len(boards) // 8192))])

        sae = SparseAutoencoder(SAEConfig(model_config.width, architecture="l1", **RANDOM_NETWORK_SAE))
        train_sae(sae, stream(np.asarray(train_boards)[rows]), train_config, progress=False)
        return sae.eval(), {split: stream(boards) for split, boards in self.boards.items()}
