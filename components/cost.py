"""What the stack's nodes cost, and the spend cap that lets them run.

A DataSphere node bills every second of every instance, from its start to its deletion, whether it
serves or not, at its configuration's units a second (components/platform.py has the table, the unit
price and their sources; docs/configurations.md says the same for people). The project's
`maxUnitsPerHour` is a limit on units *an hour*: a configuration
whose hourly price is above it does not start, and when the project's consumption in the hour passes it,
DataSphere stops every running computation of the project (datasphere/concepts/budget). So a cap below
what the stack's own nodes use in an hour would stop them, and one below what an update uses would stop
them during the update: a rollout brings a new node up beside each old one before the old one goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from components import platform

SECONDS_PER_HOUR = 3600
# A rollout replaces every node whose image changed, each new one beside its old one until it serves.
ROLLOUT_FACTOR = 2


@dataclass(frozen=True)
class Rate:
    """Units a second, and what they come to an hour and a month."""

    units_per_second: int

    @property
    def units_per_hour(self) -> int:
        return self.units_per_second * SECONDS_PER_HOUR

    @property
    def rub_per_hour(self) -> float:
        return round(self.units_per_hour * platform.RUB_PER_UNIT, 2)

    @property
    def rub_per_month(self) -> float:
        return round(self.units_per_hour * platform.HOURS_PER_MONTH * platform.RUB_PER_UNIT, 2)

    def as_output(self) -> dict[str, float]:
        return {"unitsPerSecond": self.units_per_second, "unitsPerHour": self.units_per_hour,
                "rubPerHour": self.rub_per_hour, "rubPerMonth": self.rub_per_month}

    def __str__(self) -> str:
        return (f"{self.units_per_second} units/s = {self.units_per_hour:,} units/h, "
                f"{self.rub_per_hour:,.2f} RUB/h, {self.rub_per_month:,.0f} RUB/month")


def configuration_rate(configuration: platform.Configuration, instances: int = 1) -> Rate:
    return Rate(configuration.units_per_second * instances)


@dataclass(frozen=True)
class NodeCost:
    """One model's node: its configuration and instances."""

    model: str
    configuration: platform.Configuration
    instances: int

    @property
    def rate(self) -> Rate:
        return configuration_rate(self.configuration, self.instances)

    def as_output(self) -> dict[str, object]:
        return {"instanceSpec": self.configuration.name, "instances": self.instances, **self.rate.as_output()}


@dataclass(frozen=True)
class StackCost:
    nodes: tuple[NodeCost, ...]

    @property
    def rate(self) -> Rate:
        return Rate(sum(node.rate.units_per_second for node in self.nodes))

    @property
    def rollout_units_per_hour(self) -> int:
        """The most an update uses in an hour: every node running beside its replacement."""
        return self.rate.units_per_hour * ROLLOUT_FACTOR

    def as_output(self) -> dict[str, object]:
        return {**self.rate.as_output(), "models": {node.model: node.as_output() for node in self.nodes}}

    def summary(self, labelled: bool) -> str:
        """The preview's one `cost` line; `labelled` names each model (the `models` form)."""
        parts = [f"{'[' + node.model + '] ' if labelled else ''}{node.instances} x {node.configuration.name} "
                 f"{node.rate.rub_per_hour:,.2f} RUB/h" for node in self.nodes]
        return (f"cost: {'; '.join(parts)}; in all {self.rate} (720 h; "
                f"{platform.RUB_PER_UNIT} RUB a unit with VAT, billed per second from each instance's "
                "start to its deletion, serving or not)")


def stack_cost(nodes: Iterable[tuple[str, platform.Configuration, int]]) -> StackCost:
    return StackCost(tuple(NodeCost(model, configuration, count) for model, configuration, count in nodes))


def spend_cap_message(cap: int, cost: StackCost) -> str | None:
    """Why `maxUnitsPerHour` would stop the stack's own nodes, with the value to set; None when it fits.

    0 means no cap. Said at preview, by the project-settings provider's check and by the policy pack."""
    needed = cost.rollout_units_per_hour
    if cap == 0 or cap >= needed:
        return None
    steady = cost.rate.units_per_hour
    return (f"is below what this stack's nodes use: {steady:,} units an hour while they run "
            f"({cost.rate.units_per_second} units a second), and {needed:,} during an update, which starts "
            "each new node beside the old one; DataSphere stops every computation of the project once its "
            f"hourly consumption passes the cap. Fix: pulumi config set maxUnitsPerHour {needed} (add what "
            "notebooks in the project use, e.g. 14400 for a c1.4), or pulumi config set maxUnitsPerHour 0 "
            "for no cap")
