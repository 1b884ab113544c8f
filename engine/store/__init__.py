"""The project database: one SQLite file, schema versioned by PRAGMA user_version.

``Store`` opens and migrates a database; the accessor modules (``runs``, ``traces``,
``items``) read and write typed rows. Everything a run produces lives here.
"""

from engine.store import items, runs, studies, traces
from engine.store.db import Store, from_json, now, to_json
from engine.store.schema import LATEST_VERSION
from engine.store.traces import StepIn

__all__ = ["LATEST_VERSION", "StepIn", "Store", "from_json", "items", "now", "runs", "studies",
           "to_json", "traces"]
