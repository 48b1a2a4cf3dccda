//! The register workload's hot per-key passes, one key per call (checkers/registers_native.py).
//!
//! * `register_index(ops)`: versions.py `build_index` + `_build_versioned` for a key whose
//!   every op is a plain read or write (no extra, no cas), with int/str/None values, each
//!   value written once, every read's value written by a non-failed op invoked no later
//!   than the read completed, and one version per value and one value per version: the
//!   shape on which the Python code reports nothing, marks nothing corrupt and takes its
//!   C-level fast paths. It returns the index's tables; anything else declines (None).
//! * `register_staleness(writes, reads, wver, rver, corrupt)`: staleness.py `_measure_key`
//!   without bounds (no anomalies), its counts and distributions.
//! * `register_session_key(ops, rver, wver, corrupt, by_session_ops)`: session/passes.py
//!   `_group_key` + `_clean_total_sequential` of every group of a total-order key; None
//!   unless every group is sequential and clean (the Python passes then judge the key).
//! * `register_no_write_below(ops, rver, wver)`: lost_updates.py
//!   `_no_write_below_an_earlier_read`.
//!
//! Each only proves or counts; every anomaly and explanation is built in Python, which
//! stays the reference (tests compare both, result for result).

#[cfg(feature = "python")]
pub mod py {
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PySet, PyString, PyTuple};

    use crate::queue::py::Fx;
    type FxMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

    // Op field positions (harness/history.py; checked by checkers/registers_native.py)
    const OP_INDEX: usize = 0;
    const OP_INV: usize = 1;
    const OP_RET: usize = 2;
    const OP_PROCESS: usize = 3;
    const OP_SESSION: usize = 4;
    const OP_TYPE: usize = 5;
    const OP_F: usize = 6;
    const OP_VALUE: usize = 8;
    const OP_VERSION: usize = 9;
    const OP_T_INV: usize = 11;
    const OP_T_RET: usize = 12;
    const OP_EXTRA: usize = 16;

    fn fld<'a, 'py>(op: &'a Bound<'py, PyTuple>, i: usize) -> pyo3::Borrowed<'a, 'py, PyAny> {
        debug_assert!(i < op.len());
        // SAFETY: callers checked op.len() > OP_EXTRA >= i; the tuple outlives the borrow
        unsafe { op.get_borrowed_item_unchecked(i) }
    }

    fn op_tuple<'a, 'py>(o: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, PyTuple>> {
        let t = o.downcast::<PyTuple>().ok()?;
        if t.len() <= OP_EXTRA {
            return None;
        }
        Some(t)
    }

    /// An exact int (not bool) that fits i64.
    fn int_of(o: &Bound<'_, PyAny>) -> Option<i64> {
        if o.is_exact_instance_of::<PyInt>() {
            return o.extract::<i64>().ok();
        }
        None
    }

    /// An op index: an exact int, or float infinity (an info op's completion) as i64::MAX.
    fn index_of(o: &Bound<'_, PyAny>) -> Option<i64> {
        if o.is_exact_instance_of::<PyInt>() {
            return o.extract::<i64>().ok();
        }
        if o.is_exact_instance_of::<PyFloat>() {
            let f = o.extract::<f64>().ok()?;
            if f == f64::INFINITY {
                return Some(i64::MAX);
            }
        }
        None
    }

    fn str_eq(o: &Bound<'_, PyAny>, s: &str) -> Option<bool> {
        let p = o.downcast_exact::<PyString>().ok()?;
        Some(p.to_str().ok()? == s)
    }

    #[derive(Hash, PartialEq, Eq)]
    enum Val {
        I(i64),
        S(String),
    }

    /// Some(None): the value None; Some(Some(v)): an exact int or str; None: decline.
    fn val_of(o: &Bound<'_, PyAny>) -> Option<Option<Val>> {
        if o.is_none() {
            return Some(None);
        }
        if o.is_exact_instance_of::<PyInt>() {
            return Some(Some(Val::I(o.extract::<i64>().ok()?)));
        }
        if let Ok(s) = o.downcast_exact::<PyString>() {
            return Some(Some(Val::S(s.to_str().ok()?.to_owned())));
        }
        None
    }

    const OK: u8 = 0;
    const INFO: u8 = 1;
    const FAIL: u8 = 2;

    fn type_of(o: &Bound<'_, PyAny>) -> Option<u8> {
        let s = o.downcast_exact::<PyString>().ok()?;
        match s.to_str().ok()? {
            "ok" => Some(OK),
            "info" => Some(INFO),
            "fail" => Some(FAIL),
            _ => None,
        }
    }

    struct W {
        pos: usize,
        ty: u8,
        val: Option<u32>,
        version: Option<i64>,
        inv: i64,
    }

    struct R {
        pos: usize,
        val: Option<u32>,
        version: Option<i64>,
        ret: i64,
    }

    type IndexOut = (Py<PyList>, Py<PyList>, Py<PyList>, Py<PyDict>, Py<PyDict>, Py<PyDict>,
                     Py<PyList>, Py<PyList>, usize, u64);

    /// register_index(ops) -> None (declined) or (reads, writes, wvals, writer, rver, wver,
    /// by_rank, evidence, max_rank, unverifiable_writes): the VersionIndex tables of one
    /// versioned key (see the module doc for the shape it takes).
    #[pyfunction]
    fn register_index<'py>(py: Python<'py>, ops: &Bound<'py, PyList>) -> PyResult<Option<IndexOut>> {
        let mut ids: FxMap<Val, u32> = FxMap::default();
        let mut writes: Vec<W> = Vec::new();
        let mut reads: Vec<R> = Vec::new();
        let mut writer: Vec<Option<usize>> = Vec::new(); // value id -> slot in `writes`
        for (pos, o) in ops.iter().enumerate() {
            let Some(op) = op_tuple(&o) else { return Ok(None) };
            if !fld(op, OP_EXTRA).is_none() {
                return Ok(None); // retries, transactions: the Python build's
            }
            let Some(ty) = type_of(&fld(op, OP_TYPE)) else { return Ok(None) };
            let f = fld(op, OP_F);
            let is_read = match str_eq(&f, "read") {
                Some(true) => true,
                Some(false) if str_eq(&f, "write") == Some(true) => false,
                _ => return Ok(None),
            };
            if is_read && ty != OK {
                continue; // info/fail reads carry no value
            }
            let Some(val) = val_of(&fld(op, OP_VALUE)) else { return Ok(None) };
            let vo = fld(op, OP_VERSION);
            let version = if vo.is_none() {
                None
            } else if is_read || ty == OK {
                let Some(v) = int_of(&vo) else { return Ok(None) };
                Some(v)
            } else {
                None // an info/fail write's version is never read
            };
            let id = match val {
                None => None,
                Some(v) => {
                    let n = ids.len() as u32;
                    let id = *ids.entry(v).or_insert(n);
                    if id == n {
                        writer.push(None);
                    }
                    Some(id)
                }
            };
            if is_read {
                let Some(ret) = index_of(&fld(op, OP_RET)) else { return Ok(None) };
                reads.push(R { pos, val: id, version, ret });
            } else {
                let Some(inv) = index_of(&fld(op, OP_INV)) else { return Ok(None) };
                if let Some(i) = id {
                    if writer[i as usize].is_some() {
                        return Ok(None); // written twice (P1): duplicates, the Python build's
                    }
                    writer[i as usize] = Some(writes.len());
                }
                writes.push(W { pos, ty, val: id, version, inv });
            }
        }
        // every read's value: a non-failed sole writer invoked no later than the read ended
        for r in &reads {
            if let Some(i) = r.val {
                match writer[i as usize] {
                    Some(w) if writes[w].ty != FAIL && writes[w].inv <= r.ret => {}
                    _ => return Ok(None), // garbage / aborted / future: the audit's
                }
            }
        }
        // observations (value, version, op position) in _build_versioned's order
        let mut obs: Vec<(u32, i64, usize)> = Vec::new();
        for r in &reads {
            if let (Some(i), Some(v)) = (r.val, r.version) {
                obs.push((i, v, r.pos));
            }
        }
        for w in &writes {
            if let (Some(i), Some(v), OK) = (w.val, w.version, w.ty) {
                obs.push((i, v, w.pos));
            }
        }
        let n_vals = writer.len();
        let mut ver_of: Vec<Option<i64>> = vec![None; n_vals];
        let mut first: Vec<usize> = vec![usize::MAX; n_vals];
        let mut val_of_ver: FxMap<i64, u32> = FxMap::default();
        for &(i, v, pos) in &obs {
            match ver_of[i as usize] {
                None => {
                    ver_of[i as usize] = Some(v);
                    first[i as usize] = pos;
                }
                Some(x) if x != v => return Ok(None), // version-mismatch: Python's
                _ => {}
            }
            if *val_of_ver.entry(v).or_insert(i) != i {
                return Ok(None); // version-conflict: Python's
            }
        }
        let mut distinct: Vec<i64> = val_of_ver.keys().copied().collect();
        distinct.sort_unstable();
        let dense: FxMap<i64, usize> = distinct.iter().enumerate().map(|(k, &v)| (v, k + 1)).collect();
        let rank: Vec<Option<usize>> = ver_of.iter().map(|v| v.map(|v| dense[&v])).collect();
        let max_rank = distinct.len();
        let item = |pos: usize, i: usize| -> PyResult<Bound<'py, PyAny>> {
            ops.get_item(pos)?.downcast_into::<PyTuple>()?.get_item(i)
        };
        let none = py.None();
        let mut by_rank: Vec<PyObject> = (0..=max_rank).map(|_| none.clone_ref(py)).collect();
        let mut evidence: Vec<PyObject> = (0..=max_rank).map(|_| none.clone_ref(py)).collect();
        for i in 0..n_vals {
            if let Some(rk) = rank[i] {
                by_rank[rk] = ops.get_item(writes[writer[i].unwrap()].pos)?.unbind();
                evidence[rk] = item(first[i], OP_INDEX)?.unbind();
            }
        }
        let py_reads = PyList::empty(py);
        let rver = PyDict::new(py);
        for r in &reads {
            let op = ops.get_item(r.pos)?;
            if r.val.is_none() {
                rver.set_item(op.downcast::<PyTuple>()?.get_item(OP_INDEX)?, 0)?;
            }
            py_reads.append(op)?;
        }
        for r in &reads {
            if let Some(rk) = r.val.and_then(|i| rank[i as usize]) {
                rver.set_item(item(r.pos, OP_INDEX)?, rk)?;
            }
        }
        let py_writes = PyList::empty(py);
        let wvals = PyList::empty(py);
        let writer_d = PyDict::new(py);
        let wver = PyDict::new(py);
        let mut unverifiable: u64 = 0;
        for w in &writes {
            let op = ops.get_item(w.pos)?;
            let t = op.downcast::<PyTuple>()?;
            let v = t.get_item(OP_VALUE)?;
            if let Some(i) = w.val {
                writer_d.set_item(&v, &op)?;
                match rank[i as usize] {
                    Some(rk) if w.ty != FAIL => wver.set_item(t.get_item(OP_INDEX)?, rk)?,
                    _ if w.ty == OK => unverifiable += 1,
                    _ => {}
                }
            }
            wvals.append(v)?;
            py_writes.append(op)?;
        }
        Ok(Some((py_reads.unbind(), py_writes.unbind(), wvals.unbind(), writer_d.unbind(),
                 rver.unbind(), wver.unbind(), PyList::new(py, by_rank)?.unbind(),
                 PyList::new(py, evidence)?.unbind(), max_rank, unverifiable)))
    }

    /// A rank from a version table: an exact non-negative int, Ok(None) when absent,
    /// Err(()) (decline) for anything else.
    fn rank_in(d: &Bound<'_, PyDict>, idx: &Bound<'_, PyAny>) -> PyResult<Result<Option<i64>, ()>> {
        Ok(match d.get_item(idx)? {
            None => Ok(None),
            Some(v) => match int_of(&v) {
                Some(x) if x >= 0 => Ok(Some(x)),
                _ => Err(()),
            },
        })
    }

    type StaleOut = (u64, u64, u64, Vec<i64>, Vec<i64>, Vec<i64>, u64);

    /// register_staleness(writes, reads, wver, rver, corrupt) -> None (declined) or
    /// (unverifiable writes, reads skipped, fresh reads, T of stale reads, K of stale
    /// reads, positive visibility lags, writes with no lag): `_measure_key` unbounded.
    #[pyfunction]
    fn register_staleness(writes: &Bound<'_, PyList>, reads: &Bound<'_, PyList>,
                          wver: &Bound<'_, PyDict>, rver: &Bound<'_, PyDict>,
                          corrupt: &Bound<'_, PySet>) -> PyResult<Option<StaleOut>> {
        let mut unverifiable = 0u64;
        let mut w_: Vec<(i64, i64, i64)> = Vec::new(); // (ret_index, rank, t_ret)
        for o in writes.iter() {
            let Some(w) = op_tuple(&o) else { return Ok(None) };
            match type_of(&fld(w, OP_TYPE)) {
                Some(OK) => {}
                Some(_) => continue,
                None => return Ok(None),
            }
            let rk = match rank_in(wver, &fld(w, OP_INDEX))? {
                Err(()) => return Ok(None),
                Ok(None) => {
                    unverifiable += 1;
                    continue;
                }
                Ok(Some(rk)) => rk,
            };
            let (Some(ret), Some(t)) = (index_of(&fld(w, OP_RET)), int_of(&fld(w, OP_T_RET)))
            else { return Ok(None) };
            w_.push((ret, rk, t));
        }
        let check_corrupt = !corrupt.is_empty();
        let mut skipped = 0u64;
        let mut r_: Vec<(i64, i64, i64)> = Vec::new(); // (inv_index, rank, t_inv)
        for o in reads.iter() {
            let Some(r) = op_tuple(&o) else { return Ok(None) };
            match str_eq(&fld(r, OP_F), "read") {
                Some(true) => {}
                Some(false) => continue,
                None => return Ok(None),
            }
            let idx = fld(r, OP_INDEX);
            if check_corrupt && corrupt.contains(&idx)? {
                skipped += 1;
                continue;
            }
            let rk = match rank_in(rver, &idx)? {
                Err(()) => return Ok(None),
                Ok(None) => {
                    skipped += 1;
                    continue;
                }
                Ok(Some(rk)) => rk,
            };
            let (Some(inv), Some(t)) = (index_of(&fld(r, OP_INV)), int_of(&fld(r, OP_T_INV)))
            else { return Ok(None) };
            r_.push((inv, rk, t));
        }
        if r_.is_empty() {
            return Ok(Some((unverifiable, skipped, 0, vec![], vec![], vec![], 0)));
        }
        if w_.is_empty() {
            return Ok(Some((unverifiable, skipped, r_.len() as u64, vec![], vec![], vec![], 0)));
        }
        w_.sort_by_key(|t| t.0); // stable, as Python's sort
        let a_ret: Vec<i64> = w_.iter().map(|t| t.0).collect();
        let mut pm_rank: Vec<i64> = Vec::with_capacity(w_.len());
        let mut best = -1i64;
        for t in &w_ {
            best = best.max(t.1);
            pm_rank.push(best);
        }
        let mut b = w_.clone();
        b.sort_by_key(|t| t.1);
        let b_rank: Vec<i64> = b.iter().map(|t| t.1).collect();
        let mut sm_t: Vec<i64> = vec![0; b.len()]; // t_ret of the earliest-completing write
        let mut cur: Option<(i64, i64)> = None;
        for j in (0..b.len()).rev() {
            if cur.map_or(true, |c| b[j].0 < c.0) {
                cur = Some((b[j].0, b[j].2));
            }
            sm_t[j] = cur.unwrap().1;
        }
        let (mut tt, mut kk) = (Vec::new(), Vec::new());
        let mut stale: Vec<(i64, i64, i64)> = Vec::new();
        let mut fresh = 0u64;
        for &(inv, x, t_inv) in &r_ {
            let n = a_ret.partition_point(|&a| a < inv);
            if n == 0 || pm_rank[n - 1] <= x {
                fresh += 1;
                continue;
            }
            stale.push((inv, x, t_inv));
            let j = b_rank.partition_point(|&r| r <= x);
            tt.push((t_inv - sm_t[j]).max(0));
            kk.push(pm_rank[n - 1] - x);
        }
        let mut lags = Vec::new();
        let mut lag_zero = 0u64;
        if stale.is_empty() {
            lag_zero = w_.len() as u64;
        } else {
            // staleness.py `_visibility_lags`: Fenwick over rank+1, prefix max of read t_inv
            let max_rank = (w_.iter().map(|t| t.1).max().unwrap())
                .max(stale.iter().map(|t| t.1).max().unwrap()) as usize + 1;
            let mut tree = vec![-1i64; max_rank + 1];
            stale.sort_by(|a, b| b.0.cmp(&a.0)); // newest invocation first
            let mut j = 0;
            for &(ret, rk, t_ret) in w_.iter().rev() {
                while j < stale.len() && stale[j].0 > ret {
                    let mut i = stale[j].1 as usize + 1;
                    let tv = stale[j].2;
                    while i <= max_rank {
                        if tree[i] < tv {
                            tree[i] = tv;
                        }
                        i += i & i.wrapping_neg();
                    }
                    j += 1;
                }
                let mut best = -1i64;
                let mut i = rk as usize;
                while i > 0 {
                    best = best.max(tree[i]);
                    i -= i & i.wrapping_neg();
                }
                let lag = if best >= 0 { best - t_ret } else { 0 };
                if lag > 0 {
                    lags.push(lag);
                } else {
                    lag_zero += 1;
                }
            }
        }
        Ok(Some((unverifiable, skipped, fresh, tt, kk, lags, lag_zero)))
    }

    /// register_session_key(ops, rver, wver, corrupt, by_session_ops) -> None (declined:
    /// the Python passes judge the key) or (sessions, reads checked, reads unverifiable,
    /// writes checked, writes unverifiable): passes.py's groups of this key (their
    /// session ids in order) when each is sequential and `_clean_total_sequential`
    /// clears it, with that function's counts summed.
    #[pyfunction]
    #[allow(clippy::type_complexity)]
    fn register_session_key<'py>(py: Python<'py>, ops: &Bound<'py, PyList>, rver: &Bound<'py, PyDict>,
                                 wver: &Bound<'py, PyDict>, corrupt: &Bound<'py, PySet>,
                                 by_session_ops: bool)
                                 -> PyResult<Option<(Vec<PyObject>, u64, u64, u64, u64)>> {
        struct G {
            first: usize,
            last: usize,
            prev_ret: i64,
            sequential: bool,
            top_r: i64,
            top_w: i64,
        }
        let check_corrupt = !corrupt.is_empty();
        let mut procs: FxMap<i64, usize> = FxMap::default();
        let mut groups: Vec<G> = Vec::new();
        let (mut n_r, mut un_r, mut n_w, mut un_w) = (0u64, 0u64, 0u64, 0u64);
        for (pos, o) in ops.iter().enumerate() {
            let Some(op) = op_tuple(&o) else { return Ok(None) };
            let Some(ty) = type_of(&fld(op, OP_TYPE)) else { return Ok(None) };
            let f = fld(op, OP_F);
            let is_read = match str_eq(&f, "read") {
                Some(true) => true,
                Some(false) if str_eq(&f, "write") == Some(true) => false,
                Some(false) if matches!(str_eq(&f, "cas"), Some(true))
                    || matches!(str_eq(&f, "append"), Some(true))
                    || matches!(str_eq(&f, "add"), Some(true)) => return Ok(None),
                Some(false) => continue, // not a session op
                None => return Ok(None),
            };
            if ty == FAIL || (ty != OK && is_read) {
                continue;
            }
            let extra = fld(op, OP_EXTRA);
            if !extra.is_none() {
                let Ok(d) = extra.downcast_exact::<PyDict>() else { return Ok(None) };
                if d.contains("txn_of")? {
                    continue; // a transaction's write
                }
            }
            let Some(p) = int_of(&fld(op, OP_PROCESS)) else { return Ok(None) };
            let (Some(inv), Some(ret)) = (index_of(&fld(op, OP_INV)), index_of(&fld(op, OP_RET)))
            else { return Ok(None) };
            let gi = *procs.entry(p).or_insert_with(|| {
                groups.push(G { first: pos, last: pos, prev_ret: i64::MIN, sequential: true,
                                top_r: -1, top_w: -1 });
                groups.len() - 1
            });
            let g = &mut groups[gi];
            if !g.sequential || !(g.prev_ret < inv || g.prev_ret == i64::MIN) {
                return Ok(None); // a pipelined session: the general loop's
            }
            g.prev_ret = ret;
            g.last = pos;
            let idx = fld(op, OP_INDEX);
            if is_read {
                if check_corrupt && corrupt.contains(&idx)? {
                    continue;
                }
                let v = match rank_in(rver, &idx)? {
                    Err(()) => return Ok(None),
                    Ok(None) => {
                        un_r += 1;
                        continue;
                    }
                    Ok(Some(v)) => v,
                };
                if v < g.top_w || v < g.top_r {
                    return Ok(None); // read-your-writes or monotonic-reads
                }
                n_r += 1;
                g.top_r = g.top_r.max(v);
                continue;
            }
            let v = match rank_in(wver, &idx)? {
                Err(()) => return Ok(None),
                Ok(None) => {
                    if ty == OK {
                        un_w += 1;
                    }
                    continue;
                }
                Ok(Some(v)) => v,
            };
            if v < g.top_w || v <= g.top_r {
                return Ok(None); // monotonic-writes or writes-follow-reads
            }
            n_w += 1;
            if ty == OK {
                g.top_w = g.top_w.max(v);
            }
        }
        // session ids as passes.py names the groups; one session per process group
        let field = |pos: usize, i: usize| -> PyResult<Bound<'py, PyAny>> {
            ops.get_item(pos)?.downcast_into::<PyTuple>()?.get_item(i)
        };
        let mut sessions: Vec<PyObject> = Vec::with_capacity(groups.len());
        let seen = PySet::empty(py)?;
        for g in &groups {
            let s = field(g.first, if by_session_ops { OP_PROCESS } else { OP_SESSION })?;
            if !by_session_ops && !s.eq(field(g.last, OP_SESSION)?)? {
                return Ok(None); // epochs: the Python grouping splits them
            }
            if seen.add(&s).is_err() {
                return Ok(None);
            }
            sessions.push(s.unbind());
        }
        if seen.len() != sessions.len() {
            return Ok(None); // two groups under one session id: only the Python walk says how
        }
        Ok(Some((sessions, n_r, un_r, n_w, un_w)))
    }

    /// register_no_write_below(ops, rver, wver) -> None (declined) or whether no op's
    /// write version is below a read version of an op earlier in `ops`.
    #[pyfunction]
    fn register_no_write_below(ops: &Bound<'_, PyList>, rver: &Bound<'_, PyDict>,
                               wver: &Bound<'_, PyDict>) -> PyResult<Option<bool>> {
        let mut before = -1i64;
        for o in ops.iter() {
            let Some(op) = op_tuple(&o) else { return Ok(None) };
            let idx = fld(op, OP_INDEX);
            match rank_in(wver, &idx)? {
                Err(()) => return Ok(None),
                Ok(Some(w)) if w < before => return Ok(Some(false)),
                _ => {}
            }
            match rank_in(rver, &idx)? {
                Err(()) => return Ok(None),
                Ok(Some(r)) => before = before.max(r),
                Ok(None) => {}
            }
        }
        Ok(Some(true))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(register_index, m)?)?;
        m.add_function(wrap_pyfunction!(register_staleness, m)?)?;
        m.add_function(wrap_pyfunction!(register_session_key, m)?)?;
        m.add_function(wrap_pyfunction!(register_no_write_below, m)?)?;
        Ok(())
    }
}
