"""Tapes for the history, resume and replay tests: SQLite files in the recorder's schema.

The schema is the one the recorder writes (README, "Your tape"); tests write rows themselves so
that they control exactly what the tape holds.
"""

import calendar
import json
import sqlite3
import time

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS frames (
  id      INTEGER PRIMARY KEY,
  channel TEXT    NOT NULL,
  epoch   TEXT    NOT NULL,
  seq     INTEGER NOT NULL,
  ts      INTEGER NOT NULL,
  payload TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS frames_seq ON frames(channel, epoch, seq);
CREATE INDEX IF NOT EXISTS frames_ts ON frames(channel, ts);
"""


def iso_ms(s):
    """'2026-12-03T09:00:00.123Z' -> ms since 1970."""
    base, frac = s[:19], s[20:23]
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 1000 + int(frac)


def ms_iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


class Tape:
    def __init__(self, path, epoch="0123456789abcdef"):
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', '1')")
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('epoch', ?)", (epoch,))
        self.db.commit()

    def add(self, channel, epoch, seq, ts_ms, payload):
        """One frame; payload is bytes (stored as TEXT, bytes exactly as given)."""
        self.db.execute("INSERT OR IGNORE INTO frames (channel, epoch, seq, ts, payload) "
                        "VALUES (?, ?, ?, ?, CAST(? AS TEXT))",
                        (channel, epoch, seq, ts_ms, payload))

    def add_envelopes(self, raws):
        """Rows for envelopes the relay sent (raw bytes), as the recorder would have written them."""
        from harness import raw_data
        for raw in raws:
            env = json.loads(raw)
            self.add(env["channel"], env["epoch"], env["seq"], iso_ms(env["timestamp"]), raw_data(raw))
        self.commit()

    def commit(self):
        self.db.commit()

    def close(self):
        self.db.commit()
        self.db.close()
