//! The set workload's session certificates (checkers/session/sets.py), one key per call.
//!
//! `set_session_key` groups one key's ops into sessions exactly as session/passes.py
//! does, then proves, per session, that `_pass_set_session` would report nothing
//! (every read contains every element of the session's earlier reads and acked adds,
//! judged at its invocation as §3.5 walks it) and, per read, that `_pass_set_visibility`'s
//! certificate holds. It only says which sessions and reads fail; Python re-runs its own
//! passes on exactly those and builds every anomaly. It declines (returns None, having
//! touched nothing) on any shape but exact-int elements and plain op fields.

#[cfg(feature = "python")]
pub mod py {
    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple};

    // Op field positions (harness/history.py; checked by checkers/session/native.py)
    pub(crate) const OP_INDEX: usize = 0;
    pub(crate) const OP_INV: usize = 1;
    pub(crate) const OP_RET: usize = 2;
    pub(crate) const OP_PROCESS: usize = 3;
    pub(crate) const OP_SESSION: usize = 4;
    pub(crate) const OP_TYPE: usize = 5;
    pub(crate) const OP_F: usize = 6;
    pub(crate) const OP_VALUE: usize = 8;
    pub(crate) const OP_EXTRA: usize = 16;

    /// No element: the id of an acked add of None (never in a read) in event tables.
    const NO_ELEM: u32 = u32::MAX;

    // queue.rs's FxHash: the element and process maps are keyed by ints
    use crate::queue::py::Fx;
    type FxMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Read,   // an ok, non-corrupt read with members (slot into `reads`)
        Skip,   // a read to skip (corrupt, or members None)
        OkAdd,  // an ok add
        Other,  // any other session op (info adds, writes...): only in add_inv / grouping
    }

    struct SOp {
        inv: i64,
        ret: i64,
        kind: Kind,
        is_add: bool,
        elem: u32,        // add: its element id (NO_ELEM: value None)
        slot: usize,      // read: index into read_elems
    }

    /// Field `i` of an op already known to have every field (borrowed: no refcounting).
    pub(crate) fn fld<'a, 'py>(op: &'a Bound<'py, PyTuple>, i: usize) -> pyo3::Borrowed<'a, 'py, PyAny> {
        debug_assert!(i < op.len());
        // SAFETY: callers checked op.len() > OP_EXTRA >= i; the tuple outlives the borrow
        unsafe { op.get_borrowed_item_unchecked(i) }
    }

    pub(crate) fn as_index(o: &Bound<'_, PyAny>) -> Option<i64> {
        if o.is_exact_instance_of::<PyInt>() {
            return o.extract::<i64>().ok();
        }
        if o.is_exact_instance_of::<PyFloat>() {
            let f = o.extract::<f64>().ok()?;
            if f == f64::INFINITY {
                return Some(i64::MAX);
            }
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                return Some(f as i64);
            }
        }
        None
    }

    fn str_of<'a>(o: &'a Bound<'_, PyAny>) -> Option<std::borrow::Cow<'a, str>> {
        o.downcast::<PyString>().ok()?.to_cow().ok()
    }

    struct Interner {
        ids: crate::sets::py::IdMap,
        add_inv: Vec<i64>,   // id -> latest invocation of an add of it (-1: none)
        earliest: Vec<i64>,  // id -> earliest obliging event (i64::MAX: none)
    }

    impl Interner {
        fn id(&mut self, e: i64) -> u32 {
            let n = self.add_inv.len() as u32;
            let got = *self.ids.entry(e).or_insert(n);
            if got == n {
                self.add_inv.push(-1);
                self.earliest.push(i64::MAX);
            }
            got
        }
    }

    /// A frozenset of exact ints as ids, or None (decline). The hottest loop (every
    /// element of every read): CPython's own set walk, borrowed references, no iterator.
    fn elems(set: &Bound<'_, PyFrozenSet>, it: &mut Interner) -> Option<Vec<u32>> {
        let mut out = Vec::with_capacity(set.len());
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut hash: ffi::Py_hash_t = 0;
        // SAFETY: `set` is a live frozenset (immutable) and the GIL is held; `key` is a
        // borrowed reference used only before the next call
        unsafe {
            while ffi::_PySet_NextEntry(set.as_ptr(), &mut pos, &mut key, &mut hash) != 0 {
                if ffi::PyLong_CheckExact(key) == 0 {
                    return None;
                }
                let mut overflow: std::os::raw::c_int = 0;
                let v = ffi::PyLong_AsLongLongAndOverflow(key, &mut overflow);
                if overflow != 0 {
                    return None;
                }
                out.push(it.id(v));
            }
        }
        Some(out)
    }

    /// An exact list or tuple of distinct exact ints as ids, or None (decline: another
    /// shape, or an element twice, which a frozenset would have merged).
    fn list_elems(v: &Bound<'_, PyAny>, it: &mut Interner) -> Option<Vec<u32>> {
        let items: Vec<*mut ffi::PyObject> = if let Ok(l) = v.downcast_exact::<PyList>() {
            // SAFETY: GIL held; the list is only read while the borrowed items are used
            (0..l.len()).map(|i| unsafe { ffi::PyList_GET_ITEM(v.as_ptr(), i as ffi::Py_ssize_t) })
                .collect()
        } else if let Ok(t) = v.downcast_exact::<PyTuple>() {
            (0..t.len()).map(|i| unsafe { ffi::PyTuple_GET_ITEM(v.as_ptr(), i as ffi::Py_ssize_t) })
                .collect()
        } else {
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for &key in &items {
            // SAFETY: borrowed item of the live container, GIL held
            unsafe {
                if ffi::PyLong_CheckExact(key) == 0 {
                    return None;
                }
                let mut overflow: std::os::raw::c_int = 0;
                let x = ffi::PyLong_AsLongLongAndOverflow(key, &mut overflow);
                if overflow != 0 {
                    return None;
                }
                out.push(it.id(x));
            }
        }
        let mut sorted = out.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        Some(out)
    }

    /// `list_elems` of ints already read (sets.rs `SetReads`, as ids of its table, which
    /// the Interner starts from): None on a repeat (`distinct`: the scan proved none).
    fn kept_elems(v: &[u32], distinct: bool) -> Option<Vec<u32>> {
        let out = v.to_vec();
        if distinct {
            return Some(out);
        }
        let mut sorted = out.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        Some(out)
    }

    /// Does `_pass_set_session` find nothing on this session? The walk of §3.5: a read is
    /// judged at its invocation against the union of the members of session reads and
    /// the elements of own acked adds completed before it.
    fn session_clean(ops: &[SOp], read_elems: &[Vec<u32>], mark: &mut [u32], serial: &mut u32,
                     inu: &mut [u32], useq: u32) -> bool {
        let sequential = ops.windows(2).all(|w| w[0].ret < w[1].inv);
        // events: (time, 0 = completion / 1 = invocation, op), as findings._steps sorts
        let mut ev: Vec<(i64, u8, usize)> = Vec::with_capacity(2 * ops.len());
        if sequential {
            for i in 0..ops.len() {
                ev.push((0, 1, i));
                ev.push((0, 0, i));
            }
        } else {
            for (i, o) in ops.iter().enumerate() {
                ev.push((o.inv, 1, i));
                ev.push((o.ret, 0, i));
            }
            ev.sort_by_key(|e| (e.0, e.1)); // stable, as Python's sort
        }
        let mut u: Vec<u32> = Vec::new();
        for &(_, k, i) in &ev {
            let o = &ops[i];
            match o.kind {
                Kind::Read => {
                    let m = &read_elems[o.slot];
                    if k == 1 {
                        if u.is_empty() {
                            continue;
                        }
                        *serial += 1;
                        let s = *serial;
                        for &e in m {
                            mark[e as usize] = s;
                        }
                        if u.iter().any(|&e| mark[e as usize] != s) {
                            return false;
                        }
                    } else {
                        for &e in m {
                            if inu[e as usize] != useq {
                                inu[e as usize] = useq;
                                u.push(e);
                            }
                        }
                    }
                }
                Kind::OkAdd if k == 0 && o.elem != NO_ELEM => {
                    let e = o.elem;
                    if inu[e as usize] != useq {
                        inu[e as usize] = useq;
                        u.push(e);
                    }
                }
                _ => {}
            }
        }
        true
    }

    /// The members of every read of ix.reads as element ids (session reads are among
    /// them): `slots[i]` for reads[i], `by_index` by op index; None = a read both passes
    /// skip (corrupt, or members None).
    struct Reads {
        elems: Vec<Vec<u32>>,
        slots: Vec<Option<usize>>,
        by_index: FxMap<i64, Option<usize>>,
    }

    fn read_members(reads: &Bound<'_, PyList>, members: &Bound<'_, PyDict>,
                    corrupt: &Bound<'_, PySet>, kept: Option<&crate::sets::py::SetReads>,
                    it: &mut Interner) -> PyResult<Option<Reads>> {
        let mut rs = Reads { elems: Vec::new(), slots: Vec::with_capacity(reads.len()),
                             by_index: FxMap::default() };
        let check_corrupt = !corrupt.is_empty();
        // set_index kept every read's index, and no read has an entry to look up: the
        // reads themselves need not be touched
        if let Some(k) = kept {
            if let (Some(ri), false, true) = (&k.read_index, check_corrupt, members.is_empty()) {
                for (pos, &idx) in ri.iter().enumerate() {
                    let got = match k.elems[pos].as_deref() {
                        Some(v) => kept_elems(v, k.distinct[pos]),
                        None => {
                            let r = reads.get_item(pos)?;
                            list_elems(&fld(r.downcast::<PyTuple>()?, OP_VALUE), it)
                        }
                    };
                    let Some(v) = got else { return Ok(None) };
                    let slot = Some(rs.elems.len());
                    rs.elems.push(v);
                    rs.by_index.insert(idx, slot);
                    rs.slots.push(slot);
                }
                return Ok(Some(rs));
            }
        }
        for (pos, r) in reads.iter().enumerate() {
            let r = r.downcast::<PyTuple>()?;
            if r.len() <= OP_EXTRA {
                return Ok(None);
            }
            let idx_o = fld(r, OP_INDEX);
            let Some(idx) = as_index(&idx_o) else { return Ok(None) };
            let mut slot = None;
            if !(check_corrupt && corrupt.contains(&idx_o)?) {
                let Some(m) = members.get_item(&idx_o)? else {
                    // omitted by versions.py's lazy set scan: a list of distinct exact
                    // ints, whose members are its elements
                    let got = match kept.and_then(|k| k.elems[pos].as_deref()) {
                        Some(v) => kept_elems(v, kept.is_some_and(|k| k.distinct[pos])),
                        None => list_elems(&fld(r, OP_VALUE), it),
                    };
                    let Some(v) = got else { return Ok(None) };
                    slot = Some(rs.elems.len());
                    rs.elems.push(v);
                    rs.by_index.insert(idx, slot);
                    rs.slots.push(slot);
                    continue;
                };
                if !m.is_none() {
                    let Ok(fs) = m.downcast_exact::<PyFrozenSet>() else { return Ok(None) };
                    let Some(v) = elems(fs, it) else { return Ok(None) };
                    slot = Some(rs.elems.len());
                    rs.elems.push(v);
                }
            }
            rs.by_index.insert(idx, slot);
            rs.slots.push(slot);
        }
        Ok(Some(rs))
    }

    enum Step {
        Decline,           // a shape only the Python walk judges
        Skip,              // not a session op (passes.py's filter)
        Op(i64, SOp),      // its process and what the passes need of it
    }

    /// One op of ix.ops as passes.py's grouping and the set passes see it.
    fn session_op(op: &Bound<'_, PyTuple>, rs: &Reads, it: &mut Interner) -> PyResult<Step> {
        if op.len() <= OP_EXTRA {
            return Ok(Step::Decline);
        }
        let (t, f) = (fld(op, OP_TYPE), fld(op, OP_F));
        let (Some(t), Some(f)) = (str_of(&t), str_of(&f)) else { return Ok(Step::Decline) };
        if t == "fail" || (t != "ok" && f == "read")
            || !matches!(&*f, "read" | "write" | "cas" | "append" | "add") {
            return Ok(Step::Skip);
        }
        let extra = fld(op, OP_EXTRA);
        if !extra.is_none() {
            let Ok(d) = extra.downcast_exact::<PyDict>() else { return Ok(Step::Decline) };
            if d.contains("txn_of")? {
                return Ok(Step::Skip); // a transaction's write
            }
        }
        let (Some(inv), Some(ret)) = (as_index(&fld(op, OP_INV)), as_index(&fld(op, OP_RET)))
        else { return Ok(Step::Decline) };
        let p = fld(op, OP_PROCESS);
        if !p.is_exact_instance_of::<PyInt>() {
            return Ok(Step::Decline);
        }
        let Ok(p) = p.extract::<i64>() else { return Ok(Step::Decline) };
        let mut so = SOp { inv, ret, kind: Kind::Other, is_add: false, elem: NO_ELEM, slot: 0 };
        if f == "read" {
            let Some(idx) = as_index(&fld(op, OP_INDEX)) else { return Ok(Step::Decline) };
            match rs.by_index.get(&idx) {
                None => return Ok(Step::Decline), // a session read not in ix.reads
                Some(None) => so.kind = Kind::Skip,
                Some(Some(s)) => {
                    so.kind = Kind::Read;
                    so.slot = *s;
                }
            }
        } else if f == "add" {
            so.is_add = true;
            let v = fld(op, OP_VALUE);
            if !v.is_none() {
                if !v.is_exact_instance_of::<PyInt>() {
                    return Ok(Step::Decline);
                }
                let Ok(e) = v.extract::<i64>() else { return Ok(Step::Decline) };
                so.elem = it.id(e);
            }
            if t == "ok" {
                so.kind = Kind::OkAdd;
            }
        }
        Ok(Step::Op(p, so))
    }

    /// `session_op` from what set_index read of the op.
    fn kept_op(f: &crate::sets::py::SessFact, rs: &Reads, it: &mut Interner) -> Step {
        if f.skip {
            return Step::Skip;
        }
        let mut so = SOp { inv: f.inv, ret: f.ret, kind: Kind::Other, is_add: false,
                           elem: NO_ELEM, slot: 0 };
        if f.read {
            match rs.by_index.get(&f.index) {
                None => return Step::Decline,
                Some(None) => so.kind = Kind::Skip,
                Some(Some(s)) => {
                    so.kind = Kind::Read;
                    so.slot = *s;
                }
            }
        } else if f.add {
            so.is_add = true;
            if let Some(e) = f.elem {
                so.elem = it.id(e);
            }
            if f.ok {
                so.kind = Kind::OkAdd;
            }
        }
        Step::Op(f.process, so)
    }

    /// Each process's ops (first-touch order) split into its sessions as passes.py does:
    /// one group when by_session_ops or its first and last ops share a session, else
    /// one group per session in order of first appearance. (sessions, groups).
    fn split_sessions<'py>(py: Python<'py>, ops: &Bound<'py, PyList>,
                           by_p: Vec<Vec<(SOp, usize)>>, by_session_ops: bool)
                           -> PyResult<(Vec<PyObject>, Vec<Vec<SOp>>)> {
        let mut sessions: Vec<PyObject> = Vec::new();
        let mut groups: Vec<Vec<SOp>> = Vec::new();
        let field = |pos: usize, i: usize| -> PyResult<Bound<'py, PyAny>> {
            ops.get_item(pos)?.downcast_into::<PyTuple>()?.get_item(i)
        };
        for g in by_p {
            let first = field(g[0].1, if by_session_ops { OP_PROCESS } else { OP_SESSION })?;
            if by_session_ops || first.eq(field(g[g.len() - 1].1, OP_SESSION)?)? {
                sessions.push(first.unbind());
                groups.push(g.into_iter().map(|(o, _)| o).collect());
                continue;
            }
            let base = groups.len();
            for (o, pos) in g {
                let s = field(pos, OP_SESSION)?;
                let mut at = None;
                for (j, t) in sessions[base..].iter().enumerate() {
                    if t.bind(py).eq(&s)? {
                        at = Some(base + j);
                        break;
                    }
                }
                match at {
                    Some(j) => groups[j].push(o),
                    None => {
                        sessions.push(s.unbind());
                        groups.push(vec![o]);
                    }
                }
            }
        }
        Ok((sessions, groups))
    }

    /// `_pass_set_visibility`'s certificate: (reads it counts, positions in ix.reads of
    /// those failing it). A read R passes when it contains every element whose earliest
    /// obliging event (an acked add's completion, a session read's completion showing
    /// it) precedes the latest invocation of an add of any element R shows.
    fn visibility_fail(groups: &[Vec<SOp>], rs: &Reads, it: &mut Interner) -> (u64, Vec<usize>) {
        let mut none_earliest = i64::MAX; // acked adds of None: due, never in a read
        for o in groups.iter().flatten() {
            if o.is_add && o.elem != NO_ELEM {
                let a = &mut it.add_inv[o.elem as usize];
                *a = (*a).max(o.inv);
            }
            let shown: &[u32] = match o.kind {
                Kind::OkAdd if o.elem == NO_ELEM => {
                    none_earliest = none_earliest.min(o.ret);
                    &[]
                }
                Kind::OkAdd => std::slice::from_ref(&o.elem),
                Kind::Read => &rs.elems[o.slot],
                _ => &[],
            };
            for &e in shown {
                let x = &mut it.earliest[e as usize];
                *x = (*x).min(o.ret);
            }
        }
        let mut due_at: Vec<i64> = it.earliest.iter().copied().filter(|&t| t != i64::MAX).collect();
        if none_earliest != i64::MAX {
            due_at.push(none_earliest);
        }
        due_at.sort_unstable();
        let mut checked: u64 = 0;
        let mut fail: Vec<usize> = Vec::new();
        for (ri, slot) in rs.slots.iter().enumerate() {
            let m = match slot {
                Some(s) if !rs.elems[*s].is_empty() => &rs.elems[*s],
                _ => continue,
            };
            checked += 1;
            let bound = m.iter().map(|&e| it.add_inv[e as usize]).max().unwrap_or(-1);
            let need = due_at.partition_point(|&t| t < bound);
            let have = m.iter().filter(|&&e| it.earliest[e as usize] < bound).count();
            if have != need {
                fail.push(ri);
            }
        }
        (checked, fail)
    }

    /// set_session_key(ops, reads, members, corrupt, by_session_ops, kept=None)
    ///   -> None (declined) or (sessions, dirty, n_reads, vis_checked, vis_fail):
    /// `sessions` the session ids of passes.py's groups of this key in order, `dirty` the
    /// positions of the groups `_pass_set_session` may report on, `n_reads` the reads it
    /// counts in the others, `vis_checked` the reads `_pass_set_visibility` counts and
    /// `vis_fail` the positions in `reads` of those failing its certificate.
    #[pyfunction]
    #[pyo3(signature = (ops, reads, members, corrupt, by_session_ops, kept=None))]
    #[allow(clippy::type_complexity)]
    fn set_session_key<'py>(
        py: Python<'py>,
        ops: &Bound<'py, PyList>,
        reads: &Bound<'py, PyList>,
        members: &Bound<'py, PyDict>,
        corrupt: &Bound<'py, PySet>,
        by_session_ops: bool,
        kept: Option<Bound<'py, crate::sets::py::SetReads>>,
    ) -> PyResult<Option<(Vec<PyObject>, Vec<usize>, u64, u64, Vec<usize>)>> {
        let kept = kept.as_ref().map(|k| k.get());
        // the scan's kept elements, when they are of this very list: its element ids
        let kept = kept.filter(|k| k.reads.bind(py).is(reads) && k.elems.len() == reads.len());
        let mut it = match kept {
            Some(k) => Interner { ids: k.ids.map.clone(), add_inv: vec![-1; k.ids.values.len()],
                                  earliest: vec![i64::MAX; k.ids.values.len()] },
            None => Interner { ids: Default::default(), add_inv: Vec::new(), earliest: Vec::new() },
        };
        let Some(rs) = read_members(reads, members, corrupt, kept, &mut it)? else { return Ok(None) };
        // passes.py's grouping: by process in first-touch order (session ops only)
        let mut procs: FxMap<i64, usize> = FxMap::default();
        let mut by_p: Vec<Vec<(SOp, usize)>> = Vec::new(); // (op, position in ops)
        // what set_index read of these very ops (sets.rs SessFact), else the ops themselves
        let facts = kept.and_then(|k| match (&k.ops, &k.sess) {
            (Some(o), Some(f)) if o.bind(py).is(ops) && f.len() == ops.len() => Some(f),
            _ => None,
        });
        for pos in 0..ops.len() {
            let step = match facts {
                Some(f) => kept_op(&f[pos], &rs, &mut it),
                None => session_op(ops.get_item(pos)?.downcast::<PyTuple>()?, &rs, &mut it)?,
            };
            let (p, so) = match step {
                Step::Decline => return Ok(None),
                Step::Skip => continue,
                Step::Op(p, so) => (p, so),
            };
            let g = *procs.entry(p).or_insert_with(|| {
                by_p.push(Vec::new());
                by_p.len() - 1
            });
            by_p[g].push((so, pos));
        }
        let (sessions, groups) = split_sessions(py, ops, by_p, by_session_ops)?;
        let n_el = it.add_inv.len();
        let (mut mark, mut inu) = (vec![0u32; n_el], vec![0u32; n_el]);
        let mut serial = 0u32;
        let mut dirty: Vec<usize> = Vec::new();
        let mut n_reads: u64 = 0;
        for (gi, g) in groups.iter().enumerate() {
            if session_clean(g, &rs.elems, &mut mark, &mut serial, &mut inu, gi as u32 + 1) {
                n_reads += g.iter().filter(|o| o.kind == Kind::Read).count() as u64;
            } else {
                dirty.push(gi);
            }
        }
        let (vis_checked, vis_fail) = visibility_fail(&groups, &rs, &mut it);
        Ok(Some((sessions, dirty, n_reads, vis_checked, vis_fail)))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(set_session_key, m)?)?;
        Ok(())
    }
}
