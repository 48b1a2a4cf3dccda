"""A backend in one module: nodes that are only names (nothing to provision or remove)."""

from __future__ import annotations

import os

from splitbrain.harness.cluster.base import BackendSpec, Node


class MemoryCluster:
    def __init__(self, prefix: str, nodes: int, workdir_root: str):
        self.prefix, self.count, self.workdir_root = prefix, nodes, workdir_root

    def up(self):
        return [Node(f"n{i}", f"10.99.0.{i}", remote=None,
                     workdir=os.path.join(self.workdir_root, f"n{i}"))
                for i in range(1, self.count + 1)]

    def down(self):
        pass


BACKEND = BackendSpec(name="memory", summary="names only (tests)",
                      make=lambda test, prefix, root, needs: MemoryCluster(prefix, test.nodes, root))
