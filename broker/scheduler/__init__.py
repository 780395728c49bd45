"""The scheduler: which waiting job each Celery queue gets next (priority with a starvation
bound, weighted fair shares between tenants, earliest deadline first)."""

from broker.scheduler.dispatcher import Dispatcher
from broker.scheduler.holds import HeldJobs
from broker.scheduler.picking import LEVELS, Pick, PickPolicy, QueueSnapshot, plan_picks
from broker.scheduler.state import SchedulerState, WaitingCount

__all__ = [
    "LEVELS",
    "Dispatcher",
    "HeldJobs",
    "Pick",
    "PickPolicy",
    "QueueSnapshot",
    "SchedulerState",
    "WaitingCount",
    "plan_picks",
]
