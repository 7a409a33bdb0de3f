"""Installed as the package `hydra_plugins.mnist_lightning` (pyproject.toml maps it here): Hydra accepts sweepers
only from its `hydra_plugins` namespace. conf/hparams_search/ names the sweeper by that path."""
