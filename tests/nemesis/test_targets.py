"""Target specs (nemesis/targets.py) without a cluster: `one-primary` hits exactly one of
the DB's primaries, or one node when the DB names none."""

from __future__ import annotations

import random
from types import SimpleNamespace as NS

import pytest

from splitbrain.harness.errors import InputError
from splitbrain.nemesis.targets import check_targets, choose_targets, target_names

NODES = [NS(name=f"n{i}") for i in range(1, 6)]


def test_one_primary_is_one_of_the_primaries():
    prim = [NODES[1], NODES[3], NODES[4]]
    seen = set()
    for seed in range(40):
        picked = choose_targets("one-primary", NODES, random.Random(seed), lambda: prim)
        assert len(picked) == 1 and picked[0] in prim
        seen.add(picked[0].name)
    assert seen == {"n2", "n4", "n5"}  # seeded rng: every primary gets its turn
    # `primaries` still takes them all
    assert choose_targets("primaries", NODES, random.Random(0), lambda: prim) == prim


@pytest.mark.parametrize("fn", [None, lambda: [], lambda: 1 / 0])
def test_one_primary_without_primaries_still_hits_one_node(fn):
    picked = choose_targets("one-primary", NODES, random.Random(1), fn)
    assert len(picked) == 1 and picked[0] in NODES


def test_one_primary_is_a_valid_option_and_a_template_name():
    check_targets("kill", {"targets": ["one-primary"]})
    assert len(target_names("one-primary", NODES, random.Random(2))) == 1
    with pytest.raises(InputError, match="one-primaryy"):
        check_targets("kill", {"targets": ["one-primaryy"]})
