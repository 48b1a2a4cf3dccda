//! The list-append index's read scan (checkers/versions.py `_list_reads_fast`), step for
//! step on the same Python objects, for keys whose elements are all plain ints.
//!
//! Only lengths and read positions are computed here; the VersionIndex tables, every
//! anomaly and explanation stay in Python. `list_scan` declines (returns None, having
//! touched nothing) on any shape the Python scan would decline or that is not a plain
//! int, so the Python scan (and behind it the per-read reference path) decides.

#[cfg(feature = "python")]
pub mod py {
    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyList, PyTuple};
    use std::collections::{HashMap, HashSet};

    use crate::queue::py::{str_is, OP_F, OP_INDEX, OP_TYPE};

    // Op is a NamedTuple (harness/history.py); checkers/lists_native.py checks these
    // field positions (and queue.rs's OP_*) against `Op._fields` before it uses
    // `list_scan`.
    const OP_INV_INDEX: usize = 1;
    const OP_RET_INDEX: usize = 2;
    const OP_VALUE: usize = 8;

    /// A plain int's value (not a bool, not beyond i64), else None.
    fn plain_int(o: &Bound<'_, PyAny>) -> Option<i64> {
        // SAFETY: a live object, the GIL held (we hold a Bound)
        unsafe { raw_int(o.as_ptr()) }
    }

    /// `plain_int` on a borrowed pointer: the exact-type test and the C conversion
    /// only, as this runs once per element of every read.
    ///
    /// SAFETY: `o` is a live object and the GIL is held.
    #[inline]
    unsafe fn raw_int(o: *mut ffi::PyObject) -> Option<i64> {
        if ffi::Py_TYPE(o) != std::ptr::addr_of_mut!(ffi::PyLong_Type) {
            return None;
        }
        let mut overflow: std::os::raw::c_int = 0;
        let x = ffi::PyLong_AsLongAndOverflow(o, &mut overflow);
        if overflow != 0 {
            return None;
        }
        Some(x as i64)
    }

    /// element -> invocation index of its sole writer when that writer did not fail
    /// (versions.py's `winv`); None when some writer's invocation index is not an int.
    fn writer_invocations(writer: &Bound<'_, PyDict>) -> PyResult<Option<HashMap<i64, i64>>> {
        let mut winv = HashMap::with_capacity(writer.len());
        for (e, w) in writer.iter() {
            let Ok(w) = w.downcast::<PyTuple>() else { return Ok(None) };
            if str_is(&w.get_item(OP_TYPE)?, "fail") {
                continue;
            }
            let Some(inv) = plain_int(&w.get_item(OP_INV_INDEX)?) else { return Ok(None) };
            if let Some(e) = plain_int(&e) {
                // a non-int element is never looked up: a read holding one declines
                winv.insert(e, inv);
            }
        }
        Ok(Some(winv))
    }

    /// `_list_reads_fast` over `reads` (one key's ok reads, invocation order) with the
    /// key's `writer` table (element -> sole writer op): (each read's length, position of
    /// the longest read or None, each rank's evidence: rank 0 None, rank p the index of
    /// the first read of the shortest length >= p), or None when the Python scan must
    /// decide.
    #[pyfunction]
    #[allow(clippy::type_complexity)]
    fn list_scan<'py>(
        reads: &Bound<'py, PyList>,
        writer: &Bound<'py, PyDict>,
    ) -> PyResult<Option<(Vec<usize>, Option<usize>, Vec<Option<Bound<'py, PyAny>>>)>> {
        let Some(winv) = writer_invocations(writer)? else { return Ok(None) };
        let mut reference: Vec<i64> = Vec::new();
        let mut seen: HashSet<i64> = HashSet::new();
        let mut pmax: Vec<i64> = vec![i64::MIN]; // pmax[i]: latest writer invocation in ref[..i]
        let mut lens = Vec::with_capacity(reads.len());
        let mut firsts: Vec<(usize, usize)> = Vec::new();
        let mut first_seen: HashSet<usize> = HashSet::new();
        let mut longest = None;
        for (pos, r) in reads.iter().enumerate() {
            let Ok(r) = r.downcast::<PyTuple>() else { return Ok(None) };
            if !str_is(&r.get_item(OP_F)?, "read") {
                return Ok(None);
            }
            let v = r.get_item(OP_VALUE)?;
            let m;
            if v.is_none() {
                m = 0;
            } else {
                let Ok(v) = v.downcast_exact::<PyList>() else { return Ok(None) };
                m = v.len();
                let n = reference.len();
                let list = v.as_ptr();
                for i in 0..m {
                    // SAFETY: i < len(v), the list is alive (bound above) and the GIL held;
                    // nothing here runs Python code that could resize it
                    let e = unsafe { ffi::PyList_GET_ITEM(list, i as ffi::Py_ssize_t) };
                    let Some(x) = (unsafe { raw_int(e) }) else { return Ok(None) };
                    if i < n {
                        if x != reference[i] {
                            return Ok(None);
                        }
                        continue;
                    }
                    let Some(&inv) = winv.get(&x) else { return Ok(None) };
                    if !seen.insert(x) {
                        return Ok(None); // an element twice in one read
                    }
                    reference.push(x);
                    let last = pmax[pmax.len() - 1];
                    pmax.push(last.max(inv));
                }
                if m > n {
                    longest = Some(pos);
                }
                let Some(ret) = plain_int(&r.get_item(OP_RET_INDEX)?) else { return Ok(None) };
                if pmax[m] > ret {
                    return Ok(None); // an element whose append began after the read ended
                }
            }
            lens.push(m);
            if first_seen.insert(m) {
                firsts.push((m, pos));
            }
        }
        Ok(Some((lens, longest, evidence(reads, firsts, reference.len())?)))
    }

    /// versions.py `_list_evidence` from (length, position of its first read) pairs:
    /// ranks 0..n, each run of ranks sharing one read's index.
    fn evidence<'py>(
        reads: &Bound<'py, PyList>,
        mut firsts: Vec<(usize, usize)>,
        n: usize,
    ) -> PyResult<Vec<Option<Bound<'py, PyAny>>>> {
        firsts.sort_unstable();
        let mut ev = Vec::with_capacity(n + 1);
        ev.push(None);
        let mut done = 0;
        for (m, pos) in firsts {
            if m > done {
                let index = reads.get_item(pos)?.downcast::<PyTuple>()?.get_item(OP_INDEX)?;
                ev.extend(std::iter::repeat(Some(index)).take(m - done));
                done = m;
            }
        }
        ev.resize(n + 1, None);
        Ok(ev)
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(list_scan, m)?)?;
        Ok(())
    }
}
