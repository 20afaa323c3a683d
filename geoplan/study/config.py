"""The study file's pydantic models and :func:`read_study_config` (TOML → validated config).

Owns the sections of a study TOML file, their checks (unknown keys are errors, declared
coordinates and file paths checked, every problem listed with its key path) and the reading
of the file itself. Only ``[study]`` is required. The analysis sections ask for the steps a
run does: ``[coverage]`` (walking service circles), ``[standards]`` (rules and plan
indicators), ``[siting]`` (new sites) and ``[boundary]`` (the joint inspection). The
settings sections are ``[walking]``, ``[map]``, ``[types]`` and ``[network]``; the inputs are
``[layers.<name>]`` (files or PostGIS tables) and ``[tables.<name>]``; ``[output.postgis]``
writes the result tables back to PostGIS. The format is documented in
:mod:`geoplan.study.load` and ``docs/study-file.md``.
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

from geoplan.boundary import Tolerances
from geoplan.boundary.numbering import MarkerNumbering, numbering_from
from geoplan.crs import parse_coords, require_metric
from geoplan.errors import CRSError, DatabaseError, StudyConfigError
from geoplan.io import COLUMN_SYNONYMS, check_dsn
from geoplan.schema import FACILITY_TYPES, LAYER_CONTRACTS, facility_type_key
from geoplan.schema._facility_types import unknown_alias_targets

_COORDS_REQUIRED = ("coords is required: declare the coordinate system, one of wgs84 / "
                    "cgcs2000 / gcj02 (高德/腾讯) / bd09 (百度) / EPSG:n")
_NAME_KINDS = {"towns": "admin_units", "villages": "admin_units",
               "boundary_lines_previous": "boundary_lines"}
#: The analysis steps a study can ask for, by the section that asks for them.
STEP_SECTIONS = ("coverage", "standards", "siting", "boundary")
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


def _password_free(value: str | None) -> str | None:
    """Refuse a connection string with a password (credentials stay out of the study file)."""
    try:
        check_dsn(value)
    except DatabaseError as exc:
        raise ValueError(str(exc)) from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudySection(_Strict):
    """``[study]``: name, admin code, metric CRS, reference date and output language.

    ``lang = "en"`` keeps the machine-readable English column names in the workbooks, CSV
    and HTML report (default ``"zh"``: Chinese headers).
    """

    name: str = Field(min_length=1)
    admin_code: str = Field(pattern=r"^\d{6}(\d{3}|\d{6})?$")
    metric_crs: str | None = None
    reference_date: dt.date | None = None
    lang: Literal["zh", "en"] = "zh"

    @field_validator("admin_code", mode="before")
    @classmethod
    def code_as_text(cls, value: object) -> object:
        """Accept a code written as a TOML integer (``admin_code = 350582``)."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("metric_crs", mode="before")
    @classmethod
    def check_metric_crs(cls, value: str | int | None) -> str | None:
        """Accept only a Gauss-Krüger (metric, undistorted) ``metric_crs``."""
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
        """Require positive, strictly increasing tiers."""
        if any(t <= 0 for t in value) or list(value) != sorted(set(value)):
            msg = "tiers_min must be positive and strictly increasing, e.g. [5, 10, 15]"
            raise ValueError(msg)
        return value


class CoverageSection(_Strict):
    """``[coverage]``: asks for the walking service circles of these facility types.

    ``types`` are keys or names (``"elderly_station"``, ``"长者食堂"``); left out, the four core
    types (养老服务站, 长者食堂/助餐点, 骨灰堂, 社工站) that the study has.
    """

    types: tuple[str, ...] | None = Field(default=None, min_length=1)


