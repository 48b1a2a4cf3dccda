"""`splitbrain serve`: a real ThreadingHTTPServer on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

import http.client
import io
import os
import threading
import zipfile

import pytest

from splitbrain.reports.outputs import write_outputs
from splitbrain.reports.serve import make_server


@pytest.fixture
def store(tmp_path, sample):
    hist, results = sample
    root = tmp_path / "sbstore"
    older = root / "redis-register" / "20250101T100000"
    newer = root / "redis-register" / "20250102T090000"
    other = root / "cass-set" / "20250101T120000"
    write_outputs(str(older), results, history=hist, test={"name": "redis-register"})
    (newer / "nodes" / "n1").mkdir(parents=True)
    (newer / "nodes" / "n1" / "redis.log").write_text("ready to accept connections\n")
    ok = {"valid": True, "workload": "set", "checkers": {"lost-updates": {"valid": True, "anomaly_count": 0, "anomalies": [], "stats": {}}}, "stats": {"ops": 10}}
    write_outputs(str(newer), ok, history=None, test=None)
    other.mkdir(parents=True)
    (other / "results.json").write_text('{"valid": "unknown", "checkers": {}}')
    os.symlink(newer, root / "redis-register" / "latest")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", newer / "escape.txt")  # a symlink out of the store
    os.symlink(tmp_path, root / "redis-register" / "outdir")
    return root


@pytest.fixture
def server(store):
    srv = make_server(str(store), "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, name="sb-serve-test", daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


def get(server, path: str) -> tuple[int, bytes, dict]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        conn.close()


def test_index_lists_runs_newest_first(server):
    status, body, headers = get(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    i_new, i_cass, i_old = (page.index(x) for x in ("20250102T090000", "20250101T120000", "20250101T100000"))
    assert i_new < i_cass < i_old
    assert page.count("<tr class=\"r-") == 3  # `latest` is a link, not a fourth run
    assert 'class="badge invalid"' in page and 'class="badge valid"' in page and 'class="badge unknown"' in page
    assert 'href="/redis-register/20250101T100000/report.html"' in page


def test_serves_reports_and_logs(server):
    status, body, _ = get(server, "/redis-register/20250101T100000/report.html")
    assert status == 200 and b"INVALID" in body
    status, body, _ = get(server, "/redis-register/latest/nodes/n1/redis.log")
    assert status == 200 and body == b"ready to accept connections\n"
    assert get(server, "/redis-register/20250101T100000/")[0] == 200
    assert get(server, "/redis-register/nope/report.html")[0] == 404


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/redis-register/../../secret.txt", "/%2e%2e/secret.txt",
    "/%2E%2E%2Fsecret.txt", "/redis-register/%2e%2e/%2e%2e/secret.txt",
    "/..%2fsecret.txt", "/redis-register/20250102T090000/escape.txt",
    "/redis-register/outdir/secret.txt", "//etc/passwd", "/%2fetc/passwd",
    "/redis-register/..%5c..%5csecret.txt", "/.hidden", "/zip/../secret.zip",
    "/zip/redis-register/outdir.zip",
])
def test_refuses_paths_outside_the_store(server, path):
    status, body, _ = get(server, path)
    assert status in (403, 404), (path, status)
    assert b"top secret" not in body


def test_double_encoding_is_not_decoded_twice(server):
    status, body, _ = get(server, "/%252e%252e/secret.txt")
    assert status == 404 and b"top secret" not in body


def test_zip_of_a_run(server):
    status, body, headers = get(server, "/zip/redis-register/20250102T090000.zip")
    assert status == 200 and headers["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert "20250102T090000/report.html" in names
    assert "20250102T090000/nodes/n1/redis.log" in names
    assert not any("escape" in n for n in names)  # the symlink out is left out
