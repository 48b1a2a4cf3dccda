"""Issue 15 item 5: test names cannot escape or corrupt the store, and `latest` links are
only replaced when they are splitbrain's own links inside the store."""

import os
import subprocess
import sys

import pytest

from splitbrain.harness.errors import InputError
from splitbrain.harness.store import new_run_dir, update_latest, validate_test_name

BAD = ["..", ".", "latest", "", "a/b", "../x", ".hidden", "x" * 101, "a b", "é", "a\x00b", 5,
       None]


@pytest.mark.parametrize("name", BAD)
def test_bad_names_refused(name, tmp_path):
    with pytest.raises(InputError, match="test name"):
        validate_test_name(name)
    with pytest.raises(InputError):
        new_run_dir(str(tmp_path / "store"), name)
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


@pytest.mark.parametrize("name", ["redis-replication-register", "a", "A.b_c-1", "x" * 100])
def test_good_names_accepted(name, tmp_path):
    d = new_run_dir(str(tmp_path / "store"), name)
    assert os.path.dirname(d) == str(tmp_path / "store" / name)


def test_user_latest_file_is_never_replaced(tmp_path):
    store = tmp_path / "store"
    d = new_run_dir(str(store), "t")
    (store / "latest").write_text("mine")            # a user's file where our link would go
    os.symlink("/etc", store / "t" / "latest")        # a foreign symlink
    update_latest(d)
    assert (store / "latest").read_text() == "mine"
    assert os.readlink(store / "t" / "latest") == "/etc"
    os.unlink(store / "latest")
    os.unlink(store / "t" / "latest")
    update_latest(d)                                   # our links are made and replaced
    d2 = new_run_dir(str(store), "t")
    update_latest(d2)
    assert os.path.realpath(store / "latest") == os.path.realpath(d2)
    assert os.readlink(store / "t" / "latest") == os.path.basename(d2)


@pytest.mark.parametrize("name", ["..", "latest", "x" * 300])
def test_run_cli_refuses_bad_name_before_creating_anything(tmp_path, name):
    store = tmp_path / "store"
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--name", name, "--store",
                        str(store), "--time-limit", "1"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 254, r.stderr
    assert ("test name" in r.stderr or "--name" in r.stderr) and "Traceback" not in r.stderr
    assert not store.exists()
    assert not (tmp_path / "latest").exists()
