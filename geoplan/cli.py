"""The ``geoplan`` command.

``geoplan demo`` runs the embedded Jinjiang demo study; ``geoplan run STUDY.toml`` runs the
steps a planner's study file asks for; ``geoplan inspect STUDY.toml`` runs only its boundary
joint inspection; ``geoplan validate STUDY.toml`` runs the same preflight as ``run`` (the
study file, every layer, what each step needs) and writes nothing.

Exit codes (:data:`EXIT_CODES`): 0 done; 1 internal error (a bug: rerun with ``--debug``
and report it); 2 usage error (a wrong option or argument); 3 bad input (the study file or
a layer: every problem is listed); 4 an output cannot be written (the folder is read-only,
the disk is full …; earlier outputs are left as they were); 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

import geoplan
from geoplan.errors import ArgumentError, GeoplanError, OutputError

__all__ = ["EXIT_CODES", "app"]

#: Exit code → meaning, as ``geoplan --help`` states them.
EXIT_CODES = {0: "done", 1: "internal error (a bug)", 2: "usage error",
              3: "bad input (study file or layers)", 4: "an output cannot be written",
              130: "interrupted"}
EXIT_USAGE, EXIT_INPUT, EXIT_OUTPUT, EXIT_BUG = 2, 3, 4, 1

app = typer.Typer(
    name="geoplan",
    help=("民政服务设施规划工具 — civil-affairs service-facility planning for Chinese cities.\n\n"
          "Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()) + "."),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder (replaced as a whole "
                                                            "when the run succeeds).")]
StudyArg = Annotated[Path, typer.Argument(help="The study file (TOML).")]
Curve = Annotated[str | None, typer.Option(
    "--curve", help="Coverage curve of the siting types: '5-40' (5 … 40 new sites) or "
                    "'5,10,20'; overrides \\[siting] curve.")]

Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", help="Run the coverage step partitioned per county on this Dask scheduler "
                        "(tcp://host:8786); overrides [compute] scheduler.")]
Workers = Annotated[int | None, typer.Option(
    "--workers", min=1, help="Partitioned runs on this machine: number of workers "
                             "(default one per core, as the memory allows).")]
MemoryLimit = Annotated[str | None, typer.Option(
    "--memory-limit", help="Partitioned runs on this machine: memory limit per worker, e.g. "
                           "4GB; overrides [compute] memory_limit.")]

Lang = Annotated[str | None, typer.Option(
    "--lang", help="Table headers: 'zh' (Chinese, default) or 'en' (machine-readable names); "
                   "overrides [study] lang.")]


def _lang(value: str | None) -> str | None:
    """Accept ``--lang zh`` or ``--lang en``; anything else is a usage error (exit 2)."""
    if value is not None and value not in ("zh", "en"):
        msg = f"--lang {value!r}: give zh or en"
        raise typer.BadParameter(msg)
    return value


def _curve(text: str | None) -> tuple[int, ...] | None:
    """Read ``--curve 5-40`` or ``--curve 5,10,20``; a bad value is a usage error (exit 2)."""
    if text is None:
        return None
    try:
        if "-" in text:
            low, high = (int(v) for v in text.split("-", 1))
            values = tuple(range(min(low, high), max(low, high) + 1))
        else:
            values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        msg = f"--curve {text!r}: give a range such as 5-40 or a list such as 5,10,20"
        raise typer.BadParameter(msg)
    return values


class _Settings:
    quiet = False
    verbose = False
    debug = False


_LOG_LABELS = {logging.WARNING: "注意 note", logging.ERROR: "错误 error",
               logging.CRITICAL: "错误 error"}


class _PlannerFormatter(logging.Formatter):
    """Log lines a planner reads: 注意 for warnings; the module name only with --verbose."""

    def __init__(self, *, detailed: bool) -> None:
        super().__init__()
        self.detailed = detailed

    def format(self, record: logging.LogRecord) -> str:
        label = _LOG_LABELS.get(record.levelno, "")
        where = f" [{record.name}]" if self.detailed else ""
        text = record.getMessage()
        return f"{label}{where}: {text}" if label else f"{text}{where}"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"geoplan {geoplan.__version__}")
        raise typer.Exit


@app.callback()
def main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                          help="Log each step's details.")] = False,
    debug: Annotated[bool, typer.Option("--debug",
                                        help="Show tracebacks of internal errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """民政服务设施规划 geoplan: service circles, standards, siting, boundary inspection."""
    _Settings.quiet, _Settings.verbose, _Settings.debug = quiet, verbose, debug
    level = logging.ERROR if quiet else logging.DEBUG if debug else (
        logging.INFO if verbose else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PlannerFormatter(detailed=verbose or debug))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("pyogrio").setLevel(max(level, logging.WARNING))


def _say(text: str) -> None:
    if not _Settings.quiet:
        typer.echo(text)


@contextmanager
def _failures() -> Iterator[None]:
    """Turn every expected failure into one line and its exit code; a bug into code 1."""
    try:
        yield
    except typer.Exit:
        raise
    except ArgumentError as exc:
        _error(exc, "用法有误 usage error")
        raise typer.Exit(EXIT_USAGE) from None
    except OutputError as exc:
        _error(exc, "无法写出 cannot write")
        raise typer.Exit(EXIT_OUTPUT) from None
    except GeoplanError as exc:
        _error(exc, "输入有误 bad input")
        raise typer.Exit(EXIT_INPUT) from None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        _error(exc, "无法读取 cannot read")
        raise typer.Exit(EXIT_INPUT) from None
    except KeyboardInterrupt:
        typer.secho("已中断 interrupted; earlier outputs are unchanged", err=True,
                    fg=typer.colors.YELLOW)
        raise typer.Exit(130) from None
    except Exception as exc:
        if _Settings.debug:
            raise
        typer.secho(f"内部错误 internal error: {type(exc).__name__}: {exc}\n"
                    "  this is a bug in geoplan; rerun with --debug and report the traceback",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(EXIT_BUG) from None


def _error(exc: BaseException, label: str) -> None:
    notes = "".join(f"\n  {n}" for n in getattr(exc, "__notes__", ()))
    typer.secho(f"错误 {label}: {exc}{notes}", err=True, fg=typer.colors.RED)


class _Progress:
    """A progress bar on a terminal; one log line per step with its elapsed time otherwise."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.started = self.step_started = time.perf_counter()
        self.current: str | None = None
        self.bar = None
        if sys.stderr.isatty() and not _Settings.quiet:
            self.bar = tqdm(total=len(labels), unit="step", file=sys.stderr, leave=False)

    def __call__(self, label: str) -> None:
        self._finish()
        self.current, self.step_started = label, time.perf_counter()
        if self.bar is not None:
            self.bar.set_description(label)

    def _finish(self) -> None:
        if self.current is None:
            return
        seconds = time.perf_counter() - self.step_started
        if self.bar is not None:
            self.bar.update()
        elif not _Settings.quiet:
            typer.echo(f"[{time.perf_counter() - self.started:7.1f} s] {self.current}: "
                       f"{seconds:.1f} s", err=True)
        self.current = None

    def close(self) -> None:
        self._finish()
        if self.bar is not None:
            self.bar.close()


