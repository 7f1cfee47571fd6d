"""Fan-out of one tile across function invocations: strip groups and the messages that carry them.

A tile whose strips (:func:`core.io.block_reader.strip_windows`, 11.52 km each) outnumber
``FAN_OUT_STRIPS`` is split: the processor plans it once (:func:`core.fanout.plan_tile`:
whole-tile classification and AOT / water-vapour retrieval, saved under the run's context
prefix), records the run's strip groups in the scene-state table (:mod:`handlers.scene_state`)
and queues one :class:`StripTask` per group on the strip queue; each strip invocation
(:mod:`handlers.strips`) corrects its strips into part files and counts its group done; the one
that completes the set queues the :class:`FanOutRun` on the assembly queue, whose function
(:mod:`handlers.assembly`) mosaics the parts and publishes the scene as the processor would.

Everything a run writes lives under the scene's staging prefix, expired by the bucket's
lifecycle rule if the run dies: ``staging/<scene>/<run>/`` (the product, published as is),
``staging/<scene>/<run>.context/`` (the plan) and ``staging/<scene>/<run>.parts/`` (the parts).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from core.errors import InputError
from core.fanout import TilePlan
from handlers.events import l1c_arrival_name
from handlers.settings import staging_uri

RUN_ID: Final = re.compile(r"^[A-Za-z0-9-]{1,64}$")
"""A run id is the invocation's request id (a UUID): safe as a key segment."""


def strip_groups(strip_count: int, strips_per_task: int) -> tuple[range, ...]:
    """Consecutive groups of at most ``strips_per_task`` strips covering ``strip_count``."""
    return tuple(
        range(start, min(start + strips_per_task, strip_count))
        for start in range(0, strip_count, strips_per_task)
    )


def context_uri(staging_root: str, run_id: str) -> str:
    """Where run ``run_id`` saves the tile plan (``staging_root``: the scene's staging prefix,
    :func:`handlers.settings.staging_uri`)."""
    return f"{staging_root}{run_id}.context/"


def parts_uri(staging_root: str, run_id: str) -> str:
    """Where the strip invocations of run ``run_id`` write their part files."""
    return f"{staging_root}{run_id}.parts/"


@dataclass(frozen=True, slots=True)
class FanOutRun:
    """One fan-out of a scene: the tile plan, its strip groups and where the parts go.

    It is the assembly-queue message; a strip-queue message adds the group
    (:class:`StripTask`).
    """

    scene_id: str
    version: str
    run_id: str
    plan: TilePlan
    groups: tuple[range, ...]
    parts_uri: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "scene_id": self.scene_id,
            "version": self.version,
            "run_id": self.run_id,
            "plan": self.plan.to_json(),
            "groups": [[g.start, g.stop] for g in self.groups],
            "parts_uri": self.parts_uri,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, doc: Any, *, source: str, output_bucket: str) -> FanOutRun:
        """Parse and check a run; its context and parts must lie under the run's staging
        prefixes in ``output_bucket``.

        Raises
        ------
        InputError
            A field is missing, of the wrong type or out of place (``source`` names the message).
        """
        fields = {"scene_id", "version", "run_id", "plan", "groups", "parts_uri"}
        if not isinstance(doc, dict) or set(doc) != fields:
            raise InputError(
                f"fan-out message must have exactly the fields {sorted(fields)}", path=source
            )
        scene_id, run_id = doc["scene_id"], doc["run_id"]
        if not isinstance(scene_id, str) or l1c_arrival_name(scene_id) is None:
            raise InputError("scene_id is not a Level-1C scene id", path=source)
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            raise InputError("run_id is not a request id", path=source)
        if not isinstance(doc["version"], str) or not doc["version"]:
            raise InputError("version is not a non-empty string", path=source)
        try:
            plan = TilePlan.from_json(doc["plan"])
            groups = tuple(range(int(start), int(stop)) for start, stop in doc["groups"])
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"malformed plan or groups: {err}", path=source) from err
        root = staging_uri(output_bucket, scene_id)
        expected = (context_uri(root, run_id), parts_uri(root, run_id))
        if (plan.context_uri, doc["parts_uri"]) != expected:
            raise InputError("context or parts are not under the run's staging prefix", path=source)
        covered = [strip for group in groups for strip in group]
        if not groups or covered != list(range(plan.strip_count)):
            raise InputError(f"groups do not cover the {plan.strip_count} strips once", path=source)
        return cls(scene_id, doc["version"], run_id, plan, groups, doc["parts_uri"])

    @classmethod
    def from_json(cls, body: str, *, source: str, output_bucket: str) -> FanOutRun:
        """:meth:`from_dict` of a JSON body."""
        return cls.from_dict(_json(body, source), source=source, output_bucket=output_bucket)


@dataclass(frozen=True, slots=True)
class StripTask:
    """The strip-queue message: group ``group`` of ``run``."""

    run: FanOutRun
    group: int

    @property
    def strips(self) -> range:
        return self.run.groups[self.group]

    def to_json(self) -> str:
        return json.dumps({"run": self.run.to_dict(), "group": self.group}, sort_keys=True)

    @classmethod
    def from_json(cls, body: str, *, source: str, output_bucket: str) -> StripTask:
        """Parse and check a strip task (see :meth:`FanOutRun.from_dict`)."""
        doc = _json(body, source)
        if not isinstance(doc, dict) or set(doc) != {"run", "group"}:
            raise InputError(
                "strip message must have exactly the fields run and group", path=source
            )
        run = FanOutRun.from_dict(doc["run"], source=source, output_bucket=output_bucket)
        group = doc["group"]
        if not isinstance(group, int) or not 0 <= group < len(run.groups):
            raise InputError(f"group {group!r} is not one of the run's groups", path=source)
        return cls(run, group)


def _json(body: str, source: str) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as err:
        raise InputError(f"not JSON: {err.msg}", path=source) from err
