"""etcd as a datastore (Debian's `etcd-server` 3.4), through the v3 JSON gateway.

One package, registered in harness.runner (`_make_db`) and harness.config (`--db etcd`,
`--read-mode`):

* `config.py`  — EtcdOptions, the member's argv, what `--db etcd` accepts (clock: no);
* `gateway.py` — one HTTP/1.1 connection whose errors say when they happened;
* `client.py`  — register / cas-register ops and the fail/info mapping;
* `db.py`      — EtcdDB: setup, start, kill, pause, resume, teardown, readiness, leader.
"""

from harness.dbs.etcd.config import READ_MODES, EtcdOptions
from harness.dbs.etcd.db import EtcdDB

__all__ = ["EtcdDB", "EtcdOptions", "READ_MODES"]
