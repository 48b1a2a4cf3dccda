"""The typed settings schema (issue 15.8): every setting checked before anything is made.

Flags, TOML and the Python API go through the same `build_test`; a wrong type, a NaN or
an infinity, a too-long name, an over-wide subnet or an unknown checker is one sentence
(InputError, exit 254) — never a crash after the run, never a silent coercion.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from splitbrain.harness.config import FIELD_NAMES, build_test
from splitbrain.harness.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("flags, needle", [
    ({"quiesce": math.nan}, "--quiesce: expected a finite number"),
    ({"quiesce": math.inf}, "--quiesce: expected a finite number"),
    ({"nemesis_interval": math.inf}, "--nemesis-interval: expected a finite number"),
    ({"nemesis_interval": math.nan}, "--nemesis-interval: expected a finite number"),
    ({"rate": math.nan}, "--rate: expected a finite number"),
    ({"time_limit": math.inf}, "--time-limit: expected a finite number"),
    ({"store": 5}, "--store: expected a string"),
    ({"name": 5}, "--name: expected a string"),
    ({"seed": "x"}, "--seed: expected a whole number"),
    ({"concurrency": 1.5}, "--concurrency: expected a whole number"),
    ({"nodes": True}, "--nodes: expected a whole number"),
    ({"checkers": 5}, "--checkers: expected a list of strings"),
    ({"staleness_bound": 5}, "--staleness-bound: expected a string"),
    ({"nemesis_options": 5}, "--nemesis-options: expected a table"),
    ({"leave_db_running": "false"}, "--leave-db-running: expected true or false"),
    ({"name": "x" * 300}, "--name: 1 to 100 characters"),
    ({"subnet": "10.0.0.0/8"}, "/24 to /28"),
    ({"subnet": "192.168.0.0/30"}, "/24 to /28"),
    ({"subnet": "127.0.0.0/24"}, "private IPv4 range inside 10.0.0.0/8"),
    ({"subnet": "100.64.0.0/24"}, "private IPv4 range inside"),
    ({"checkers": "bogus"}, "unknown checker 'bogus'"),
    ({"checkers": ["integrity", "nope"]}, "unknown checker 'nope'"),
    ({"time_limit": 8, "nemesis_interval": 10}, "does not fit in --time-limit 8"),
    ({"time_limit": 5, "nemesis_interval": 5}, "does not fit"),
])
def test_bad_settings_are_one_sentence(flags, needle):
    with pytest.raises(InputError) as e:
        build_test(flags)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_good_edges_pass():
    assert build_test({"subnet": "10.1.2.0/24"}).subnet == "10.1.2.0/24"
    assert build_test({"subnet": "192.168.7.16/28", "nodes": 3}).subnet == "192.168.7.16/28"
    assert build_test({"leave_db_running": False}).leave_db_running is False
    assert build_test({"name": "n" * 100}).name == "n" * 100
    assert build_test({"checkers": "integrity, staleness"}).checkers == ("integrity", "staleness")


def test_default_interval_shrinks_to_fit_with_a_notice():
    t = build_test({"time_limit": 8})
    assert t.nemesis_interval == 4.0
    assert t.notices and "does not fit in --time-limit 8: using 4 s" in t.notices[0]
    assert t.to_json()["notices"] == list(t.notices)
    # no nemesis, or an interval that fits: nothing changes
    assert build_test({"time_limit": 8, "nemesis": "none"}).nemesis_interval == 10.0
    assert build_test({"time_limit": 30}).notices == ()


def test_toml_types_are_checked_like_flags(tmp_path):
    p = tmp_path / "run.toml"
    for text, needle in (('leave-db-running = "false"\n', "true or false"),
                         ("store = 5\n", "expected a string"),
                         ('quiesce = nan\n', "finite"),
                         ('nemesis-interval = inf\n', "finite"),
                         ("notices = []\n", "unknown setting 'notices'")):
        p.write_text(text)
        with pytest.raises(InputError, match=needle):
            build_test({}, str(p))
    p.write_bytes(b'name = "\xff\xfe"\n')
    with pytest.raises(InputError, match="not UTF-8|not valid TOML"):
        build_test({}, str(p))


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                    st.lists(st.text(max_size=5), max_size=3),
                    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(FIELD_NAMES)), _VALUES, max_size=4))
def test_any_settings_are_a_test_or_one_input_error(flags):
    """Hypothesis over the schema: nothing but a Test or one InputError comes out."""
    flags.pop("backend", None)  # ssh would read a nodes file; covered elsewhere
    flags.pop("nodes_file", None)
    try:
        t = build_test(flags)
    except InputError as e:
        assert str(e) and "\n" not in str(e)
        return
    for f in ("time_limit", "quiesce", "rate", "nemesis_interval"):
        assert math.isfinite(getattr(t, f))


def test_cli_rejects_bogus_checkers_before_anything_is_made(tmp_path):
    store = tmp_path / "store"
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--checkers", "bogus",
                        "--store", str(store)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=ROOT), cwd=str(tmp_path))
    assert r.returncode == 254, r.stdout + r.stderr
    assert "unknown checker 'bogus'" in r.stderr and "Traceback" not in r.stderr
    assert not store.exists()


def test_datastore_options_by_name_and_by_alias(tmp_path):
    t = build_test({"db": "cassandra", "db_options": ["read_consistency=ONE", "timestamps=client"]})
    assert t.db_settings.read_consistency == "ONE" and t.db_settings.timestamps == "client"
    assert t.test_name == "cassandra-one-quorum-register"
    # the long-standing flags are aliases of the same options
    t = build_test({"db": "cassandra", "read_consistency": "ALL", "cassandra_version": "5.0.2"})
    assert t.db_settings.read_consistency == "ALL" and t.db_settings.version == "5.0.2"
    p = tmp_path / "run.toml"
    p.write_text('db = "redis"\n[db-options]\ntopology = "sentinel"\n')
    assert build_test({}, str(p)).test_name == "redis-sentinel-register"
    with pytest.raises(InputError, match="--db-opt nope: redis has no such option"):
        build_test({"db_options": ["nope=1"]})
    with pytest.raises(InputError, match="expected key=value"):
        build_test({"db_options": ["topology"]})
    with pytest.raises(InputError, match="--read-consistency 'MAYBE': allowed"):
        build_test({"db": "cassandra", "db_options": ["read_consistency=MAYBE"]})


def test_a_fault_the_datastore_cannot_take_is_refused_before_the_run(monkeypatch):
    from splitbrain.harness.dbs.base import DatastoreSpec

    assert build_test({"nemesis": "pause"}).nemesis == "pause"  # Redis is Pausable
    monkeypatch.setattr(DatastoreSpec, "capabilities", lambda self: ())  # a store that is not
    with pytest.raises(InputError, match="the pause fault needs a datastore that is Pausable"):
        build_test({"nemesis": "pause"})


@pytest.mark.parametrize("opts, needle", [
    ({"partition": {"shapes": ["n1>n9"]}}, "unknown node(s) n9"),
    ({"partition": {"shapes": "majority"}}, "a non-empty list"),
    ({"clock": {"max_bump_ms": "big"}}, "clock.max_bump_ms: a positive finite number"),
    ({"clock": {"max_drift": math.inf}}, "clock.max_drift: a positive finite number"),
    ({"kill": {"targets": 5}}, "kill.targets: a list"),
    ({"kill": {"targets": "everyone"}}, "'everyone' is not one of"),
])
def test_nemesis_options_that_would_fail_every_fault_are_refused(opts, needle):
    fam = next(iter(opts))
    with pytest.raises(InputError) as e:
        build_test({"nemesis": fam, "nemesis_options": opts})
    assert needle in str(e.value)
