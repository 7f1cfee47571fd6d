"""Planar geometry on longitude/latitude for item search: GeoJSON validation, bounds,
intersection tests and bounding boxes crossing the antimeridian.

Geometries are GeoJSON objects (RFC 7946) read as plane figures in degrees, as the STAC API's
``bbox`` and ``intersects`` are; a bbox with ``east < west`` crosses the antimeridian and is
split there. Invalid input raises :class:`InputError` naming the parameter.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import InputError

Geometry = Mapping[str, Any]
"""A GeoJSON geometry object."""
Point = tuple[float, float]
BBox = tuple[float, float, float, float]
"""West, south, east, north in degrees (``east < west``: crosses the antimeridian)."""


def split_antimeridian(bbox: BBox) -> list[BBox]:
    """``bbox`` as one box, or two (east and west of 180 degrees) when it crosses the
    antimeridian."""
    west, south, east, north = bbox
    if west <= east:
        return [bbox]
    return [(west, south, 180.0, north), (-180.0, south, east, north)]


def bbox_geometry(bbox: BBox) -> dict[str, Any]:
    """The bounding box as a GeoJSON (Multi)Polygon, split at the antimeridian when it crosses."""
    polygons = [
        [[[w, s], [e, s], [e, n], [w, n], [w, s]]] for w, s, e, n in split_antimeridian(bbox)
    ]
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def parse_bbox(value: Any) -> BBox:
    """West, south, east, north of a 4- or 6-number bbox (``east < west``: antimeridian).

    ``value`` is a JSON array of numbers, or the strings of a GET parameter split at commas.
    """
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        try:
            value = [float(v) for v in value]
        except ValueError as err:
            raise InputError(f"{','.join(value)[:80]!r} are not numbers", path="bbox") from err
    if (
        not isinstance(value, list)
        or len(value) not in (4, 6)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise InputError("must be 4 or 6 numbers", path="bbox")
    half = len(value) // 2
    west, south, east, north = value[0], value[1], value[half], value[half + 1]
    if not (-90 <= south <= north <= 90 and -180 <= west <= 180 and -180 <= east <= 180):
        raise InputError(
            "longitudes must lie in [-180, 180] and latitudes in [-90, 90], south <= north",
            path="bbox",
        )
    return float(west), float(south), float(east), float(north)


def check_geometry(geometry: Any, where: str) -> None:
    """Raise InputError naming ``where`` unless ``geometry`` is a valid GeoJSON geometry."""
    try:
        geometry_bounds(geometry)
    except InputError as err:
        raise InputError(str(err), path=where) from err


def geometry_bounds(geometry: Geometry) -> BBox:
    """West, south, east, north of ``geometry``; InputError if it is not a valid GeoJSON one."""
    points = [p for part in _Shape.of(geometry).all_points() for p in part]
    if not points:
        raise InputError("geometry has no coordinates", path="geometry")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def intersects(a: Geometry, b: Geometry) -> bool:
    """Whether two GeoJSON geometries share a point (planar, boundaries included).

    They do when an edge of one meets an edge of the other, or a point of one lies in the other
    (on a point, on a line, inside a polygon but not inside one of its holes); a part wholly
    inside the other geometry is caught by testing one of its vertices.
    """
    first, second = _Shape.of(a), _Shape.of(b)
    if not _boxes_overlap(first.bounds(), second.bounds()):
        return False
    if any(_segments_meet(s, t) for s in first.segments for t in second.segments):
        return True
    return first.touches_points_of(second) or second.touches_points_of(first)


@dataclass(frozen=True, slots=True)
class _Shape:
    """A geometry as points, edges and polygons (rings, exterior first)."""

    points: list[Point]
    lines: list[list[Point]]
    polygons: list[list[list[Point]]]

    @property
    def segments(self) -> list[tuple[Point, Point]]:
        paths = self.lines + [ring for polygon in self.polygons for ring in polygon]
        return [(p, q) for path in paths for p, q in itertools.pairwise(path)]

    def all_points(self) -> Iterable[list[Point]]:
        yield self.points
        yield from self.lines
        yield from (ring for polygon in self.polygons for ring in polygon)

    def bounds(self) -> BBox:
        points = [p for part in self.all_points() for p in part]
        if not points:
            return (math.inf, math.inf, -math.inf, -math.inf)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return min(xs), min(ys), max(xs), max(ys)

    def covers(self, point: Point) -> bool:
        """``point`` is one of the points, on an edge, or inside a polygon."""
        if point in self.points or any(_on_segment(point, s) for s in self.segments):
            return True
        return any(
            _in_ring(point, polygon[0]) and not any(_in_ring(point, h) for h in polygon[1:])
            for polygon in self.polygons
        )

    def touches_points_of(self, other: _Shape) -> bool:
        """A point of ``other``, or a vertex of each of its lines and polygons, lies in this."""
        probes = other.points + [line[0] for line in other.lines]
        probes += [polygon[0][0] for polygon in other.polygons]
        return any(self.covers(p) for p in probes)

    @classmethod
    def of(cls, geometry: Geometry) -> _Shape:
        shape = cls([], [], [])
        shape._add(geometry)
        return shape

    def _add(self, geometry: Any) -> None:
        if not isinstance(geometry, Mapping):
            raise InputError("geometry is not a JSON object", path="geometry")
        kind, coords = geometry.get("type"), geometry.get("coordinates")
        if kind == "GeometryCollection":
            members = geometry.get("geometries")
            if not isinstance(members, list):
                raise InputError("GeometryCollection without geometries", path="geometry")
            for member in members:
                self._add(member)
        elif kind == "Point":
            self.points.append(_position(coords))
        elif kind == "MultiPoint":
            self.points.extend(_positions(coords, 1))
        elif kind == "LineString":
            self.lines.append(_positions(coords, 2))
        elif kind == "MultiLineString":
            self.lines.extend(_positions(line, 2) for line in _array(coords))
        elif kind == "Polygon":
            self.polygons.append(_polygon(coords))
        elif kind == "MultiPolygon":
            self.polygons.extend(_polygon(polygon) for polygon in _array(coords))
        else:
            raise InputError(f"unknown geometry type {str(kind)[:40]!r}", path="geometry")


def _array(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise InputError("geometry coordinates are not an array", path="geometry")
    return value


def _position(value: Any) -> Point:
    if (
        not isinstance(value, list)
        or len(value) not in (2, 3)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
    ):
        raise InputError(f"invalid position {str(value)[:60]}", path="geometry")
    return float(value[0]), float(value[1])


def _positions(value: Any, at_least: int) -> list[Point]:
    points = [_position(v) for v in _array(value)]
    if len(points) < at_least:
        raise InputError(f"fewer than {at_least} positions", path="geometry")
    return points


def _polygon(value: Any) -> list[list[Point]]:
    rings = [_positions(ring, 3) for ring in _array(value)]
    if not rings:
        raise InputError("polygon without rings", path="geometry")
    return [ring if ring[0] == ring[-1] else [*ring, ring[0]] for ring in rings]


def _boxes_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _orientation(p: Point, q: Point, r: Point) -> int:
    cross = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    return (cross > 0) - (cross < 0)


def _on_segment(p: Point, segment: tuple[Point, Point]) -> bool:
    a, b = segment
    return (
        _orientation(a, b, p) == 0
        and min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
        and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])
    )


def _segments_meet(s: tuple[Point, Point], t: tuple[Point, Point]) -> bool:
    (a, b), (c, d) = s, t
    o1, o2, o3, o4 = (
        _orientation(a, b, c),
        _orientation(a, b, d),
        _orientation(c, d, a),
        _orientation(c, d, b),
    )
    if o1 != o2 and o3 != o4 and 0 not in (o1, o2, o3, o4):
        return True
    return _on_segment(c, s) or _on_segment(d, s) or _on_segment(a, t) or _on_segment(b, t)


def _in_ring(point: Point, ring: list[Point]) -> bool:
    """Even-odd rule; points on the ring are handled by the edge tests."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside
