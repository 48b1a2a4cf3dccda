"""Clusters: where nodes come from (network namespaces, Docker containers, SSH hosts)."""

import sys as _sys

from harness import registry as registry

# The run registry lived here before it moved below control/ and cluster/; old imports
# (`harness.cluster.registry`) still find the one module.
_sys.modules.setdefault(__name__ + ".registry", registry)
