"""A small but complete study around 青阳/梅岭 (Jinjiang), every kind of input, as files.

Shared by the study, pipeline and CLI tests: :func:`build_study_files` writes the layers,
:data:`STUDY_TOML` names them (a standards study; tests add the sections they need).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import prcoords
import shapely

EPSG = 4549


def metric(lon: float, lat: float) -> tuple[float, float]:
    p = gpd.GeoSeries.from_xy([lon], [lat], crs=4490).to_crs(EPSG).iloc[0]
    return p.x, p.y


def write_population(path: Path) -> None:
    import rasterio
    from rasterio.transform import Affine

    x0, y0 = metric(118.54, 24.79)
    bands = np.zeros((4, 2, 3), dtype="float32")
    bands[0] = [[100, 0, 50], [30, 20, 0]]
    bands[1] = bands[0] / 2
    bands[2] = bands[0] / 10
    bands[3] = bands[0] / 50
    profile = {"driver": "GTiff", "width": 3, "height": 2, "count": 4, "dtype": "float32",
               "crs": f"EPSG:{EPSG}", "transform": Affine(100, 0, x0, 0, -100, y0)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        for i, name in enumerate(("pop", "households", "pop_60plus", "pop_80plus"), start=1):
            dst.set_band_description(i, name)


def build_study_files(folder: Path) -> None:
    """A small but complete study around 青阳/梅岭 (Jinjiang), every kind of input."""
    (folder / "boundaries").mkdir()
    (folder / "facilities").mkdir()
    area = shapely.box(118.50, 24.74, 118.60, 24.82)
    gpd.GeoDataFrame({"code": ["350582"], "name": ["晋江市(局部)"]}, geometry=[area],
                     crs=4490).to_file(folder / "boundaries" / "area.gpkg", layer="study_area")
    west = shapely.box(118.50, 24.74, 118.55, 24.82)
    east = shapely.box(118.55, 24.74, 118.60, 24.82)
    towns = gpd.GeoDataFrame({"code": ["350582001", "350582002"], "name": ["青阳街道", "梅岭街道"]},
                             geometry=[west, east], crs=4490)
    villages = gpd.GeoDataFrame(
        {"code": ["350582001001", "350582002001"], "name": ["青华社区", "梅峰社区"],
         "parent_code": ["350582001", "350582002"], "households": [500, 300]},
        geometry=[west, east], crs=4490)
    towns.to_file(folder / "boundaries" / "units.gpkg", layer="towns")
    villages.to_file(folder / "boundaries" / "units.gpkg", layer="villages")
    gpd.GeoDataFrame({"line_code": ["0001"], "left_code": ["350582001"],
                      "right_code": ["350582002"], "version": ["2021"]},
                     geometry=[shapely.LineString([(118.55, 24.74), (118.55, 24.82)])],
                     crs=4490).to_file(folder / "boundaries" / "lines.gpkg")
    gpd.GeoDataFrame({"project_id": ["P1"], "name": ["安置房"]},
                     geometry=[shapely.box(118.548, 24.78, 118.552, 24.782)],
                     crs=4490).to_file(folder / "boundaries" / "projects.gpkg")
    gpd.GeoDataFrame(
        {"facility_id": ["S1", "S2"], "type": ["居家养老服务站", "骨灰堂"],
         "name": ["青华站", "梅峰骨灰堂"],
         "niches_total": [None, 2000], "admin_code": ["350582001", "350582002"]},
        geometry=[shapely.Point(118.52, 24.78), shapely.Point(118.58, 24.79)], crs=4490,
    ).to_file(folder / "facilities" / "facilities.gpkg")
    gcj = prcoords.wgs_gcj(prcoords.Coords(24.785, 118.545))
    pd.DataFrame({"编号": ["C1"], "名称": ["青阳长者食堂"], "类型": ["长者食堂"],
                  "经度": [gcj.lon], "纬度": [gcj.lat], "餐位": ["80"]}).to_excel(
        folder / "facilities" / "canteens.xlsx", sheet_name="长者食堂", index=False)
    x, y = metric(118.55, 24.78)
    pd.DataFrame({"界桩编号": ["0001001A", "0001002A"], "界线编码": ["0001", "0001"],
                  "登记X(东)": [x, None], "登记Y(北)": [y, None],
                  "状况": ["完好", "丢失"]}).to_excel(
        folder / "boundaries" / "markers.xlsx", index=False)
    (folder / "boundaries" / "rounds.csv").write_text(
        "界线编码,联检轮次,联检日期,联检结论\n0001,第四轮,2021年6月30日,界线清晰\n",
        encoding="utf-8")
    write_population(folder / "pop.tif")
    # a walking network: 5 x 5 junctions, 200 m blocks, in the metric CRS
    x0, y0 = metric(118.53, 24.77)
    def street(i0: int, j0: int, i1: int, j1: int) -> shapely.LineString:
        return shapely.LineString([(x0 + 200 * i0, y0 + 200 * j0), (x0 + 200 * i1, y0 + 200 * j1)])

    streets = [street(i, j, i + 1, j) for i in range(4) for j in range(5)]
    streets += [street(j, i, j, i + 1) for i in range(4) for j in range(5)]
    gpd.GeoDataFrame(geometry=streets, crs=EPSG).to_file(folder / "streets.gpkg")


STUDY_TOML = """
[study]
name = "晋江市民政设施（测试）"
admin_code = "350582"
reference_date = 2025-12-31

[walking]
speed_m_per_min = 70
tiers_min = [5, 15]

[standards]
profile = "fujian"

[layers.study_area]
path = "boundaries/area.gpkg"
layer = "study_area"
coords = "cgcs2000"

[layers.towns]
path = "boundaries/units.gpkg"
layer = "towns"
coords = "cgcs2000"

[layers.villages]
path = "boundaries/units.gpkg"
layer = "villages"
coords = "cgcs2000"

[layers.facilities]
path = "facilities/facilities.gpkg"
coords = "cgcs2000"
synthetic = true

[layers.canteens]
kind = "facilities"
path = "facilities/canteens.xlsx"
sheet = "长者食堂"
coords = "gcj02"

[layers.population]
path = "pop.tif"
coords = "EPSG:4549"
source = "test grid"
year = 2020

[layers.boundary_lines]
path = "boundaries/lines.gpkg"
coords = "cgcs2000"

[layers.boundary_markers]
path = "boundaries/markers.xlsx"
coords = "EPSG:4549"

[layers.projects]
path = "boundaries/projects.gpkg"
coords = "wgs84"

[tables.inspection_rounds]
path = "boundaries/rounds.csv"

[network]
path = "streets.gpkg"
coords = "EPSG:4549"
"""


def build_grid_network(folder: Path, name: str = "grid.gpkg") -> Path:
    """Streets every 250 m over the whole study area, one segment per block side."""
    from itertools import pairwise

    (x0, y0), (x1, y1) = metric(118.50, 24.74), metric(118.60, 24.82)
    xs, ys = np.arange(x0, x1, 250.0), np.arange(y0, y1, 250.0)
    streets = [shapely.LineString([(x, a), (x, b)]) for x in xs for a, b in pairwise(ys)]
    streets += [shapely.LineString([(a, y), (b, y)]) for y in ys for a, b in pairwise(xs)]
    path = folder / name
    gpd.GeoDataFrame(geometry=streets, crs=EPSG).to_file(path)
    return path
