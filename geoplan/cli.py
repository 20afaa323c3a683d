"""The ``geoplan`` command.

``geoplan demo`` runs the main job on the embedded Jinjiang demo study; ``geoplan run STUDY.toml``
runs it on a planner's own study; ``geoplan validate STUDY.toml`` only loads and validates.
Errors in the input end the command with exit code 2 and a readable list of every problem;
nothing already written is touched by a failed run.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from geoplan.errors import GeoplanError

__all__ = ["app"]

app = typer.Typer(
    name="geoplan",
    help="民政服务设施规划工具 — civil-affairs service-facility planning for Chinese cities.",
    no_args_is_help=True,
    add_completion=False,
)

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log each step's details.")]


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"错误 error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("pyogrio").setLevel(logging.WARNING)


def _load(path: Path):
    from geoplan.study import load_study

    started = time.perf_counter()
    with tqdm(total=1, desc="读取与校验 load and validate", leave=False,
              disable=None) as bar:
        study = load_study(path)
        bar.update()
    typer.echo(f"已读取 loaded {study.name}: {len(study.towns)} 镇街, "
               f"{len(study.villages)} 村社区, {len(study.facilities)} 设施, "
               f"{len(study.population):,} 人口格网 "
               f"(EPSG:{study.metric_epsg}, {time.perf_counter() - started:.1f} s)")
    return study


def _run(path: Path, out: Path) -> None:
    from geoplan.study.pipeline import STEP_NAMES, run_study

    study = _load(path)
    started = time.perf_counter()
    with tqdm(total=len(STEP_NAMES), desc="geoplan", unit="step", disable=None) as bar:
        first = True

        def step(name: str) -> None:
            nonlocal first
            if not first:
                bar.update()
            first = False
            bar.set_description(name)

        run = run_study(study, out, step=step)
        bar.update(bar.total - bar.n)
    typer.echo(f"完成 done in {time.perf_counter() - started:.0f} s; outputs in {out}:")
    for name, written in run.outputs.items():
        typer.echo(f"  {name:20s} {written}")


@app.command()
def demo(out: OutDir = Path("out/demo"), verbose: Verbose = False) -> None:
    """Run every analysis on the embedded Jinjiang (晋江市) demo study, offline."""
    from geoplan.datasets import demo_study_path

    _configure_logging(verbose)
    try:
        _run(demo_study_path(), out)
    except GeoplanError as exc:
        raise _fail(exc) from exc


@app.command()
def run(
    study: Annotated[Path, typer.Argument(help="The study file (TOML).")],
    out: OutDir = Path("out"),
    verbose: Verbose = False,
) -> None:
    """Run every analysis on a study described by a TOML file."""
    _configure_logging(verbose)
    try:
        _run(study, out)
    except GeoplanError as exc:
        raise _fail(exc) from exc


@app.command()
def validate(
    study: Annotated[Path, typer.Argument(help="The study file (TOML).")],
    verbose: Verbose = False,
) -> None:
    """Load and validate a study's layers; report every problem found."""
    _configure_logging(verbose)
    try:
        _load(study)
    except GeoplanError as exc:
        raise _fail(exc) from exc
    typer.echo("校验通过 valid")


if __name__ == "__main__":  # pragma: no cover
    app()
