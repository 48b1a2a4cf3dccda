//! The list-append index of one key in one call (checkers/lists_native.py `INDEX`).
//!
//! `list_index(ops)` is versions.py `build_index` + `_build_list` (its fast scan
//! `_list_reads_fast` / lists.rs `list_scan`, then `_list_ranks`) for a key whose every op
//! is a plain `read` or `append` (no extra, so no retry or transaction) with exact-int
//! elements, each appended once, and every ok read a clean prefix of one growing list
//! (no element twice, each appended by a non-failed op invoked before the read ended):
//! the shape on which the Python build reports nothing and marks nothing corrupt. It
//! returns the index's tables and, while the key's ops are at hand (walking a million
//! ops again per family costs more than the work), what the other families need of them
//! (`ListFacts`): staleness.py `_measure_key` without bounds, the session groups
//! `_group_key` makes when every one is sequential and cleared by floors.py
//! `_clean_total_sequential` (list kind) with its counts, the non-failed appends, and
//! whether lost_updates.py `_clean_list` holds (every append ok and the last final read
//! of the nodes together hold them all). Anything else declines (None, nothing built).
//! It only builds tables, counts and proves keys clean; every anomaly and explanation is
//! built in Python, which stays the reference (tests compare both, result for result).

#[cfg(feature = "python")]
pub mod py {
    use pyo3::prelude::*;
    use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};

    use crate::queue::py::Fx;
    use crate::lists::py::Prefix;
    use crate::registers::py::{int_of, session_groups, type_of, SessOp, SessionFacts, FAIL, INFO, OK};
    use crate::registers::StaleOut;
    use crate::set_session::py::{
        as_index, fld, OP_EXTRA, OP_F, OP_INDEX, OP_INV, OP_PROCESS, OP_RET, OP_TYPE,
        OP_VALUE};
    type FxMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

    const OP_NODE: usize = 10;
    const OP_T_INV: usize = 11;
    const OP_T_RET: usize = 12;
    const OP_FINAL: usize = 15;

    /// One op of the key (ok reads and appends; other reads are not recorded).
    struct Rec {
        pos: usize,
        is_read: bool,
        ty: u8,
        elem: i64, // an append's element
        inv: i64,
        ret: i64,
        t: Option<i64>,       // reads: t_inv; appends: t_ret (None: not an exact int)
        process: Option<i64>, // None: not an exact int
        len: usize,           // a read's length (its rank)
    }

    /// A final read's place in its node's order: (t_inv, inv index, position, length).
    type Last = (i64, i64, usize, usize);

    /// The session groups of the key when each is sequential and `_clean_total_sequential`
    /// (list kind, nothing corrupt) clears it; None when the Python passes must decide.
    fn session_facts<'py>(py: Python<'py>, ops: &Bound<'py, PyList>, recs: &[Rec],
                          wrank: &[Option<i64>]) -> PyResult<Option<SessionFacts>> {
        let sops: Vec<SessOp> = recs.iter().zip(wrank).map(|(r, &w)| SessOp {
            pos: r.pos, ty: r.ty, process: r.process, inv: r.inv, ret: r.ret,
            is_read: r.is_read, rank: if r.is_read { Some(r.len as i64) } else { w },
        }).collect();
        session_groups(py, ops, &sops, true)
    }

    /// staleness.py `_measure_key` without bounds; None when a time is not an exact int.
    fn staleness(recs: &[Rec], wrank: &[Option<i64>]) -> Option<StaleOut> {
        let mut unverifiable = 0u64;
        let mut w_: Vec<(i64, i64, i64)> = Vec::new(); // (ret_index, rank, t_ret)
        let mut r_: Vec<(i64, i64, i64)> = Vec::new(); // (inv_index, rank, t_inv)
        for (j, r) in recs.iter().enumerate() {
            if r.is_read {
                r_.push((r.inv, r.len as i64, r.t?));
            } else if r.ty == OK {
                match wrank[j] {
                    None => unverifiable += 1,
                    Some(rk) => w_.push((r.ret, rk, r.t?)),
                }
            }
        }
        crate::registers::measure(w_, r_, unverifiable, 0)
    }

    type Facts = (Option<StaleOut>, Option<SessionFacts>, u64, bool, Option<(i64, usize)>);
    type IndexOut = (Py<PyList>, Py<PyList>, Py<PyList>, Py<PyDict>, Py<PyDict>, Py<PyDict>,
                     Py<PyList>, Py<PyList>, Py<PyList>, usize, u64, Facts);

    /// list_index(ops) -> None (declined) or (reads, writes, wvals, writer, rver, wver,
    /// by_rank, evidence, order, max_rank, unverifiable_writes, facts): the VersionIndex
    /// tables of one list key (see the module doc for the shape it takes) and facts =
    /// (staleness, session facts, appends that did not fail, lost_updates' clean key,
    /// (least t_inv, length) of the ok final reads when all are as long).
    #[pyfunction]
    fn list_index<'py>(py: Python<'py>, ops: &Bound<'py, PyList>) -> PyResult<Option<IndexOut>> {
        let mut recs: Vec<Rec> = Vec::with_capacity(ops.len());
        let mut winv: FxMap<i64, i64> = FxMap::default(); // element -> non-failed writer's inv
        let mut written: FxMap<i64, usize> = FxMap::default(); // element -> its append's rec
        let mut read_vals: Vec<Option<Bound<'py, PyList>>> = Vec::new(); // per read rec
        // final reads: node (None or a str) -> the last one; `finals_ok` false when a
        // final flag or node is not of a shape the grouping here mirrors
        let mut last_final: Vec<(Option<String>, Last)> = Vec::new();
        let mut finals_ok = true;
        // every ok final read: (the least t_inv, its read number) and whether all are as long
        let mut first_final: Option<(i64, usize)> = None;
        let mut final_reads: Vec<usize> = Vec::new();
        for (pos, o) in ops.iter().enumerate() {
            let Ok(op) = o.downcast::<PyTuple>() else { return Ok(None) };
            if op.len() <= OP_EXTRA || !fld(op, OP_EXTRA).is_none() {
                return Ok(None); // retries, transactions: the Python build's
            }
            let Some(ty) = type_of(&fld(op, OP_TYPE)) else { return Ok(None) };
            let f = fld(op, OP_F);
            let Ok(f) = f.downcast_exact::<PyString>() else { return Ok(None) };
            let is_read = match f.to_str()? {
                "read" => true,
                "append" => false,
                _ => return Ok(None),
            };
            let fin = fld(op, OP_FINAL);
            let is_final = if fin.is_exact_instance_of::<PyBool>() {
                fin.is_truthy()?
            } else {
                finals_ok = false;
                false
            };
            if is_read && ty != OK {
                continue; // info/fail reads carry no value
            }
            if int_of(&fld(op, OP_INDEX)).is_none() {
                return Ok(None);
            }
            let (Some(inv), Some(ret)) = (as_index(&fld(op, OP_INV)), as_index(&fld(op, OP_RET)))
            else { return Ok(None) };
            let t = int_of(&fld(op, if is_read { OP_T_INV } else { OP_T_RET }));
            let process = int_of(&fld(op, OP_PROCESS));
            let v = fld(op, OP_VALUE);
            let mut elem = 0;
            if is_read {
                if v.is_none() {
                    read_vals.push(None);
                } else {
                    let Ok(l) = v.downcast_exact::<PyList>() else { return Ok(None) };
                    read_vals.push(Some(l.clone()));
                }
            } else {
                let Some(e) = int_of(&v) else { return Ok(None) };
                if written.insert(e, recs.len()).is_some() {
                    return Ok(None); // appended twice: duplicates, the Python build's
                }
                if ty != FAIL {
                    winv.insert(e, inv);
                }
                elem = e;
            }
            if is_read && is_final {
                let node = fld(op, OP_NODE);
                let name = if node.is_none() {
                    Some(None)
                } else {
                    node.downcast_exact::<PyString>().ok().and_then(|s| s.to_str().ok())
                        .map(|s| Some(s.to_owned()))
                };
                match (name, t) {
                    (Some(name), Some(t_inv)) => {
                        let me: Last = (t_inv, inv, pos, read_vals.len() - 1);
                        final_reads.push(me.3);
                        if first_final.map_or(true, |(t0, _)| t_inv < t0) {
                            first_final = Some((t_inv, me.3));
                        }
                        match last_final.iter_mut().find(|(n, _)| *n == name) {
                            // Python's stable sort by (t_inv, inv_index), then its last
                            Some((_, l)) => if (me.0, me.1) >= (l.0, l.1) { *l = me },
                            None => last_final.push((name, me)),
                        }
                    }
                    _ => finals_ok = false,
                }
            }
            recs.push(Rec { pos, is_read, ty, elem, inv, ret, t, process, len: 0 });
        }
        // `_list_reads_fast`: every read a clean prefix of one growing reference list
        let mut prefix = Prefix::new();
        let mut longest: Option<usize> = None; // the read rec holding the longest list
        let mut first_of_len: FxMap<usize, usize> = FxMap::default(); // length -> first read rec
        let mut firsts: Vec<(usize, usize)> = Vec::new();
        let mut ri = 0usize;
        for (j, r) in recs.iter_mut().enumerate() {
            if !r.is_read {
                continue;
            }
            let val = &read_vals[ri];
            ri += 1;
            let m = match val {
                None => 0,
                Some(l) => {
                    let n = prefix.reference.len();
                    let Some(m) = prefix.read(l, r.ret, |x| winv.get(&x).copied()) else {
                        return Ok(None);
                    };
                    if m > n {
                        longest = Some(j);
                    }
                    m
                }
            };
            r.len = m;
            if let std::collections::hash_map::Entry::Vacant(e) = first_of_len.entry(m) {
                e.insert(j);
                firsts.push((m, j));
            }
        }
        let reference = prefix.reference;
        let n = reference.len();
        let rank: FxMap<i64, usize> = reference.iter().enumerate().map(|(i, &e)| (e, i + 1)).collect();
        let item = |pos: usize, i: usize| -> PyResult<Bound<'py, PyAny>> {
            ops.get_item(pos)?.downcast_into::<PyTuple>()?.get_item(i)
        };
        // `_list_evidence`: rank p -> the first read of the shortest length >= p
        firsts.sort_unstable();
        let none = py.None();
        let mut evidence: Vec<PyObject> = Vec::with_capacity(n + 1);
        evidence.push(none.clone_ref(py));
        let mut done = 0;
        for (m, j) in firsts {
            if m > done {
                let idx = item(recs[j].pos, OP_INDEX)?.unbind();
                evidence.extend((done..m).map(|_| idx.clone_ref(py)));
                done = m;
            }
        }
        evidence.extend((done..n).map(|_| none.clone_ref(py)));
        let order = match longest {
            None => PyList::empty(py),
            Some(j) => {
                let l = read_vals[recs[..j].iter().filter(|r| r.is_read).count()].as_ref();
                PyList::new(py, l.expect("the longest read holds a list").iter())?
            }
        };
        // `_list_ranks`: each non-failed append of an element of the order has its rank
        let wrank: Vec<Option<i64>> = recs.iter().map(|r| {
            if r.is_read || r.ty == FAIL { None } else { rank.get(&r.elem).map(|&p| p as i64) }
        }).collect();
        let py_reads = PyList::empty(py);
        let rver = PyDict::new(py);
        for r in recs.iter().filter(|r| r.is_read) {
            let op = ops.get_item(r.pos)?;
            rver.set_item(op.downcast::<PyTuple>()?.get_item(OP_INDEX)?, r.len)?;
            py_reads.append(op)?;
        }
        let mut by_rank: Vec<PyObject> = (0..=n).map(|_| none.clone_ref(py)).collect();
        let py_writes = PyList::empty(py);
        let wvals = PyList::empty(py);
        let writer = PyDict::new(py);
        let wver = PyDict::new(py);
        let (mut unverifiable, mut nonfail, mut n_ok) = (0u64, 0u64, 0u64);
        for (j, w) in recs.iter().enumerate().filter(|(_, r)| !r.is_read) {
            let op = ops.get_item(w.pos)?;
            let t = op.downcast::<PyTuple>()?;
            let v = t.get_item(OP_VALUE)?;
            match w.ty {
                OK => { nonfail += 1; n_ok += 1 }
                INFO => nonfail += 1,
                _ => {}
            }
            match wrank[j] {
                Some(rk) => {
                    wver.set_item(t.get_item(OP_INDEX)?, rk)?;
                    by_rank[rk as usize] = op.clone().unbind();
                }
                None if w.ty == OK => unverifiable += 1,
                None => {}
            }
            writer.set_item(&v, &op)?;
            wvals.append(v)?;
            py_writes.append(op)?;
        }
        let n_writes = py_writes.len() as u64;
        // lost_updates `_clean_list`: every append ok and the union of each node's last
        // final read (prefixes of the order, so the longest one's elements) all of them
        let final_clean = finals_ok && n_writes > 0 && n_ok == n_writes && !last_final.is_empty()
            && last_final.iter().map(|(_, l)| read_len(&read_vals, l.3)).max()
                == Some(n_writes as usize);
        // convergence.py: every ok final read as long as the others (prefixes of one list:
        // the same value), so (the earliest one's t_inv, their length)
        let same = |k: &usize| read_len(&read_vals, *k);
        let final_same = match (finals_ok, first_final) {
            (true, Some((t_first, k))) if final_reads.iter().all(|j| same(j) == same(&k)) =>
                Some((t_first, same(&k))),
            _ => None,
        };
        let facts = (staleness(&recs, &wrank), session_facts(py, ops, &recs, &wrank)?, nonfail,
                     final_clean, final_same);
        Ok(Some((py_reads.unbind(), py_writes.unbind(), wvals.unbind(), writer.unbind(),
                 rver.unbind(), wver.unbind(), PyList::new(py, by_rank)?.unbind(),
                 PyList::new(py, evidence)?.unbind(), order.unbind(), n, unverifiable, facts)))
    }

    /// The length of read number `k` (in read order).
    fn read_len(read_vals: &[Option<Bound<'_, PyList>>], k: usize) -> usize {
        read_vals[k].as_ref().map_or(0, |l| l.len())
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(list_index, m)?)?;
        Ok(())
    }
}