def _prepare(path: Path, only: tuple[str, ...] | None = None) -> tuple[Any, Any]:
    from geoplan.study.preflight import prepare_run

    started = time.perf_counter()
    study, plan = prepare_run(path, only=only)
    _say(f"已读取 loaded {study.name}: {len(study.towns)} 镇街, {len(study.villages)} 村社区, "
         f"{len(study.facilities)} 设施, {len(study.population):,} 人口格网 "
         f"(EPSG:{study.metric_epsg}, {time.perf_counter() - started:.1f} s)")
    for note in plan.notes:
        _say(f"  注意 note: {note}")
    return study, plan


def _report_plan(plan: Any) -> None:
    from geoplan.study.preflight import STEP_NAMES_ZH

    done = ", ".join(f"{STEP_NAMES_ZH[s]} ({s})" for s in plan.steps) or "none"
    _say(f"步骤 steps: {done}")
    for reason in plan.skipped.values():
        _say(f"  跳过 skipped: {reason}")


def _run(path: Path, out: Path, only: tuple[str, ...] | None = None,
         curve: tuple[int, ...] | None = None, lang: str | None = None) -> None:
    import dataclasses

    from geoplan.errors import StudyConfigError
    from geoplan.study.pipeline import run_study, step_labels

    study, plan = _prepare(path, only)
    if curve is not None:
        if "siting" not in plan.steps:
            msg = "--curve needs a [siting] section in the study file (the types to site)"
            raise StudyConfigError(msg)
        plan = dataclasses.replace(plan, curve=curve)
    _report_plan(plan)
    progress = _Progress(step_labels(plan, postgis=study.config.output.postgis is not None))
    started = time.perf_counter()
    try:
        run = run_study(study, out, plan=plan, step=progress, lang=lang)
    finally:
        progress.close()
    _say(f"完成 done in {time.perf_counter() - started:.0f} s; outputs in {out}:")
    for name, written in run.outputs.items():
        _say(f"  {name:20s} {written}")
    if run.tables:
        _say(f"写回数据库 PostGIS tables: {', '.join(run.tables)}")
    for note in run.notes:
        typer.secho(f"  提示 note: {note}", err=True, fg=typer.colors.YELLOW)


