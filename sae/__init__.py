"""Sparse autoencoders for the AlphaZero network's residual stream: the models (L1 and TopK),
their training loop and their reconstruction metrics."""
