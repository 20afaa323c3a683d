"""The study file's pydantic models and :func:`read_study_config` (TOML → validated config).

Owns the sections of a study TOML file (``[study]``, ``[walking]``, ``[standards]``,
``[map]``, ``[boundary]``, ``[layers.<name>]``, ``[tables.<name>]``, ``[network]``), their
checks (unknown keys are errors, declared coordinates and file paths checked, every problem
listed with its key path) and the reading of the file itself. The format is documented, and
the config classes re-exported, in :mod:`geoplan.study`, which reads the layers the config
names.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from geoplan._headers import COLUMN_SYNONYMS
from geoplan.boundary_findings import Tolerances
from geoplan.boundary_numbering import MarkerNumbering, numbering_from
from geoplan.crs import parse_coords, require_metric
from geoplan.errors import CRSError, StudyConfigError
from geoplan.schema import LAYER_CONTRACTS

_NAME_KINDS = {"towns": "admin_units", "villages": "admin_units",
               "boundary_lines_previous": "boundary_lines"}
_KINDS = tuple(k for k in LAYER_CONTRACTS)


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    path = value if value.is_absolute() or base is None else Path(base) / value
    if base is not None and not path.exists():
        msg = f"file not found: {path}"
        raise ValueError(msg)
    return path


def _declared(value: str | int | None) -> str:
    try:
        return parse_coords(value)
    except CRSError as exc:
        raise ValueError(str(exc)) from None


def _declared_or_none(value: str | int | None) -> str | None:
    return None if value is None else _declared(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudySection(_Strict):
    """``[study]``: name, admin code, metric CRS and reference date."""

    name: str = Field(min_length=1)
    admin_code: str = Field(pattern=r"^\d{6}(\d{3}|\d{6})?$")
    metric_crs: str | None = None
    reference_date: dt.date | None = None

    @field_validator("admin_code", mode="before")
    @classmethod
    def code_as_text(cls, value: object) -> object:
        """Accept a code written as a TOML integer (``admin_code = 350582``)."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("metric_crs", mode="before")
    @classmethod
    def check_metric_crs(cls, value: str | int | None) -> str | None:
        if value is None:
            return None
        declared = _declared(value)
        try:
            require_metric(declared if declared.startswith("EPSG:") else 4490, "metric_crs")
        except CRSError as exc:
            raise ValueError(str(exc)) from None
        return declared


