# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup ids, their classes and the retention rule (pure functions).

An id is the UTC start time of a backup (``ID_FORMAT``); every backup is a daily one, the first of an ISO week
also a weekly one and the first of a month also a monthly one.
"""

from __future__ import annotations

import datetime as dt

from ragops_tools.base import CLASSES, ID_FORMAT, BackupError


def new_id(now: dt.datetime, round_to_minute: bool = False) -> str:
    """The id of a backup started at ``now`` (UTC). Scheduled runs round to the minute, so that the hosts of
    one topology, started by the same timer, write their tiers into the same backup directory."""
    now = now.astimezone(dt.timezone.utc)
    if round_to_minute:
        now = now.replace(second=0, microsecond=0)
    return now.strftime(ID_FORMAT)


def parse_id(name: str) -> dt.datetime | None:
    """The start time encoded in a backup id, None for a name that is not one."""
    try:
        return dt.datetime.strptime(name, ID_FORMAT).replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        return None


def promotions(backup_id: str, existing: dict) -> list[str]:
    """Classes besides daily a new backup also goes to: weekly when no backup of the same ISO week is there yet,
    monthly when none of the same month is. ``existing`` maps a class to the ids it holds (good ones)."""
    when = parse_id(backup_id)
    if when is None:
        raise BackupError("invalid backup id %r (rule: %s)" % (backup_id, ID_FORMAT))
    result = []
    weekly = [parse_id(i) for i in existing.get("weekly", ()) if i != backup_id]
    if not any(w and w.isocalendar()[:2] == when.isocalendar()[:2] for w in weekly):
        result.append("weekly")
    monthly = [parse_id(i) for i in existing.get("monthly", ()) if i != backup_id]
    if not any(m and (m.year, m.month) == (when.year, when.month) for m in monthly):
        result.append("monthly")
    return result


def retention_plan(entries: dict, keep: dict, now: dt.datetime, failed_keep_hours: float) -> list[tuple[str, str]]:
    """What to delete: [(class, id)].

    ``entries`` maps a class to {id: good}, where good means at least one tier of the backup finished. Per class
    the newest ``keep[class]`` good backups stay and older good ones go; a backup without any finished tier goes
    once it is older than ``failed_keep_hours`` (younger, it may still be running). Names that are not backup
    ids are never touched.
    """
    doomed = []
    for cls in CLASSES:
        found = entries.get(cls, {})
        good = sorted((i for i, ok in found.items() if ok and parse_id(i)), reverse=True)
        doomed += [(cls, i) for i in good[max(int(keep.get(cls, 0)), 0):]]
        limit = now - dt.timedelta(hours=failed_keep_hours)
        doomed += [(cls, i) for i, ok in sorted(found.items())
                   if not ok and parse_id(i) and parse_id(i) < limit]
    return sorted(doomed)