class StandardsSection(_Strict):
    """``[standards]``: asks for the standards check with this profile, and the plan indicators.

    ``registry`` is the plan indicator table to evaluate (default: the profile's own plan,
    e.g. ``jinjiang_14th`` for ``jinjiang``; ``"none"`` for no indicators) and
    ``results_registry`` the previous plan's results compared with its base values.
    """

    profile: str = "national"
    registry: str | None = None
    results_registry: str | None = None

    @field_validator("profile", "registry", "results_registry")
    @classmethod
    def resolve_files(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Resolve a profile or registry given as a ``.toml`` file against the study folder."""
        if value is None or not value.endswith(".toml"):
            return value
        return str(_existing_file(Path(value), info))


class MapSection(_Strict):
    """``[map]``: the basemap of the maps (see :func:`geoplan.maps.base_map`)."""

    basemap: Literal["none", "osm", "tianditu", "gaode"] = "none"
    tianditu_tk: str | None = None


class TypesSection(_Strict):
    """``[types]``: the study's own facility-type names.

    ``aliases = {"长者饭堂" = "senior_canteen", "老人之家" = "居家养老服务站"}``.
    """

    aliases: dict[str, str] = {}

    @field_validator("aliases")
    @classmethod
    def check_targets(cls, value: dict[str, str]) -> dict[str, str]:
        """Require every alias to name a known facility type (a key or a known name)."""
        unknown = unknown_alias_targets(value)
        if unknown:
            msg = (f"aliases name unknown facility types: {'; '.join(unknown)}; known: "
                   f"{', '.join(FACILITY_TYPES)}")
            raise ValueError(msg)
        return value


class SitingTypeSection(_Strict):
    """``[siting.types.<type>]``: how many new sites of one type, and where they may go.

    Give exactly one target: ``new_sites`` (how many), ``coverage_share`` (the fewest sites
    that cover this share of the demand, 0–1; 1 = every resident the network can reach) or
    ``budget`` (in the unit of the candidates' ``cost``, or of ``cost_per_site``).
    ``min_per_town``/``max_per_town`` bound the new sites in every 镇街; ``quotas`` gives
    ``[min, max]`` for named 镇街 codes (``max`` may be omitted: ``[1]``).
    """

    new_sites: int | None = Field(default=None, ge=1)
    coverage_share: float | None = Field(default=None, gt=0, le=1)
    budget: float | None = Field(default=None, gt=0)
    cost_per_site: float | None = Field(default=None, gt=0)
    min_per_town: int = Field(default=0, ge=0)
    max_per_town: int | None = Field(default=None, ge=0)
    quotas: dict[str, tuple[int, ...]] = {}

    @model_validator(mode="after")
    def check_target(self) -> SitingTypeSection:
        """Exactly one target; quotas as ``[min]`` or ``[min, max]`` with min <= max."""
        given = [k for k in ("new_sites", "coverage_share", "budget") if getattr(self, k)]
        if len(given) != 1:
            msg = ("give exactly one of new_sites, coverage_share, budget "
                   f"(got {', '.join(given) or 'none'})")
            raise ValueError(msg)
        if self.max_per_town is not None and self.max_per_town < self.min_per_town:
            msg = f"max_per_town {self.max_per_town} < min_per_town {self.min_per_town}"
            raise ValueError(msg)
        for code, bounds in self.quotas.items():
            if not 1 <= len(bounds) <= 2 or min(bounds) < 0 or (
                    len(bounds) == 2 and bounds[1] < bounds[0]):
                msg = f"quotas.{code} must be [min] or [min, max] with 0 <= min <= max"
                raise ValueError(msg)
        return self


class SitingSection(_Strict):
    """``[siting]``: asks for new sites of the types under ``[siting.types.<type>]``.

    ``demand`` is the population column served (default 60岁以上); ``tier_min`` the walking
    time a site serves (default the largest ``[walking]`` tier); ``candidates`` where sites may
    go: ``"demand_clusters"`` (weighted clusters of uncovered demand, default),
    ``"network_nodes"`` (street corners in uncovered areas) or the name of a layer of kind
    ``candidate_sites`` (e.g. vacant public buildings, with an optional ``cost``);
    ``exclude`` names layers of kind ``exclusion_zones`` (e.g. the 殡葬管理条例 art. 10
    zones for columbaria). Existing sites of a type stay fixed and count. ``curve`` asks for
    the coverage curve of every type too: ``[5, 40]`` is 5, 6 … 40 new sites, a longer list
    names each number (``[5, 10, 20, 30]``); each point is solved exactly, with its proven
    bound, and the fewest sites for all reachable demand (LSCP) is marked.
    """

    types: dict[str, SitingTypeSection] = Field(min_length=1)
    demand: Literal["pop", "households", "pop_60plus", "pop_80plus"] = "pop_60plus"
    tier_min: float | None = Field(default=None, gt=0)
    candidates: str = "demand_clusters"
    n_candidates: int = Field(default=300, ge=1)
    exclude: tuple[str, ...] = ()
    method: Literal["exact", "greedy"] = "exact"
    time_limit_s: float = Field(default=60.0, gt=0)
    curve: tuple[int, ...] | None = None

    @field_validator("curve")
    @classmethod
    def check_curve(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """Read ``curve = [5, 40]`` as 5…40 new sites; any other list as those numbers."""
        if value is None:
            return None
        if not value or min(value) < 1:
            msg = "curve must list numbers of new sites >= 1, e.g. [5, 40] or [5, 10, 20]"
            raise ValueError(msg)
        if len(value) == 2:
            low, high = sorted(value)
            return tuple(range(low, high + 1))
        return tuple(sorted(set(value)))


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
    """``[boundary]``: asks for the joint inspection, with its tolerances, cycle and numbering.

    Defaults: markers within 5 m of their line, surveyed within 1 m of the registered
    position, a 5-year cycle, GB/T 17796-2009 numbers (see
    :class:`geoplan.boundary.Tolerances` for every tolerance); ``plan_year`` is the year the
    inspection plan is made for (default: the year after ``reference_date``).
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
    plan_year: int | None = None

    def tolerances(self) -> Tolerances:
        """Return the tolerances (:class:`~geoplan.boundary.Tolerances`)."""
        return Tolerances(**self.model_dump(exclude={"numbering", "plan_year"}))

    def marker_numbering(self) -> MarkerNumbering:
        """Return the marker numbering convention."""
        if isinstance(self.numbering, NumberingSection):
            return numbering_from(self.numbering.model_dump())
        return numbering_from(self.numbering)


class LayerConfig(_Strict):
    """``[layers.<name>]``: one input layer and how to read it.

    A file (``path``) or a PostGIS table (``table``) or query (``sql``); a PostGIS layer
    connects with ``dsn`` (never with a password in it) or, without one, libpq's
    environment (``PGSERVICE`` with ``PGSERVICEFILE``, ``PGHOST`` …), and may leave
    ``coords`` out when its geometry column's SRID says it.
    """

    table: str | None = Field(default=None, pattern=r"^[^.]+(\.[^.]+)?$")
    sql: str | None = Field(default=None, min_length=1)
    path: Path | None = Field(default=None, validate_default=True)
    dsn: str | None = None
    geometry_column: str | None = None
    coords: str | None = Field(default=None, validate_default=True)
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
    type: str | None = None
    census: dict[Literal["pop", "households", "pop_60plus", "pop_80plus"], float] | None = None

    @field_validator("path")
    @classmethod
    def check_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Require a file that exists, or (without one) a table or query, not both."""
        database = [k for k in ("table", "sql") if info.data.get(k) is not None]
        if value is None and not database:
            msg = "path is required: the layer's file (or table / sql for a PostGIS layer)"
            raise ValueError(msg)
        if value is not None and database:
            msg = f"give path (a file) or {' / '.join(database)} (a PostGIS layer), not both"
            raise ValueError(msg)
        return None if value is None else _existing_file(value, info)

    @field_validator("coords", mode="before")
    @classmethod
    def check_coords(cls, value: str | int | None, info: ValidationInfo) -> str | None:
        """Require a declaration of a file; a PostGIS layer's SRID may declare it."""
        if value is None and (info.data.get("table") or info.data.get("sql")):
            return None
        if value is None:
            raise ValueError(_COORDS_REQUIRED)
        return _declared(value)

    refuse_password = field_validator("dsn")(_password_free)

    @model_validator(mode="after")
    def check_source(self) -> LayerConfig:
        """One of table and sql; database keys only for a database layer, file keys for files."""
        if self.table is not None and self.sql is not None:
            msg = "give table or sql, not both"
            raise ValueError(msg)
        if self.path is not None:
            wrong = [k for k in ("dsn", "geometry_column") if getattr(self, k) is not None]
            if wrong:
                msg = f"{', '.join(wrong)}: for a PostGIS layer (table or sql) only, not a file"
                raise ValueError(msg)
        else:
            wrong = [k for k in ("layer", "sheet", "encoding", "x_axis", "geometry")
                     if getattr(self, k) is not None]
            if wrong:
                msg = f"{', '.join(wrong)}: for files only, not a PostGIS layer"
                raise ValueError(msg)
        return self

    @property
    def in_database(self) -> bool:
        """Whether the layer is a PostGIS table or query (not a file)."""
        return self.path is None

    @property
    def label(self) -> str:
        """The layer's source as a planner reads it: the file name or the table/query."""
        if self.path is not None:
            return self.path.name
        return f"PostGIS {self.table}" if self.table is not None else "PostGIS query"

    @field_validator("type")
    @classmethod
    def check_type(cls, value: str | None) -> str | None:
        """Require a declared facility type to be a key or a name geoplan knows."""
        if value is not None and facility_type_key(value) is None:
            msg = (f"unknown facility type {value!r}; known: {', '.join(FACILITY_TYPES)} "
                   "(or their Chinese names); a study's own names go in [types.aliases]")
            raise ValueError(msg)
        return value

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


class ComputeSection(_Strict):
    """``[compute]``: run the coverage step partitioned per county, on Dask.

    ``scheduler`` is the address of a running Dask scheduler (``"tcp://10.0.0.5:8786"``);
    without it a local cluster is started: ``workers`` single-threaded workers (default one
    per core, as many as the memory allows), each limited to ``memory_limit`` (``"4GB"``,
    default 4 GB or less on a smaller machine), in their own processes unless
    ``processes = false``. A county larger than ``max_partition_km2`` is split by its 镇街
    (see :mod:`geoplan.study.partitions`).
    """

    scheduler: str | None = None
    workers: int | None = Field(default=None, ge=1)
    memory_limit: str | None = None
    processes: bool = True
    max_partition_km2: float = Field(default=2500.0, gt=0)

    @field_validator("memory_limit")
    @classmethod
    def check_memory(cls, value: str | None) -> str | None:
        """Accept a memory size such as ``"4GB"`` or ``"1500MiB"``."""
        if value is None:
            return None
        from dask.utils import parse_bytes

        try:
            parse_bytes(value)
        except ValueError:
            msg = f"memory_limit {value!r} is not a size such as \"4GB\""
            raise ValueError(msg) from None
        return value


class PostgisOutput(_Strict):
    """``[output.postgis]``: the run's result tables, written into one PostGIS schema.

    Every table a run produces (coverage per unit, uncovered cells, service areas, proposed
    sites, findings …) replaces the one of the same name in ``schema``, all in one
    transaction when the run has succeeded; ``dsn`` as for a layer (no password; default
    libpq's environment).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_name: str = Field(alias="schema", min_length=1, max_length=63,
                             pattern=r"^[^.\s\"]+$")
    dsn: str | None = None

    refuse_password = field_validator("dsn")(_password_free)


class OutputSection(_Strict):
    """``[output]``: where a run writes besides its output folder."""

    postgis: PostgisOutput | None = None


class StudyConfig(_Strict):
    """The whole study file: ``[study]`` and whatever else the study asks for."""

    study: StudySection
    walking: WalkingSection = WalkingSection()
    coverage: CoverageSection | None = None
    standards: StandardsSection | None = None
    siting: SitingSection | None = None
    boundary: BoundarySection | None = None
    map: MapSection = MapSection()
    types: TypesSection = TypesSection()
    layers: dict[str, LayerConfig] = {}
    tables: dict[str, TableConfig] = {}
    network: NetworkConfig | None = None
    compute: ComputeSection | None = None
    output: OutputSection = OutputSection()

    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def check_kinds(self) -> StudyConfig:
        """Check every layer's kind, the outline, and types declared on facility layers only."""
        unknown = [n for n in self.layers if self.layer_kind(n) is None]
        if unknown:
            msg = (f"layers {unknown} need kind = one of {', '.join(_KINDS)} (or use a kind as "
                   "the layer name)")
            raise ValueError(msg)
        kinds = {self.layer_kind(n) for n in self.layers}
        if self.layers and not kinds & {"study_area", "admin_units"}:
            msg = ("give the study's outline: a layers.study_area, or admin_units whose union "
                   "is the study area")
            raise ValueError(msg)
        typed = [n for n, layer in self.layers.items()
                 if layer.type is not None and self.layer_kind(n) != "facilities"]
        if typed:
            msg = f"type = ... is for facility layers only (given for {typed})"
            raise ValueError(msg)
        return self

    @property
    def steps(self) -> tuple[str, ...]:
        """The analysis steps the file asks for, in run order."""
        return tuple(s for s in STEP_SECTIONS if getattr(self, s) is not None)

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
            msg = _COORDS_REQUIRED
        elif err["type"] == "extra_forbidden" and "password" in str(err["loc"][-1]).lower():
            msg = ("a password never goes in the study file; put it in ~/.pgpass, the "
                   "PGPASSWORD variable or a service file (PGSERVICEFILE/PGSERVICE)")
        elif err["type"] == "extra_forbidden":
            msg = f"unknown key (value {err['input']!r}); check the spelling"
        lines.append(f"  - {loc}: {msg}")
    sections = dict.fromkeys(str(e["loc"][0]) for e in exc.errors() if e["loc"])
    pages = [f"docs/study-file.md#{s}" for s in sections if s in StudyConfig.model_fields]
    lines.append(f"  see {' and '.join(pages or ['docs/study-file.md'])}")
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
