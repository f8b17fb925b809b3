"""Subscription topics and athena's change feeds, as data (``mappings/events/*.yaml``).

On R4 a topic is only a canonical URL (Subscriptions Backport IG 1.1.0, "Subscription
Topics in R4"); the facade keeps each topic's definition here, in the spirit of an R5
``SubscriptionTopic.resourceTrigger``: the focus resource type, the interactions
(``create``, ``update``, ``delete``) and conditions on the resource before
(``previous``) and after (``current``) the change. A topic is advertised in
``/metadata`` and accepted in ``Subscription.criteria`` only when its resource has a
mapping table (so a Coverage topic waits for the Coverage table).

>>> t = Topic(name="x", url="u", title="t", resource="Appointment", actions=["update"],
...           current={"status": ["cancelled"]}, previous={"not": {"status": ["cancelled"]}})
>>> t.triggered("update", {"status": "booked"}, {"status": "cancelled"})
True
>>> t.triggered("update", {"status": "cancelled"}, {"status": "cancelled"})
False
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from facade.mapping.loader import Mappings
from facade.mapping.paths import get_values, parse_path

Json = dict[str, Any]


def _values(resource: Json, path: str) -> list[str]:
    found = get_values(resource, parse_path(path))
    return [str(v.get("reference")) if isinstance(v, dict) else str(v) for v in found]


def holds(conditions: Json, resource: Json) -> bool:
    """Every ``{path: [values]}`` holds (any value); ``not:`` holds when its block does not."""
    for path, wanted in conditions.items():
        if path == "not":
            if holds(wanted, resource):
                return False
            continue
        if not set(_values(resource, path)) & {str(w) for w in wanted}:
            return False
    return True


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    url: str
    title: str
    resource: str
    actions: list[str] = Field(min_length=1)
    current: Json = Field(default_factory=dict)
    previous: Json = Field(default_factory=dict)
    changed: list[str] = Field(default_factory=list)  # elements that must differ
    context: list[str] = Field(default_factory=list)  # additional-context reference paths

    def triggered(self, action: str, previous: Json | None, current: Json | None) -> bool:
        if action not in self.actions:
            return False
        if action == "delete":
            return current is None
        if current is None or not holds(self.current, current):
            return False
        if previous is not None and self.previous and not holds(self.previous, previous):
            return False
        if self.changed and previous is not None:
            return any(_values(previous, p) != _values(current, p) for p in self.changed)
        return True


class FeedRecord(BaseModel):
    """A record one changed row names: ``type`` with its athena id in the row's ``id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    id: str
    action: str
    when: dict[str, list[str]] = Field(default_factory=dict)
    skip_when: dict[str, list[str]] = Field(default_factory=dict)

    def applies(self, row: Json) -> bool:
        if not row.get(self.id):
            return False
        if any(str(row.get(k)) in v for k, v in self.skip_when.items()):
            return False
        return all(str(row.get(k)) in v for k, v in self.when.items())


class Feed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    list_key: str
    records: list[FeedRecord] = Field(default_factory=list)


@dataclass(frozen=True)
class Catalog:
    topics: dict[str, Topic]  # by url
    feeds: dict[str, Feed]

    def by_resource(self, resource_type: str) -> list[Topic]:
        return [t for t in self.topics.values() if t.resource == resource_type]


def _read(item: Traversable) -> Any:
    return yaml.safe_load(item.read_text(encoding="utf-8")) or {}


def load_catalog(mappings: Mappings, root: Traversable | None = None) -> Catalog:
    """The topics whose resource has a table, and the feeds (records of known types only)."""
    root = root or resources.files("mappings") / "events"
    topics = [Topic.model_validate(t) for t in _read(root / "topics.yaml").get("topics", [])]
    names = [t.name for t in topics]
    if len(set(names)) != len(names) or len({t.url for t in topics}) != len(topics):
        raise ValueError("topics.yaml: topic names and urls must be unique")
    for topic in topics:
        bad = set(topic.actions) - {"create", "update", "delete"}
        if bad:
            raise ValueError(f"topic {topic.name}: unknown actions {sorted(bad)}")
    feeds = {
        name: Feed.model_validate(body)
        for name, body in (_read(root / "feeds.yaml").get("feeds") or {}).items()
    }
    return Catalog(
        topics={t.url: t for t in topics if mappings.table(t.resource) is not None},
        feeds={
            name: feed.model_copy(
                update={"records": [r for r in feed.records if mappings.table(r.type)]}
            )
            for name, feed in feeds.items()
        },
    )
