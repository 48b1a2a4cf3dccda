//! The register workload's hot per-key pass, one key per call (checkers/registers_native.py).
//!
//! `register_index(ops)` is versions.py `build_index` + `_build_versioned` for a key whose
//! every op is a plain read or write (no extra, so no retry or transaction), with
//! int/str/None values, each value written once, every read's value written by a
//! non-failed op invoked no later than the read completed, and one version per value and
//! one value per version: the shape on which the Python build reports nothing, marks
//! nothing corrupt and takes its C-level fast paths. It returns the index's tables and,
//! computed while the key's ops are at hand (touching a million ops again per family
//! costs more than the work), what the other families need of them: staleness.py
//! `_measure_key` without bounds, the session groups `_group_key` makes when each is
//! sequential and cleared by floors.py `_clean_total_sequential` (with its counts), and
//! lost_updates.py `_no_write_below_an_earlier_read`. Anything else declines (None).
//! It only builds tables, counts and proves keys clean; every anomaly and explanation is
//! built in Python, which stays the reference (tests compare both, result for result).

/// staleness.py `_visibility_lags` for one key: `writes` are (ret index, rank, t_ret) in
/// ret order, `stale` the stale reads' (inv index, rank read, t_inv) (sorted here); a
/// Fenwick tree over rank+1 keeps the prefix max of the stale reads' t_inv. Returns the
/// positive lags and the count of writes with none; None when a rank is outside
/// 0..2^32 (the caller declines to the Python code). Shared by the register and list
/// staleness passes (list_passes.rs).
pub(crate) fn visibility_lags(writes: &[(i64, i64, i64)], stale: &mut [(i64, i64, i64)])
                              -> Option<(Vec<i64>, u64)> {
    let top = writes.iter().chain(stale.iter()).map(|x| x.1).max()?;
    let low = writes.iter().chain(stale.iter()).map(|x| x.1).min()?;
    if low < 0 || top + 1 > (1 << 32) {
        return None;
    }
    let max_rank = (top + 1) as usize;
    // -1 below every time, as Python's -1.0 (a read time below it never counts)
    let mut tree = vec![-1i64; max_rank + 1];
    stale.sort_by(|a, b| b.0.cmp(&a.0)); // newest invocation first
    let (mut lags, mut zeros, mut j) = (Vec::new(), 0u64, 0);
    for &(ret, rk, t_ret) in writes.iter().rev() {
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
            zeros += 1;
        }
    }
    Some((lags, zeros))
}