def _run_partitioned(path: Path, out: Path, *, scheduler: str | None = None,
                     workers: int | None = None, memory_limit: str | None = None,
                     lang: str | None = None) -> None:
    from geoplan.study.config import read_study_config
    from geoplan.study.partitions import (
        read_window,
        run_partitioned_coverage,
        write_partitioned_outputs,
    )

    config = read_study_config(path)
    _say(f"分区计算 partitioned run: {config.study.name}")
    for step in config.steps:
        if step != "coverage":
            _say(f"  跳过 skipped: [{step}] is not run partitioned (only [coverage]); run the "
                 "study without [compute] for it")
    if not (_Settings.verbose or _Settings.debug):  # Dask's own INFO lines only with -v
        for name in ("distributed", "dask"):
            logging.getLogger(name).setLevel(logging.WARNING)
    bar = None
    if sys.stderr.isatty() and not _Settings.quiet:
        bar = tqdm(unit="partition", file=sys.stderr, leave=False, desc="分区 partitions")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(1)

    try:
        result = run_partitioned_coverage(config, scheduler=scheduler, workers=workers,
                                          memory_limit=memory_limit, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    epsg = int(config.study.metric_crs.split(":")[1])
    units = [read_window(config, n, None, epsg) for n in config.layers
             if config.layer_kind(n) == "admin_units"]
    written = write_partitioned_outputs(result, units[0], out, study_name=config.study.name,
                                        lang=lang or config.study.lang)
    gb = 1e9
    peak = result.stats.groupby("pid")["peak_rss_bytes"].max()
    limits = sorted(set(result.workers.values()))
    _say(f"完成 done: {len(result.partitions)} 个分区 partitions on {len(result.workers)} "
         f"workers (memory limit {', '.join(f'{v / gb:.1f} GB' for v in limits)}) in "
         f"{result.wall_s:.0f} s; peak worker memory "
         f"{', '.join(f'{v / gb:.2f}' for v in peak)} GB")
    whole = result.coverage[(result.coverage["level"] == "study")
                            & (result.coverage["tier_min"] == max(config.walking.tiers_min))]
    for row in whole.itertuples():
        _say(f"  {row.facility_type:22s} {max(config.walking.tiers_min):g} 分钟覆盖 60岁以上 "
             f"{row.pop_60plus_share:.1%} of {row.pop_60plus_total:,.0f}")
    _say(f"outputs in {out}:")
    for name, file in written.items():
        _say(f"  {name:20s} {file}")


def _command(body: Callable[[], None]) -> None:
    with _failures():
        body()


Province = Annotated[str | None, typer.Option(
    "--province", help="Run a synthetic province study instead (real county outlines and 2020 "
                       "census totals, e.g. 35 = 福建省), partitioned per county on Dask; it "
                       "needs the reference data folder (GEOPLAN_SHARED_DATA).")]
Counties = Annotated[str | None, typer.Option(
    "--counties", help="With --province: only these county codes, e.g. 350581,350582.")]


@app.command()
def demo(out: OutDir = Path("out/demo"), curve: Curve = None, lang: Lang = None,
         province: Province = None, counties: Counties = None, scheduler: Scheduler = None,
         workers: Workers = None, memory_limit: MemoryLimit = None) -> None:
    """Run every analysis on the embedded Jinjiang (晋江市) demo study, offline."""
    from geoplan.datasets import demo_study_path

    points, language = _curve(curve), _lang(lang)
    if province is None:
        _command(lambda: _run(demo_study_path(), out, curve=points, lang=language))
        return
    if not (province.isdigit() and len(province) == 2):
        msg = f"--province {province!r}: give a two-digit province code, e.g. 35"
        raise typer.BadParameter(msg)

    def body() -> None:
        from geoplan.datasets.province import province_study_path

        codes = [c.strip() for c in counties.split(",") if c.strip()] if counties else None
        started = time.perf_counter()
        path = province_study_path(province, counties=codes)
        _say(f"合成省级研究 synthetic province study: {path} "
             f"({time.perf_counter() - started:.0f} s)")
        _run_partitioned(path, out, scheduler=scheduler, workers=workers,
                         memory_limit=memory_limit, lang=language)

    _command(body)


@app.command()
def run(study: StudyArg, out: OutDir = Path("out"), curve: Curve = None,
        lang: Lang = None, scheduler: Scheduler = None, workers: Workers = None,
        memory_limit: MemoryLimit = None) -> None:
    """Run the steps a study file asks for and write their outputs.

    A study with a [compute] section (or run with --scheduler) runs its coverage step
    partitioned per county on Dask and writes the merged coverage.
    """
    points, language = _curve(curve), _lang(lang)

    def body() -> None:
        from geoplan.study.config import read_study_config

        if scheduler is not None or read_study_config(study).compute is not None:
            _run_partitioned(study, out, scheduler=scheduler, workers=workers,
                             memory_limit=memory_limit, lang=language)
        else:
            _run(study, out, curve=points, lang=language)

    _command(body)


@app.command()
def inspect(study: StudyArg, out: OutDir = Path("out"), lang: Lang = None) -> None:
    """Run only the boundary joint inspection (界线联检) of a study file."""
    language = _lang(lang)
    _command(lambda: _run(study, out, only=("boundary",), lang=language))


@app.command()
def validate(study: StudyArg) -> None:
    """Check a study as a run would (study file, layers, each step's needs); write nothing."""

    def body() -> None:
        _, plan = _prepare(study)
        _report_plan(plan)
        _say("校验通过 valid")

    _command(body)


if __name__ == "__main__":  # pragma: no cover
    app()
