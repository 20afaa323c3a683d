"""Datasets: the embedded demo study and seeded generators for tests and benchmarks.

Owns the Jinjiang demo (``demo``: its data folder, :func:`load_demo`, its synthetic network), the
synthetic layers generator (``synthetic``) and the synthetic siting instances
(``siting_instances``), like ``sklearn.datasets``. Uses ``study`` and ``network``.
"""

from geoplan.datasets.demo import (
    DEMO_NETWORK_SEED,
    byod_dir,
    data_dir,
    demo_study_path,
    load_byod,
    load_demo,
    synthetic_network,
)
from geoplan.network import synthetic_network_inputs

__all__ = [
    "DEMO_NETWORK_SEED",
    "byod_dir",
    "data_dir",
    "demo_study_path",
    "load_byod",
    "load_demo",
    "synthetic_network",
    "synthetic_network_inputs",
]
