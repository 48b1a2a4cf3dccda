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
    pub(crate) unsafe fn raw_int(o: *mut ffi::PyObject) -> Option<i64> {
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

    /// The reference list of `_list_reads_fast`: each read must be a prefix of it or
    /// extend it with new elements, each appended by a non-failed writer (`winv`: element
    /// -> its invocation index) invoked no later than the read ended.
    pub(crate) struct Prefix {
        pub reference: Vec<i64>,
        seen: HashSet<i64>,
        pmax: Vec<i64>, // pmax[i]: latest writer invocation in reference[..i]
    }

    impl Prefix {
        pub(crate) fn new() -> Self {
            Prefix { reference: Vec::new(), seen: HashSet::new(), pmax: vec![i64::MIN] }
        }

        /// One read's list (ended at `ret`) against the reference, extending it: its
        /// length, or None when the Python scan must decide.
        pub(crate) fn read(&mut self, v: &Bound<'_, PyList>, ret: i64,
                           winv: impl Fn(i64) -> Option<i64>) -> Option<usize> {
            let m = v.len();
            let n = self.reference.len();
            let list = v.as_ptr();
            for i in 0..m {
                // SAFETY: i < len(v), the list is alive (bound by the caller) and the GIL
                // held; nothing here runs Python code that could resize it
                let e = unsafe { ffi::PyList_GET_ITEM(list, i as ffi::Py_ssize_t) };
                let x = unsafe { raw_int(e) }?;
                if i < n {
                    if x != self.reference[i] {
                        return None;
                    }
                    continue;
                }
                let inv = winv(x)?;
                if !self.seen.insert(x) {
                    return None; // an element twice in one read
                }
                self.reference.push(x);
                let last = self.pmax[self.pmax.len() - 1];
                self.pmax.push(last.max(inv));
            }
            if self.pmax[m] > ret {
                return None; // an element whose append began after the read ended
            }
            Some(m)
        }
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
        let mut prefix = Prefix::new();
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
                let Some(ret) = plain_int(&r.get_item(OP_RET_INDEX)?) else { return Ok(None) };
                let n = prefix.reference.len();
                let Some(len) = prefix.read(v, ret, |x| winv.get(&x).copied()) else {
                    return Ok(None);
                };
                m = len;
                if m > n {
                    longest = Some(pos);
                }
            }
            lens.push(m);
            if first_seen.insert(m) {
                firsts.push((m, pos));
            }
        }
        Ok(Some((lens, longest, evidence(reads, firsts, prefix.reference.len())?)))
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
