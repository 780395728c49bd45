"""The scheduler: which waiting job each Celery queue gets next (priority with a starvation
bound, weighted fair shares between tenants, earliest deadline first), and the jobs held back
until a cheaper price window (``deferred``)."""

from broker.scheduler.deferred import DeferredJobs
from broker.scheduler.dispatcher import Dispatcher
from broker.scheduler.holds import HeldJobs
from broker.scheduler.picking import LEVELS, Pick, PickPolicy, QueueSnapshot, plan_picks
from broker.scheduler.state import SchedulerState, WaitingCount

__all__ = [
    "LEVELS",
    "DeferredJobs",
    "Dispatcher",
    "HeldJobs",
    "Pick",
    "PickPolicy",
    "QueueSnapshot",
    "SchedulerState",
    "WaitingCount",
    "plan_picks",
]