/// staleness.py `_measure_key` without bounds, from a key's ok writes with a known rank
/// (ret index, rank, t_ret), in op order, and its measured reads (inv index, rank, t_inv),
/// in op order: (unverifiable writes, reads skipped, fresh reads, T of stale reads, K of
/// stale reads, positive visibility lags, writes with no lag); None when a rank is
/// outside 0..2^32. Shared by the register and list index passes.
pub(crate) fn measure(mut w_: Vec<(i64, i64, i64)>, r_: Vec<(i64, i64, i64)>, unverifiable: u64,
                      skipped: u64) -> Option<StaleOut> {
    if r_.is_empty() {
        return Some((unverifiable, skipped, 0, vec![], vec![], vec![], 0));
    }
    if w_.is_empty() {
        return Some((unverifiable, skipped, r_.len() as u64, vec![], vec![], vec![], 0));
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
    let (lags, lag_zero) = if stale.is_empty() {
        (Vec::new(), w_.len() as u64)
    } else {
        crate::registers::visibility_lags(&w_, &mut stale)?
    };
    Some((unverifiable, skipped, fresh, tt, kk, lags, lag_zero))
}

pub(crate) type StaleOut = (u64, u64, u64, Vec<i64>, Vec<i64>, Vec<i64>, u64);

#[cfg(feature = "python")]
pub mod py {
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyInt, PyList, PySet, PyString, PyTuple};

    use crate::queue::py::{Fx, OP_F, OP_INDEX, OP_TYPE};
    // an op index: an exact int, or float infinity (an info op's completion) as i64::MAX
    use crate::set_session::py::as_index;
    type FxMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

    // Op field positions beyond queue.rs's (harness/history.py; checked by
    // checkers/registers_native.py)
    const OP_INV: usize = 1;
    const OP_RET: usize = 2;
    const OP_PROCESS: usize = 3;
    const OP_SESSION: usize = 4;
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
    pub(crate) fn int_of(o: &Bound<'_, PyAny>) -> Option<i64> {
        if o.is_exact_instance_of::<PyInt>() {
            return o.extract::<i64>().ok();
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

    pub(crate) const OK: u8 = 0;
    pub(crate) const INFO: u8 = 1;
    pub(crate) const FAIL: u8 = 2;

    pub(crate) fn type_of(o: &Bound<'_, PyAny>) -> Option<u8> {
        let s = o.downcast_exact::<PyString>().ok()?;
        match s.to_str().ok()? {
            "ok" => Some(OK),
            "info" => Some(INFO),
            "fail" => Some(FAIL),
            _ => None,
        }
    }

    /// One op of the key as every pass needs it (ops order).
    struct Rec {
        pos: usize,
        is_read: bool,   // an ok read (other reads are not recorded)
        ty: u8,
        val: Option<u32>,
        version: Option<i64>,
        inv: i64,
        ret: i64,
        t: Option<i64>,       // reads: t_inv; writes: t_ret (None: not an exact int)
        process: Option<i64>, // None: not an exact int
    }

    /// The session facts of the key: the sessions of passes.py's groups (as
    /// `_group_key` names them without / with `continue_session_after_info`; None when
    /// the Python grouping must decide) and `_clean_total_sequential`'s counts, when every
    /// group is sequential and clean.
    pub(crate) type SessionFacts = (Option<Vec<PyObject>>, Option<Vec<PyObject>>, u64, u64, u64, u64);

    /// One session op of a key for `session_groups`: its position in the key's ops, type,
    /// process (None: not an exact int), inv and ret indices, whether it is an ok read,
    /// and the rank it observed (reads) or created (writes), None when unknown.
    pub(crate) struct SessOp {
        pub pos: usize,
        pub ty: u8,
        pub process: Option<i64>,
        pub inv: i64,
        pub ret: i64,
        pub is_read: bool,
        pub rank: Option<i64>,
    }

    fn session_facts<'py>(py: Python<'py>, ops: &Bound<'py, PyList>, recs: &[Rec],
                          rrank: &[Option<i64>], wrank: &[Option<i64>])
                          -> PyResult<Option<SessionFacts>> {
        let sops: Vec<SessOp> = recs.iter().enumerate().map(|(j, r)| SessOp {
            pos: r.pos, ty: r.ty, process: r.process, inv: r.inv, ret: r.ret,
            is_read: r.is_read, rank: if r.is_read { rrank[j] } else { wrank[j] },
        }).collect();
        session_groups(py, ops, &sops, false)
    }

    /// The session facts of one key's ops (see `SessionFacts`), shared by the register and
    /// list index passes: `_clean_total_sequential` of the register kind, or of the list
    /// kind (`unranked_ok_write_dirty`: an ok write without a rank leaves the session to
    /// `_pass_floors` instead of counting it unverifiable).
    pub(crate) fn session_groups<'py>(py: Python<'py>, ops: &Bound<'py, PyList>,
                                      sops: &[SessOp], unranked_ok_write_dirty: bool)
                                      -> PyResult<Option<SessionFacts>> {
        struct G {
            first: usize,
            last: usize,
            prev_ret: Option<i64>,
            top_r: i64,
            top_w: i64,
        }
        let mut procs: FxMap<i64, usize> = FxMap::default();
        let mut groups: Vec<G> = Vec::new();
        let (mut n_r, mut un_r, mut n_w, mut un_w) = (0u64, 0u64, 0u64, 0u64);
        for r in sops {
            if r.ty == FAIL {
                continue; // passes.py's filter (non-ok reads were never recorded)
            }
            let Some(p) = r.process else { return Ok(None) };
            let gi = *procs.entry(p).or_insert_with(|| {
                groups.push(G { first: r.pos, last: r.pos, prev_ret: None, top_r: -1, top_w: -1 });
                groups.len() - 1
            });
            let g = &mut groups[gi];
            if g.prev_ret.is_some_and(|x| x >= r.inv) {
                return Ok(None); // a pipelined session: the general loop's
            }
            g.prev_ret = Some(r.ret);
            g.last = r.pos;
            if r.is_read {
                let Some(v) = r.rank else {
                    un_r += 1;
                    continue;
                };
                if v < g.top_w || v < g.top_r {
                    return Ok(None); // read-your-writes or monotonic-reads
                }
                n_r += 1;
                g.top_r = g.top_r.max(v);
                continue;
            }
            let Some(v) = r.rank else {
                if r.ty == OK {
                    if unranked_ok_write_dirty {
                        return Ok(None); // an ok append no read saw: _pass_floors judges it
                    }
                    un_w += 1;
                }
                continue;
            };
            if v < g.top_w || v <= g.top_r {
                return Ok(None); // monotonic-writes or writes-follow-reads
            }
            n_w += 1;
            if r.ty == OK {
                g.top_w = g.top_w.max(v);
            }
        }
        let field = |pos: usize, i: usize| -> PyResult<Bound<'py, PyAny>> {
            ops.get_item(pos)?.downcast_into::<PyTuple>()?.get_item(i)
        };
        // one name per group, distinct (else the Python dict merges groups: its walk's)
        let unique = |names: &Vec<PyObject>| -> PyResult<bool> {
            let seen = PySet::empty(py)?;
            for s in names {
                if seen.add(s.bind(py)).is_err() {
                    return Ok(false);
                }
            }
            Ok(seen.len() == names.len())
        };
        let mut by_session: Option<Vec<PyObject>> = Some(Vec::with_capacity(groups.len()));
        let mut by_process: Vec<PyObject> = Vec::with_capacity(groups.len());
        for g in &groups {
            by_process.push(field(g.first, OP_PROCESS)?.unbind());
            if let Some(names) = by_session.as_mut() {
                let s = field(g.first, OP_SESSION)?;
                if s.eq(field(g.last, OP_SESSION)?)? {
                    names.push(s.unbind());
                } else {
                    by_session = None; // epochs: the Python grouping splits them
                }
            }
        }
        if let Some(names) = &by_session {
            if !unique(names)? {
                by_session = None;
            }
        }
        let by_process = if unique(&by_process)? { Some(by_process) } else { None };
        Ok(Some((by_session, by_process, n_r, un_r, n_w, un_w)))
    }

    use crate::registers::StaleOut;

    /// staleness.py `_measure_key` without bounds (no anomalies): (unverifiable writes,
    /// reads skipped, fresh reads, T of stale reads, K of stale reads, positive
    /// visibility lags, writes with no lag); None when a time is not an exact int.
    fn staleness(recs: &[Rec], rrank: &[Option<i64>], wrank: &[Option<i64>]) -> Option<StaleOut> {
        let mut unverifiable = 0u64;
        let mut skipped = 0u64;
        let mut w_: Vec<(i64, i64, i64)> = Vec::new(); // (ret_index, rank, t_ret)
        let mut r_: Vec<(i64, i64, i64)> = Vec::new(); // (inv_index, rank, t_inv)
        for (j, r) in recs.iter().enumerate() {
            if r.is_read {
                match rrank[j] {
                    None => skipped += 1,
                    Some(rk) => r_.push((r.inv, rk, r.t?)),
                }
            } else if r.ty == OK {
                match wrank[j] {
                    None => unverifiable += 1,
                    Some(rk) => w_.push((r.ret, rk, r.t?)),
                }
            }
        }
        crate::registers::measure(w_, r_, unverifiable, skipped)
    }

    type Facts = (Option<StaleOut>, Option<SessionFacts>, bool, i64, u64, u64);
    type IndexOut = (Py<PyList>, Py<PyList>, Py<PyList>, Py<PyDict>, Py<PyDict>, Py<PyDict>,
                     Py<PyList>, Py<PyList>, usize, u64, Facts);

    /// register_index(ops) -> None (declined) or (reads, writes, wvals, writer, rver, wver,
    /// by_rank, evidence, max_rank, unverifiable_writes, facts): the VersionIndex tables
    /// of one versioned key (see the module doc for the shape it takes) and what the
    /// other families need of its ops, computed while they are at hand: facts =
    /// (staleness, session facts, no write below an earlier read, the highest rank of an
    /// ok write (-1: none), writes that did not fail, ok writes).
    #[pyfunction]
    fn register_index<'py>(py: Python<'py>, ops: &Bound<'py, PyList>) -> PyResult<Option<IndexOut>> {
        let mut ids: FxMap<Val, u32> = FxMap::default();
        let mut recs: Vec<Rec> = Vec::with_capacity(ops.len());
        let mut writer: Vec<Option<usize>> = Vec::new(); // value id -> its write's rec
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
            let (Some(inv), Some(ret)) = (as_index(&fld(op, OP_INV)), as_index(&fld(op, OP_RET)))
            else { return Ok(None) };
            let t = int_of(&fld(op, if is_read { OP_T_INV } else { OP_T_RET }));
            let process = int_of(&fld(op, OP_PROCESS));
            if let (false, Some(i)) = (is_read, id) {
                if writer[i as usize].is_some() {
                    return Ok(None); // written twice (P1): duplicates, the Python build's
                }
                writer[i as usize] = Some(recs.len());
            }
            recs.push(Rec { pos, is_read, ty, val: id, version, inv, ret, t, process });
        }
        // every read's value: a non-failed sole writer invoked no later than the read ended
        for r in recs.iter().filter(|r| r.is_read) {
            if let Some(i) = r.val {
                match writer[i as usize] {
                    Some(w) if recs[w].ty != FAIL && recs[w].inv <= r.ret => {}
                    _ => return Ok(None), // garbage / aborted / future: the audit's
                }
            }
        }
        // observations (value, version, op position) in _build_versioned's order
        let mut obs: Vec<(u32, i64, usize)> = Vec::new();
        for r in recs.iter().filter(|r| r.is_read) {
            if let (Some(i), Some(v)) = (r.val, r.version) {
                obs.push((i, v, r.pos));
            }
        }
        for w in recs.iter().filter(|r| !r.is_read) {
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
        // each op's observed (read) and created (write) rank, as rver / wver hold them
        let rrank: Vec<Option<i64>> = recs.iter().map(|r| match (r.is_read, r.val) {
            (false, _) => None,
            (true, None) => Some(0),
            (true, Some(i)) => rank[i as usize].map(|x| x as i64),
        }).collect();
        let wrank: Vec<Option<i64>> = recs.iter().map(|r| match (r.is_read, r.val) {
            (false, Some(i)) if r.ty != FAIL => rank[i as usize].map(|x| x as i64),
            _ => None,
        }).collect();
        let item = |pos: usize, i: usize| -> PyResult<Bound<'py, PyAny>> {
            ops.get_item(pos)?.downcast_into::<PyTuple>()?.get_item(i)
        };
        let none = py.None();
        let mut by_rank: Vec<PyObject> = (0..=max_rank).map(|_| none.clone_ref(py)).collect();
        let mut evidence: Vec<PyObject> = (0..=max_rank).map(|_| none.clone_ref(py)).collect();
        for i in 0..n_vals {
            if let Some(rk) = rank[i] {
                by_rank[rk] = ops.get_item(recs[writer[i].unwrap()].pos)?.unbind();
                evidence[rk] = item(first[i], OP_INDEX)?.unbind();
            }
        }
        let py_reads = PyList::empty(py);
        let rver = PyDict::new(py);
        for r in recs.iter().filter(|r| r.is_read) {
            let op = ops.get_item(r.pos)?;
            if r.val.is_none() {
                rver.set_item(op.downcast::<PyTuple>()?.get_item(OP_INDEX)?, 0)?;
            }
            py_reads.append(op)?;
        }
        for r in recs.iter().filter(|r| r.is_read) {
            if let Some(rk) = r.val.and_then(|i| rank[i as usize]) {
                rver.set_item(item(r.pos, OP_INDEX)?, rk)?;
            }
        }
        let py_writes = PyList::empty(py);
        let wvals = PyList::empty(py);
        let writer_d = PyDict::new(py);
        let wver = PyDict::new(py);
        let mut unverifiable: u64 = 0;
        let (mut max_ok, mut nonfail, mut n_ok) = (-1i64, 0u64, 0u64);
        for (j, w) in recs.iter().enumerate().filter(|(_, r)| !r.is_read) {
            let op = ops.get_item(w.pos)?;
            let t = op.downcast::<PyTuple>()?;
            let v = t.get_item(OP_VALUE)?;
            if w.ty != FAIL {
                nonfail += 1;
            }
            if w.ty == OK {
                n_ok += 1;
            }
            if w.val.is_some() {
                writer_d.set_item(&v, &op)?;
                match wrank[j] {
                    Some(rk) => {
                        wver.set_item(t.get_item(OP_INDEX)?, rk)?;
                        if w.ty == OK {
                            max_ok = max_ok.max(rk);
                        }
                    }
                    None if w.ty == OK => unverifiable += 1,
                    None => {}
                }
            }
            wvals.append(v)?;
            py_writes.append(op)?;
        }
        // lost_updates.py `_no_write_below_an_earlier_read`, over every op in order
        let mut before = -1i64;
        let mut no_write_below = true;
        for j in 0..recs.len() {
            if wrank[j].is_some_and(|w| w < before) {
                no_write_below = false;
                break;
            }
            if let Some(r) = rrank[j] {
                before = before.max(r);
            }
        }
        let facts = (staleness(&recs, &rrank, &wrank),
                     session_facts(py, ops, &recs, &rrank, &wrank)?, no_write_below, max_ok,
                     nonfail, n_ok);
        Ok(Some((py_reads.unbind(), py_writes.unbind(), wvals.unbind(), writer_d.unbind(),
                 rver.unbind(), wver.unbind(), PyList::new(py, by_rank)?.unbind(),
                 PyList::new(py, evidence)?.unbind(), max_rank, unverifiable, facts)))
    }

    const OP_KEY: usize = 7;

    /// group_ops_by_key(ops) -> (groups, snapshots, multi): versions.py `group_by_key`
    /// (key -> its ops in order; the ok reads of tuple keys; how many ops name a tuple
    /// key), with Python's own dict doing every hash and comparison.
    #[pyfunction]
    fn group_ops_by_key<'py>(py: Python<'py>, ops: &Bound<'py, PyList>)
                             -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyList>, u64)> {
        let groups = PyDict::new(py);
        let snapshots = PyList::empty(py);
        let mut multi = 0u64;
        for o in ops.iter() {
            let op = o.downcast::<PyTuple>()?;
            let k = op.get_item(OP_KEY)?;
            if k.is_exact_instance_of::<PyTuple>() {
                multi += 1;
                if str_eq(&op.get_item(OP_F)?, "read") == Some(true)
                    && str_eq(&op.get_item(OP_TYPE)?, "ok") == Some(true) {
                    snapshots.append(&o)?;
                }
                continue;
            }
            match groups.get_item(&k)? {
                Some(g) => g.downcast::<PyList>()?.append(&o)?,
                None => groups.set_item(&k, PyList::new(py, [&o])?)?,
            }
        }
        Ok((groups, snapshots, multi))
    }

    const OP_T_RET_SEEN: usize = 13;

    /// last_write_time(ops) -> None (declined: a time that is not an exact int) or
    /// (found, time): convergence.py `_quiet_time`'s loop over the ops, the latest
    /// `t_ret_seen` (else `t_inv`) of a write-like op, as the op's own object.
    #[pyfunction]
    fn last_write_time<'py>(py: Python<'py>, ops: &Bound<'py, PyList>)
                            -> PyResult<Option<(bool, PyObject)>> {
        let mut best: Option<(i64, PyObject)> = None;
        for o in ops.iter() {
            let Some(op) = op_tuple(&o) else { return Ok(None) };
            let f = fld(op, OP_F);
            let Ok(f) = f.downcast_exact::<PyString>() else { return Ok(None) };
            if !matches!(f.to_str()?, "write" | "cas" | "append" | "add") {
                continue;
            }
            let seen = fld(op, OP_T_RET_SEEN);
            let tv = if seen.is_none() { fld(op, OP_T_INV) } else { seen };
            let Some(t) = int_of(&tv) else { return Ok(None) };
            if best.as_ref().map_or(true, |b| t > b.0) {
                best = Some((t, tv.to_owned().unbind()));
            }
        }
        Ok(Some(match best {
            None => (false, py.None()),
            Some((_, o)) => (true, o),
        }))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(last_write_time, m)?)?;
        m.add_function(wrap_pyfunction!(group_ops_by_key, m)?)?;
        m.add_function(wrap_pyfunction!(register_index, m)?)?;
        Ok(())
    }
}
