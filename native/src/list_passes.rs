//! The list-append session floors (checkers/session/floors.py), one key per call.
//!
//! `list_session_key` groups one list key's ops into sessions exactly as
//! session/passes.py `_group_key` does and proves, per session, what
//! `_clean_total_sequential` proves: the session is sequential and breaks no floor, so
//! `_pass_floors` would only count it. It returns the counts of those sessions and the
//! positions of the others; Python runs `_pass_floors` itself on exactly those, and
//! builds every anomaly. It declines (returns None, having touched nothing) on any shape
//! but plain op fields, exact-int processes and int versions, and on a process whose ops
//! span several sessions (passes.py splits those; only the Python walk does here).

#[cfg(feature = "python")]
pub mod py {
    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyList, PySet, PyString, PyTuple};

    use crate::queue::py::Fx;
    type FxMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

    // Op field positions and readers shared with set_session.rs (checked by
    // checkers/lists_native.py against Op._fields)
    use crate::set_session::py::{
        as_index, fld, OP_EXTRA, OP_F, OP_INDEX, OP_INV, OP_PROCESS, OP_RET, OP_SESSION, OP_TYPE};

    /// No version (absent from the index's table).
    const NONE: i64 = i64::MIN;

    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Read,  // an ok read
        Cas,   // an ok/info cas: only the general loop judges it
        Write, // write / append / add, ok or info
    }

    struct LOp {
        inv: i64,
        ret: i64,
        kind: Kind,
        ok: bool,
        corrupt: bool,
        ver: i64, // read: version observed; write: version created; NONE: unknown
    }

    /// An exact int's value, or None.
    #[inline]
    fn exact_int(o: &Bound<'_, PyAny>) -> Option<i64> {
        // SAFETY: a live object, the GIL held (we hold a Bound)
        unsafe {
            let p = o.as_ptr();
            if ffi::PyLong_CheckExact(p) == 0 {
                return None;
            }
            let mut overflow: std::os::raw::c_int = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(p, &mut overflow);
            if overflow != 0 || v == NONE {
                return None;
            }
            Some(v)
        }
    }

    fn str_of<'a>(o: &'a Bound<'_, PyAny>) -> Option<&'a str> {
        o.downcast::<PyString>().ok()?.to_str().ok()
    }

    /// The version `table` (read_versions / write_versions) holds for op index `idx`:
    /// Some(NONE) when absent, None (decline) when it is not an int.
    fn version(table: &Bound<'_, PyDict>, idx: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        Ok(match table.get_item(idx)? {
            None => Some(NONE),
            Some(v) => exact_int(&v),
        })
    }

    enum Step {
        Decline,
        Skip,
        Op(i64, LOp),
    }

    /// One op of ix.ops as passes.py's `_group_key` and `_clean_total_sequential` see it.
    fn session_op(op: &Bound<'_, PyTuple>, rver: &Bound<'_, PyDict>, wver: &Bound<'_, PyDict>,
                  corrupt: &Bound<'_, PySet>, check_corrupt: bool) -> PyResult<Step> {
        if op.len() <= OP_EXTRA {
            return Ok(Step::Decline);
        }
        let (t, f) = (fld(op, OP_TYPE), fld(op, OP_F));
        let (Some(t), Some(f)) = (str_of(&t), str_of(&f)) else { return Ok(Step::Decline) };
        let kind = match f {
            "read" => Kind::Read,
            "cas" => Kind::Cas,
            "write" | "append" | "add" => Kind::Write,
            _ => return Ok(Step::Skip),
        };
        if t == "fail" || (t != "ok" && kind == Kind::Read) {
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
        let Some(p) = exact_int(&fld(op, OP_PROCESS)) else { return Ok(Step::Decline) };
        let idx = fld(op, OP_INDEX);
        if exact_int(&idx).is_none() {
            return Ok(Step::Decline);
        }
        let corrupt = check_corrupt && corrupt.contains(&*idx)?;
        let ver = match kind {
            Kind::Read => version(rver, &idx)?,
            Kind::Write => version(wver, &idx)?,
            Kind::Cas => Some(NONE),
        };
        let Some(ver) = ver else { return Ok(Step::Decline) };
        Ok(Step::Op(p, LOp { inv, ret, kind, ok: t == "ok", corrupt, ver }))
    }

    /// `_sequential` and then `_clean_total_sequential` (list kind) on one session: its
    /// counts (n_r, un_r, n_w, un_w), or None when `_pass_floors` must walk it.
    fn clean(ops: &[LOp]) -> Option<[u64; 4]> {
        if !ops.windows(2).all(|w| w[0].ret < w[1].inv) {
            return None;
        }
        let (mut top_r, mut top_w) = (-1i64, -1i64);
        let mut c = [0u64; 4];
        for o in ops {
            match o.kind {
                Kind::Read => {
                    if o.corrupt {
                        continue;
                    }
                    if o.ver == NONE {
                        c[1] += 1;
                        continue;
                    }
                    if o.ver < top_w || o.ver < top_r {
                        return None; // read-your-writes or monotonic-reads
                    }
                    c[0] += 1;
                    if o.ver > top_r && o.ok {
                        top_r = o.ver;
                    }
                }
                Kind::Cas => return None,
                Kind::Write => {
                    if o.ver == NONE {
                        if o.ok {
                            if !o.corrupt {
                                return None; // an append no read saw
                            }
                            c[3] += 1;
                        }
                        continue;
                    }
                    if o.ver < top_w || o.ver <= top_r {
                        return None; // monotonic-writes or writes-follow-reads
                    }
                    c[2] += 1;
                    if o.ver > top_w && o.ok {
                        top_w = o.ver;
                    }
                }
            }
        }
        Some(c)
    }

    /// list_session_key(ops, read_versions, write_versions, corrupt, by_session_ops)
    ///   -> None (declined) or (sessions, counts, dirty): `sessions` the session ids of
    /// passes.py's groups of this key in order, `counts` the summed (n_r, un_r, n_w,
    /// un_w) of the groups proven clean, `dirty` the positions of the others.
    #[pyfunction]
    #[allow(clippy::type_complexity)]
    fn list_session_key<'py>(
        ops: &Bound<'py, PyList>,
        rver: &Bound<'py, PyDict>,
        wver: &Bound<'py, PyDict>,
        corrupt: &Bound<'py, PySet>,
        by_session_ops: bool,
    ) -> PyResult<Option<(Vec<Bound<'py, PyAny>>, (u64, u64, u64, u64), Vec<usize>)>> {
        let check_corrupt = !corrupt.is_empty();
        let mut procs: FxMap<i64, usize> = FxMap::default();
        // per process (first-touch order): its ops, its first and last op's position
        let mut by_p: Vec<(Vec<LOp>, usize, usize)> = Vec::new();
        for (pos, op) in ops.iter().enumerate() {
            let (p, lo) = match session_op(op.downcast::<PyTuple>()?, rver, wver, corrupt,
                                           check_corrupt)? {
                Step::Decline => return Ok(None),
                Step::Skip => continue,
                Step::Op(p, lo) => (p, lo),
            };
            let g = *procs.entry(p).or_insert_with(|| {
                by_p.push((Vec::new(), pos, pos));
                by_p.len() - 1
            });
            by_p[g].0.push(lo);
            by_p[g].2 = pos;
        }
        let field = |pos: usize, i: usize| -> PyResult<Bound<'py, PyAny>> {
            ops.get_item(pos)?.downcast_into::<PyTuple>()?.get_item(i)
        };
        let mut sessions = Vec::with_capacity(by_p.len());
        let mut dirty = Vec::new();
        let mut c = [0u64; 4];
        for (gi, (g, first, last)) in by_p.iter().enumerate() {
            if by_session_ops {
                sessions.push(field(*first, OP_PROCESS)?);
            } else {
                let s = field(*first, OP_SESSION)?;
                if !s.eq(field(*last, OP_SESSION)?)? {
                    return Ok(None); // a process reused after info: passes.py splits it
                }
                sessions.push(s);
            }
            match clean(g) {
                Some(x) => {
                    for i in 0..4 {
                        c[i] += x[i];
                    }
                }
                None => dirty.push(gi),
            }
        }
        Ok(Some((sessions, (c[0], c[1], c[2], c[3]), dirty)))
    }

    const OP_T_INV: usize = 11;
    const OP_T_RET: usize = 12;

    /// What `_measure_key` adds to staleness's `_Accumulator` for one key:
    /// (writes unverifiable, reads skipped, fresh reads, T of each stale read, K of each
    /// stale read, positive visibility lags, writes with no lag).
    type Measured = (u64, u64, u64, Vec<i64>, Vec<i64>, Vec<i64>, u64);

    /// list_staleness_key(writes, reads, write_versions, read_versions, corrupt, t_bound,
    /// k_bound) -> None (declined) or `Measured`: staleness.py `_measure_key`, step for
    /// step, for a key whose op times, indices and versions are all exact ints (info
    /// writes, never measured, may end at +inf). Declines when a read breaks a bound:
    /// the anomaly is Python's to build.
    #[pyfunction]
    #[pyo3(signature = (writes, reads, wver, rver, corrupt, t_bound=None, k_bound=None))]
    fn list_staleness_key<'py>(
        writes: &Bound<'py, PyList>,
        reads: &Bound<'py, PyList>,
        wver: &Bound<'py, PyDict>,
        rver: &Bound<'py, PyDict>,
        corrupt: &Bound<'py, PySet>,
        t_bound: Option<f64>,
        k_bound: Option<f64>,
    ) -> PyResult<Option<Measured>> {
        let check_corrupt = !corrupt.is_empty();
        // W: ok writes with a known rank, as (ret_index, rank, t_ret)
        let mut w: Vec<(i64, i64, i64)> = Vec::with_capacity(writes.len());
        let mut unverifiable = 0u64;
        for op in writes.iter() {
            let op = op.downcast::<PyTuple>()?;
            if op.len() <= OP_EXTRA {
                return Ok(None);
            }
            let t = fld(op, OP_TYPE);
            let Some(t) = str_of(&t) else { return Ok(None) };
            if t != "ok" {
                continue;
            }
            let idx = fld(op, OP_INDEX);
            match version(wver, &idx)? {
                None => return Ok(None),
                Some(NONE) => unverifiable += 1,
                Some(rk) if rk < 0 => return Ok(None), // no Fenwick position
                Some(rk) => {
                    let (Some(ret), Some(t_ret)) =
                        (exact_int(&fld(op, OP_RET)), exact_int(&fld(op, OP_T_RET)))
                    else { return Ok(None) };
                    w.push((ret, rk, t_ret));
                }
            }
        }
        // R: (inv_index, rank, t_inv)
        let mut r: Vec<(i64, i64, i64)> = Vec::with_capacity(reads.len());
        let mut skipped = 0u64;
        for op in reads.iter() {
            let op = op.downcast::<PyTuple>()?;
            if op.len() <= OP_EXTRA {
                return Ok(None);
            }
            let f = fld(op, OP_F);
            let Some(f) = str_of(&f) else { return Ok(None) };
            if f != "read" {
                continue; // a cas observes too, but staleness is about reads
            }
            let idx = fld(op, OP_INDEX);
            let rk = if check_corrupt && corrupt.contains(&*idx)? {
                NONE
            } else {
                match version(rver, &idx)? {
                    None => return Ok(None),
                    Some(v) => v,
                }
            };
            if rk == NONE {
                skipped += 1;
                continue;
            }
            if rk < 0 {
                return Ok(None);
            }
            let (Some(inv), Some(t_inv)) =
                (exact_int(&fld(op, OP_INV)), exact_int(&fld(op, OP_T_INV)))
            else { return Ok(None) };
            r.push((inv, rk, t_inv));
        }
        let (mut tt, mut kk, lags) = (Vec::new(), Vec::new(), Vec::new());
        if r.is_empty() {
            return Ok(Some((unverifiable, skipped, 0, tt, kk, lags, 0)));
        }
        if w.is_empty() {
            return Ok(Some((unverifiable, skipped, r.len() as u64, tt, kk, lags, 0)));
        }
        // A: writes by completion, prefix max of rank
        w.sort_by_key(|x| x.0); // stable, as Python's sort
        let mut pm = Vec::with_capacity(w.len());
        let mut best = -1i64;
        for x in &w {
            best = best.max(x.1);
            pm.push(best);
        }
        // B: writes by rank, suffix min of completion (its t_ret)
        let mut b = w.clone();
        b.sort_by_key(|x| x.1);
        let mut sm = vec![0i64; b.len()];
        let mut cur: Option<(i64, i64)> = None;
        for j in (0..b.len()).rev() {
            if cur.map_or(true, |c| b[j].0 < c.0) {
                cur = Some((b[j].0, b[j].2));
            }
            sm[j] = cur.unwrap().1;
        }
        let mut fresh = 0u64;
        let mut stale: Vec<(i64, i64, i64)> = Vec::new();
        for &(inv, x, t_inv) in &r {
            let i = w.partition_point(|y| y.0 < inv); // bisect_left(a_ret, inv)
            if i == 0 || pm[i - 1] <= x {
                fresh += 1;
                continue;
            }
            let k = pm[i - 1] - x;
            let first = sm[b.partition_point(|y| y.1 <= x)]; // bisect_right(b_rank, x)
            let t = (t_inv - first).max(0);
            if t_bound.is_some_and(|bd| t as f64 > bd) || k_bound.is_some_and(|bd| k as f64 > bd) {
                return Ok(None);
            }
            tt.push(t);
            kk.push(k);
            stale.push((inv, x, t_inv));
        }
        if stale.is_empty() {
            return Ok(Some((unverifiable, skipped, fresh, tt, kk, lags, w.len() as u64)));
        }
        // `_visibility_lags` (registers.rs); a rank outside 0..2^32: declined
        let Some((lags, zeros)) = crate::registers::visibility_lags(&w, &mut stale) else {
            return Ok(None);
        };
        Ok(Some((unverifiable, skipped, fresh, tt, kk, lags, zeros)))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(list_staleness_key, m)?)?;
        m.add_function(wrap_pyfunction!(list_session_key, m)?)?;
        Ok(())
    }
}
