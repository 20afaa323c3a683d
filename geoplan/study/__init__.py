"""Studies: the study file, the loaded study and the pipeline that runs it.

Owns the study file's format (``config``), loading and validating every layer into a frozen
:class:`Study` (``load``), and the main job that composes every analysis and writes the outputs
(``pipeline``, imported on its own so that ``import geoplan.study`` stays light). May use every
layer below it.
"""

from geoplan.study.config import LayerConfig, NetworkConfig, StudyConfig, read_study_config
from geoplan.study.load import Study, load_study, read_study_kind, read_study_layer

__all__ = [
    "LayerConfig",
    "NetworkConfig",
    "Study",
    "StudyConfig",
    "load_study",
    "read_study_config",
    "read_study_kind",
    "read_study_layer",
]
