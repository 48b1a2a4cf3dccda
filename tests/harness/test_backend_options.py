"""`--backend-opt key=value`: a backend's settings by name (issue 16 item 3), aliases of
its own flags, refused with one sentence when the backend has no such option."""

from __future__ import annotations

import tomllib  # noqa: F401  (TOML parsing is load_toml's; imported to fail early on 3.10)

import pytest

from splitbrain.harness.config import build_test
from splitbrain.harness.errors import InputError


def test_docker_options_by_name_set_the_backend_settings():
    t = build_test({"backend": "docker", "backend_options": ("image=my/node:1",
                                                             "docker-host=unix:///x.sock")})
    assert t.image == "my/node:1" and t.docker_host == "unix:///x.sock"
    assert t.backend_options == {"image": "my/node:1", "docker_host": "unix:///x.sock"}


def test_ssh_options_take_their_types():
    t = build_test({"backend": "ssh", "backend_options": (
        "ssh-nodes=10.9.0.1,10.9.0.2,10.9.0.3", "ssh-insecure=true", "ssh-user=admin")})
    assert t.ssh_nodes == ("10.9.0.1", "10.9.0.2", "10.9.0.3") and t.nodes == 3
    assert t.ssh_insecure is True and t.ssh_user == "admin"


def test_an_option_of_another_backend_is_refused_naming_the_allowed_ones():
    with pytest.raises(InputError, match=r"not an option of the netns backend \(its options: none\)"):
        build_test({"backend": "netns", "backend_options": ("image=x",)})
    with pytest.raises(InputError, match=r"docker backend \(its options: image, docker-host\)"):
        build_test({"backend": "docker", "backend_options": ("ssh-user=x",)})


def test_contradicting_the_flag_is_an_error_and_agreeing_is_fine():
    with pytest.raises(InputError, match="contradicts --image"):
        build_test({"backend": "docker", "image": "a", "backend_options": ("image=b",)})
    assert build_test({"backend": "docker", "image": "a",
                       "backend_options": ("image=a",)}).image == "a"


def test_bad_values_and_shapes_are_clear_errors():
    with pytest.raises(InputError, match="expected key=value"):
        build_test({"backend": "docker", "backend_options": ("image",)})
    with pytest.raises(InputError, match="expected true or false"):
        build_test({"backend": "ssh", "backend_options": ("ssh-nodes=h1", "ssh-insecure=maybe")})


def test_toml_backend_options_table(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text('backend = "docker"\n[backend-options]\nimage = "my/node:2"\n')
    t = build_test({}, str(p))
    assert t.image == "my/node:2"
