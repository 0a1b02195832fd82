"""Sparse autoencoders for the AlphaZero network's residual stream: the models (L1 and TopK),
their training, their metrics (reconstruction, network fidelity, board concepts), the
activation store they read and the SAELens export they write."""
