"""Process faults: crash (SIGKILL) and restart, pause (SIGSTOP) and resume (SIGCONT).

All signals go through the DB protocol (harness/dbs/base.py), which acts on the pid it
recorded at start — never on a process name.

    proc = ProcessNemesis(nodes, db, rng)
    proc.invoke({"f": "kill", "value": "minority"})     # {"type": "info", "value": {"nodes": ["n2"]}}
    proc.invoke({"f": "start", "value": None})          # restarts every node it killed
    proc.invoke({"f": "pause", "value": "primaries"})
    proc.invoke({"f": "resume", "value": None})

Faults: kill / pause take a target spec (nemesis/targets.py: one, minority, majority,
primaries, all, or a list of node names; default "one"); start / resume take the same or
None, meaning every node this nemesis killed / paused.
"""

from __future__ import annotations

import random

from splitbrain.harness.dbs.base import HasPrimaries, Killable, Pausable
from splitbrain.nemesis.base import FaultFamily
from splitbrain.nemesis.targets import choose_targets, pick_target

# fault -> the DB capability method that applies it (harness/dbs/base.py)
_ACTIONS = {"kill": lambda db, node: db.kill(node), "start": lambda db, node: db.start(node),
            "pause": lambda db, node: db.pause(node), "resume": lambda db, node: db.resume(node)}


class ProcessNemesis:
    """Kills and pauses datastore processes via `db`.

    Obligations: invoke never raises (a failing node is named in `error` and the others
    still get the fault); start/resume without targets undo exactly what this nemesis did;
    heal_all resumes paused nodes before restarting killed ones (a paused process can't
    be replaced while it still holds its port) and is idempotent.
    """

    name = "process"
    faults = ("kill", "start", "pause", "resume")

    def __init__(self, nodes, db, rng: random.Random):
        self.nodes = list(nodes)
        self.db = db
        self.rng = rng
        self.killed: set[str] = set()
        self.paused: set[str] = set()

    def setup(self) -> None:
        pass

    def invoke(self, fault: dict) -> dict:
        f = fault.get("f")
        spec = fault.get("value")
        try:
            if f in ("kill", "pause"):
                # a killed node cannot be paused: aim pauses at the living
                pool = (self.nodes if f == "kill"
                        else [n for n in self.nodes if n.name not in self.killed])
                nodes = choose_targets(spec or "one", pool, self.rng, self._primaries())
            elif f in ("start", "resume"):
                if spec in (None, "", "all-affected"):
                    mine = self.killed if f == "start" else self.paused
                    nodes = [n for n in self.nodes if n.name in mine]
                else:
                    nodes = choose_targets(spec, self.nodes, self.rng, self._primaries())
            else:
                return {"type": "info", "value": spec,
                        "error": f"process nemesis has no fault {f!r}"}
        except Exception as e:
            return {"type": "info", "value": spec, "error": f"{type(e).__name__}: {e}"}
        done, errors = [], []
        for node in nodes:
            try:
                _ACTIONS[f](self.db, node)
                done.append(node.name)
            except Exception as e:
                errors.append(f"{node.name}: {type(e).__name__}: {e}")
            # Book-keeping even on error: an undo of something half-done is harmless.
            if f == "kill":
                self.killed.add(node.name)
                self.paused.discard(node.name)  # SIGKILL ends a stopped process too
            elif f == "start" and node.name in done:
                self.killed.discard(node.name)
            elif f == "pause":
                self.paused.add(node.name)
            elif f == "resume" and node.name in done:
                self.paused.discard(node.name)
        out = {"type": "info", "value": {"nodes": done, "targets": spec}}
        if errors:
            out["error"] = "; ".join(errors)
        return out

    def _primaries(self):
        return self.db.primaries if isinstance(self.db, HasPrimaries) else None

    def heal_all(self) -> dict:
        res = [self.invoke({"f": "resume", "value": None}),
               self.invoke({"f": "start", "value": None})]
        errors = [r["error"] for r in res if r.get("error")]
        out = {"type": "info", "value": {"resumed": res[0]["value"]["nodes"],
                                         "started": res[1]["value"]["nodes"]}}
        if errors:
            out["error"] = "; ".join(errors)
        return out

    def active(self) -> list[str]:
        return ([f"killed {n}" for n in sorted(self.killed)]
                + [f"paused {n}" for n in sorted(self.paused)])

    def teardown(self) -> None:
        pass  # nothing of its own: the DB's teardown stops its processes


# -- the family packages (nemesis/base.py): two families, one nemesis -------------------

_TARGETS = ("one", "minority", "majority", "primaries", "all")


def _template(f: str):
    return lambda ctx, variants, opts: {"f": f, "value": pick_target(ctx.rng, opts, _TARGETS)}


def _build(ctx) -> ProcessNemesis:
    return ProcessNemesis(list(ctx.nodes), ctx.db, ctx.rng)


FAMILIES = (
    FaultFamily(name="kill", nemesis="process", starts=("kill",), stop="start",
                start_template=_template("kill"), build=_build,
                option_keys=frozenset({"targets"}), heal_rank=20, needs=(Killable,),
                summary="SIGKILL the datastore by recorded pid, then restart it"),
    FaultFamily(name="pause", nemesis="process", starts=("pause",), stop="resume",
                start_template=_template("pause"), build=_build,
                option_keys=frozenset({"targets"}), heal_rank=10, needs=(Pausable,),
                summary="SIGSTOP the datastore by recorded pid, then SIGCONT"),
)
