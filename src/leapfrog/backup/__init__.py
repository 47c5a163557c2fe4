"""Backups that prove themselves: one engine, one driver per store (docs/backup.md)."""

from leapfrog.backup.control import RunAborted, RunControl
from leapfrog.backup.directory import DirectoryStorage
from leapfrog.backup.driver import BackupDriver, BackupError, Sink, Source, Store, Taken, Verified
from leapfrog.backup.drivers import driver_for, known_drivers
from leapfrog.backup.engine import BackupBusy, Engine, Limits
from leapfrog.backup.factory import open_storage
from leapfrog.backup.history import History, RunRecord
from leapfrog.backup.manifest import Manifest, ObjectEntry
from leapfrog.backup.retention import Plan, Policy, plan_prune
from leapfrog.backup.storage import Storage, StorageError

__all__ = [
    "BackupBusy",
    "BackupDriver",
    "BackupError",
    "DirectoryStorage",
    "Engine",
    "History",
    "Limits",
    "Manifest",
    "ObjectEntry",
    "Plan",
    "Policy",
    "RunAborted",
    "RunControl",
    "RunRecord",
    "Sink",
    "Source",
    "Storage",
    "StorageError",
    "Store",
    "Taken",
    "Verified",
    "driver_for",
    "known_drivers",
    "open_storage",
    "plan_prune",
]
