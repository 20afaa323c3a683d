"""The database peer: service areas with pgRouting's ``pgr_drivingDistance`` on PostGIS.

The network's edges are loaded into a table once (not timed: a database user has them
there already); then, as a database user would, each facility starts from its nearest
vertex (KNN ``<->`` on a vertex table), ``pgr_drivingDistance`` gives the reached vertices,
and the polygons are the union of the buffered edges whose both ends are reached.
Connection: libpq's environment (``PGSERVICE``/``PGSERVICEFILE``, ``PGHOST`` …), e.g. the
server ``make postgis`` starts.
"""

from __future__ import annotations

import numpy as np
import psycopg
import shapely


def load_network(conn: psycopg.Connection, network, schema: str = "bench") -> None:
    """Write the network's edges and vertices (with GiST indexes) into ``schema``."""
    srid = int(network.crs)
    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"CREATE TABLE {schema}.edges (id bigint PRIMARY KEY, source bigint, "
                 f"target bigint, cost double precision, reverse_cost double precision, "
                 f"geom geometry(LineString, {srid}))")
    conn.execute(f"CREATE TABLE {schema}.vertices (id bigint PRIMARY KEY, "
                 f"geom geometry(Point, {srid}))")
    edges = network.edges
    wkb = shapely.to_wkb(shapely.set_srid(network.edge_lines, srid), hex=True,
                         include_srid=True)
    with conn.cursor().copy(f"COPY {schema}.edges FROM STDIN") as copy:
        for row in zip(range(len(edges)), edges["u"].tolist(), edges["v"].tolist(),
                       edges["length_m"].tolist(), edges["length_m"].tolist(), wkb,
                       strict=True):
            copy.write_row(row)
    points = shapely.to_wkb(shapely.set_srid(shapely.points(network.node_xy), srid), hex=True,
                            include_srid=True)
    with conn.cursor().copy(f"COPY {schema}.vertices FROM STDIN") as copy:
        for row in zip(range(network.n_nodes), points, strict=True):
            copy.write_row(row)
    conn.execute(f"CREATE INDEX ON {schema}.edges USING gist (geom)")
    conn.execute(f"CREATE INDEX ON {schema}.vertices USING gist (geom)")
    conn.execute(f"ANALYZE {schema}.edges")
    conn.execute(f"ANALYZE {schema}.vertices")
    conn.commit()


def _facilities_cte(xy: np.ndarray, srid: int, schema: str) -> tuple[str, list]:
    values = ", ".join(["(%s, %s, %s)"] * len(xy))
    params = [v for i, (x, y) in enumerate(xy) for v in (i, float(x), float(y))]
    sql = (f"fac AS (SELECT f.i, nv.id AS vid FROM (VALUES {values}) AS f(i, x, y) "
           f"CROSS JOIN LATERAL (SELECT id FROM {schema}.vertices "
           f"ORDER BY geom <-> ST_SetSRID(ST_MakePoint(f.x, f.y), {srid}) LIMIT 1) nv)")
    return sql, params


def reached_vertices(conn, xy: np.ndarray, srid: int, max_m: float,
                     schema: str = "bench") -> int:
    """Run ``pgr_drivingDistance`` from each facility's nearest vertex; rows returned."""
    fac, params = _facilities_cte(xy, srid, schema)
    sql = (f"WITH {fac} SELECT count(*) FROM pgr_drivingDistance("
           f"'SELECT id, source, target, cost, reverse_cost FROM {schema}.edges', "
           f"(SELECT array_agg(DISTINCT vid) FROM fac), %s, directed => false)")
    return int(conn.execute(sql, [*params, float(max_m)]).fetchone()[0])


def service_areas(conn, xy: np.ndarray, srid: int, max_m: float, width_m: float = 25.0,
                  schema: str = "bench") -> list:
    """One polygon per facility start vertex: buffered edges with both ends reached."""
    fac, params = _facilities_cte(xy, srid, schema)
    sql = (f"WITH {fac}, dd AS (SELECT * FROM pgr_drivingDistance("
           f"'SELECT id, source, target, cost, reverse_cost FROM {schema}.edges', "
           f"(SELECT array_agg(DISTINCT vid) FROM fac), %s, directed => false)) "
           f"SELECT a.from_v, ST_AsBinary(ST_Union(ST_Buffer(e.geom, %s, 'quad_segs=4'))) "
           f"FROM dd a JOIN {schema}.edges e ON e.source = a.node "
           f"JOIN dd b ON b.from_v = a.from_v AND b.node = e.target "
           f"GROUP BY a.from_v ORDER BY a.from_v")
    rows = conn.execute(sql, [*params, float(max_m), float(width_m)]).fetchall()
    return [shapely.from_wkb(bytes(r[1])) for r in rows]
