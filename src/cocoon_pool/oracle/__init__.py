"""The metrics oracle: polls each member's Cocoon worker, turns the samples into the four
epoch metrics the pool pays by, and stores ed25519-signed reports that anyone can relay.

See ``docs/oracle.md`` for the configuration, the exact metric definitions and a worked
example.
"""

from __future__ import annotations

from cocoon_pool.oracle.config import MemberConfig, OracleConfig, load_config, parse_config
from cocoon_pool.oracle.errors import OracleConfigError, OracleDatabaseError, OracleReportError
from cocoon_pool.oracle.metrics import EpochResult, EpochWindow, Observation, Scoring, epoch_metrics
from cocoon_pool.oracle.poller import PollVerdict, judge_poll
from cocoon_pool.oracle.service import Oracle, PollRecord, RunSummary, StopFlag, stop_on_signals

__all__ = [
    "EpochResult",
    "EpochWindow",
    "MemberConfig",
    "Observation",
    "Oracle",
    "OracleConfig",
    "OracleConfigError",
    "OracleDatabaseError",
    "OracleReportError",
    "PollRecord",
    "PollVerdict",
    "RunSummary",
    "Scoring",
    "StopFlag",
    "epoch_metrics",
    "judge_poll",
    "load_config",
    "parse_config",
    "stop_on_signals",
]