class WalkingSection(_Strict):
    """``[walking]``: the time tiers (minutes) and, optionally, a walking speed (m/min).

    Without a speed the tiers get the GB 50180-2018 life-circle distances
    (:func:`geoplan.access.tier_reach_m`).
    """

    speed_m_per_min: float | None = Field(default=None, gt=0, le=200)
    tiers_min: tuple[float, ...] = Field(default=(5.0, 10.0, 15.0), min_length=1)

    @field_validator("tiers_min")
    @classmethod
    def check_tiers(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(t <= 0 for t in value) or list(value) != sorted(set(value)):
            msg = "tiers_min must be positive and strictly increasing, e.g. [5, 10, 15]"
            raise ValueError(msg)
        return value


class StandardsSection(_Strict):
    """``[standards]``: the jurisdiction profile of the planning rules."""

    profile: str = "national"


class MapSection(_Strict):
    """``[map]``: the basemap of the maps (see :func:`geoplan.maps.base_map`)."""

    basemap: Literal["none", "osm", "tianditu", "gaode"] = "none"
    tianditu_tk: str | None = None


_DEFAULT_TOLERANCES = Tolerances()


class NumberingSection(_Strict):
    """``[boundary.numbering]``: a marker register's own numbering convention.

    ``pattern`` is a regular expression with named groups ``serial`` and, optionally,
    ``line`` and ``type``; ``single``/``pair``/``triple`` are the type codes (``""`` for
    none; the first code of a pair stands on the smaller admin code's side).
    """

    name: str = "成果表编号规则"
    pattern: str
    single: tuple[str, ...] = ("",)
    pair: tuple[str, ...] = ("A", "B")
    triple: tuple[str, ...] = ()
    serial_pattern: str | None = None

    @model_validator(mode="after")
    def check_convention(self) -> NumberingSection:
        """Check that the pattern and codes make a valid convention."""
        numbering_from(self.model_dump())
        return self


class BoundarySection(_Strict):
    """``[boundary]``: tolerances, inspection cycle and marker numbering of the joint inspection.

    Defaults: markers within 5 m of their line, surveyed within 1 m of the registered
    position, a 5-year cycle, GB/T 17796-2009 numbers (see
    :class:`geoplan.boundary_findings.Tolerances` for every tolerance).
    """

    marker_to_line_m: float = Field(default=_DEFAULT_TOLERANCES.marker_to_line_m, ge=0)
    marker_displacement_m: float = Field(default=_DEFAULT_TOLERANCES.marker_displacement_m,
                                         ge=0)
    inspection_cycle_years: int = Field(default=_DEFAULT_TOLERANCES.inspection_cycle_years,
                                        ge=1, le=50)
    line_deviation_m: float = Field(default=_DEFAULT_TOLERANCES.line_deviation_m, ge=0)
    topology_area_m2: float = Field(default=_DEFAULT_TOLERANCES.topology_area_m2, ge=0)
    sliver_width_m: float = Field(default=_DEFAULT_TOLERANCES.sliver_width_m, ge=0)
    marker_geometry_m: float = Field(default=_DEFAULT_TOLERANCES.marker_geometry_m, ge=0)
    straddle_min_m2: float = Field(default=_DEFAULT_TOLERANCES.straddle_min_m2, ge=0)
    numbering: Literal["GB/T 17796-2009"] | NumberingSection = "GB/T 17796-2009"

    def tolerances(self) -> Tolerances:
        """Return the tolerances (:class:`~geoplan.boundary_findings.Tolerances`)."""
        return Tolerances(**self.model_dump(exclude={"numbering"}))

    def marker_numbering(self) -> MarkerNumbering:
        """Return the marker numbering convention."""
        if isinstance(self.numbering, NumberingSection):
            return numbering_from(self.numbering.model_dump())
        return numbering_from(self.numbering)


class LayerConfig(_Strict):
    """``[layers.<name>]``: one input layer and how to read it."""

    path: Path
    coords: str
    kind: Literal[_KINDS] | None = None  # type: ignore[valid-type]
    layer: str | None = None
    sheet: str | int | None = None
    encoding: str | None = None
    columns: dict[str, str] | None = None
    x_axis: Literal["east", "north"] | None = None
    source: str | None = None
    year: int | None = None
    geometry: Literal["cell", "point"] | None = None
    synthetic: bool | None = None

    check_path = field_validator("path")(_existing_file)
    check_coords = field_validator("coords", mode="before")(_declared)

    @field_validator("columns")
    @classmethod
    def check_columns(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        """Check that ``columns`` maps headers to names geoplan knows (``name``, ``lon`` …)."""
        known = {*COLUMN_SYNONYMS, *(c.name for k in LAYER_CONTRACTS.values() for c in k.columns)}
        unknown = sorted({v for v in (value or {}).values() if v not in known})
        if unknown:
            msg = (f"unknown column name(s) {unknown}; map headers to one of "
                   f"{', '.join(sorted(known))}")
            raise ValueError(msg)
        return value


class TableConfig(_Strict):
    """``[tables.<name>]``: a plain table (CSV, Excel sheet, GeoPackage attribute table)."""

    path: Path
    sheet: str | int | None = None
    encoding: str | None = None
    columns: dict[str, str] | None = None

    check_path = field_validator("path")(_existing_file)


class NetworkConfig(_Strict):
    """``[network]``: a file (``path`` + ``coords``), a ``synthetic`` generator or ``osm_place``."""

    path: Path | None = None
    coords: str | None = None
    synthetic: str | None = None
    seed: int | None = None
    osm_place: str | None = None

    check_path = field_validator("path")(_existing_file)
    check_coords = field_validator("coords", mode="before")(_declared_or_none)

    @model_validator(mode="after")
    def check_one_source(self) -> NetworkConfig:
        """Check that exactly one network source is given, and coords with a path."""
        given = [k for k in ("path", "synthetic", "osm_place") if getattr(self, k) is not None]
        if len(given) != 1:
            msg = f"give exactly one of path, synthetic, osm_place (got {given or 'none'})"
            raise ValueError(msg)
        if self.path is not None and self.coords is None:
            msg = "a network path needs coords (e.g. 'wgs84' for OSM data)"
            raise ValueError(msg)
        return self


class StudyConfig(_Strict):
    """The whole study file."""

    study: StudySection
    walking: WalkingSection = WalkingSection()
    standards: StandardsSection = StandardsSection()
    map: MapSection = MapSection()
    boundary: BoundarySection = BoundarySection()
    layers: dict[str, LayerConfig]
    tables: dict[str, TableConfig] = {}
    network: NetworkConfig | None = None

    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def check_kinds(self) -> StudyConfig:
        """Check that a study area is given and every layer has a known kind."""
        if "study_area" not in self.layers:
            msg = "layers.study_area is required (the outline of the study)"
            raise ValueError(msg)
        unknown = [n for n in self.layers if self.layer_kind(n) is None]
        if unknown:
            msg = (f"layers {unknown} need kind = one of {', '.join(_KINDS)} (or use a kind as "
                   "the layer name)")
            raise ValueError(msg)
        return self

    def layer_kind(self, name: str) -> str | None:
        """Return the kind of layer ``name`` (its ``kind`` key, or the name itself)."""
        layer = self.layers[name]
        if layer.kind is not None:
            return layer.kind
        return name if name in LAYER_CONTRACTS else _NAME_KINDS.get(name)

    @property
    def path(self) -> Path | None:
        """The TOML file this config was read from."""
        return self._path

    @property
    def base_dir(self) -> Path | None:
        """The folder relative paths are resolved against."""
        return None if self._path is None else self._path.parent


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s) in the study file"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing" and err["loc"] and err["loc"][-1] == "coords":
            msg = ("coords is required: declare the coordinate system, one of wgs84 / "
                   "cgcs2000 / gcj02 (高德/腾讯) / bd09 (百度) / EPSG:n")
        elif err["type"] == "extra_forbidden":
            msg = f"unknown key (value {err['input']!r}); check the spelling"
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def read_study_config(path: str | Path) -> StudyConfig:
    """Read and validate a study TOML file (without reading the layers).

    Raises
    ------
    StudyConfigError
        If the file is missing, not valid TOML, or breaks the format (all problems listed,
        with their key paths, e.g. ``layers.facilities.coords``).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"study file not found: {path}"
        raise StudyConfigError(msg)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # Windows Notepad writes a BOM
    except UnicodeDecodeError:
        msg = (f"{path}: the study file is not UTF-8 (saved as GBK/ANSI?); save it as UTF-8 / "
               "请以 UTF-8 编码保存研究文件")
        raise StudyConfigError(msg) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not a valid TOML file: {exc}"
        raise StudyConfigError(msg) from None
    try:
        config = StudyConfig.model_validate(data, context={"base_dir": path.parent})
    except ValidationError as exc:
        raise StudyConfigError(_format_errors(path, exc)) from None
    config._path = path
    return config
