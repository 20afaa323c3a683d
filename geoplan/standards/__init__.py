"""Planning standards as cited data (TOML profiles) and their per-unit evaluation.

>>> from geoplan.standards import load_profile, evaluate_standards
>>> profile = load_profile("jinjiang")   # or a path to your own TOML file
"""

from geoplan.standards.columbarium import years_to_exhaustion
from geoplan.standards.evaluate import (
    FAIL,
    NOT_COMPUTABLE,
    PASS,
    RESULT_COLUMNS,
    STATUS_ZH,
    compliance_gdf,
    evaluate_standards,
    meets,
    required_staff,
    shortfall_amount,
)
from geoplan.standards.rules import Profile, Rule, Source, list_profiles, load_profile

__all__ = [
    "FAIL",
    "NOT_COMPUTABLE",
    "PASS",
    "RESULT_COLUMNS",
    "STATUS_ZH",
    "Profile",
    "Rule",
    "Source",
    "compliance_gdf",
    "evaluate_standards",
    "list_profiles",
    "load_profile",
    "meets",
    "required_staff",
    "shortfall_amount",
    "years_to_exhaustion",
]
