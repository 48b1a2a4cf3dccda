//! The set workload's presence timeline (checkers/lost_updates.py `_presence`, as the
//! set-full stats read it), over integer elements only.
//!
//! Only read positions are computed here; every statistic, anomaly and explanation stays
//! in Python. `set_presence` declines (returns None) unless every element of every read
//! and every attempted element is an exact `int` that fits in i64: Python's equality
//! across types (1 == 1.0 == True) is then the integers' own, and the Python path
//! handles everything else.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// For each attempted element: (first read containing it, last read containing it, the
/// last read not containing it as `_set_timeline` asks: for an element of the last read,
/// the last earlier read without it, -1 when none; otherwise the last read), -1 = none.
pub fn presence(reads: &[Vec<i64>], elems: &[i64]) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
    let mut p = Presence::new(elems);
    for r in reads {
        for &e in r {
            p.saw(e);
        }
        p.next_read();
    }
    p.finish()
}

/// `presence`, fed one element at a time (so the Python side needs no copy of the reads).
pub struct Presence {
    elems: Vec<i64>,
    at: HashMap<i64, usize, BuildHasherDefault<MixHasher>>,
    first: Vec<i64>,
    last: Vec<i64>,
    gap: Vec<i64>, // the read before the element's latest (re)appearance
    i: i64,         // the current read's position
}

impl Presence {
    pub fn new(elems: &[i64]) -> Self {
        let k = elems.len();
        let mut at: HashMap<i64, usize, BuildHasherDefault<MixHasher>> = HashMap::default();
        at.reserve(k);
        for (i, &e) in elems.iter().enumerate() {
            at.entry(e).or_insert(i);
        }
        Presence { elems: elems.to_vec(), at, first: vec![-1; k], last: vec![-1; k],
                   gap: vec![-1; k], i: 0 }
    }

    #[inline]
    pub fn saw(&mut self, e: i64) {
        let i = self.i;
        if let Some(&a) = self.at.get(&e) {
            if self.last[a] == i {
                return; // the element twice in one read
            }
            if self.first[a] < 0 {
                self.first[a] = i;
            }
            if self.last[a] != i - 1 && i > 0 {
                self.gap[a] = i - 1;
            }
            self.last[a] = i;
        }
    }

    pub fn next_read(&mut self) {
        self.i += 1;
    }

    pub fn finish(self) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
        let n = self.i;
        let (at, first, last, gap) = (self.at, self.first, self.last, self.gap);
        // attempted elements listed twice share the first one's positions
        let mut f = Vec::with_capacity(first.len());
        let mut l = Vec::with_capacity(first.len());
        let mut a = Vec::with_capacity(first.len());
        for e in self.elems.iter() {
            let j = at[e];
            f.push(first[j]);
            l.push(last[j]);
            a.push(if n > 0 && last[j] == n - 1 { gap[j] } else { n - 1 });
        }
        (f, l, a)
    }
}

#[derive(Default)]
struct MixHasher(u64);
impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ (self.0 >> 56) ^ b as u64;
        }
    }
    fn write_i64(&mut self, x: i64) {
        self.0 = x as u64;
    }
}

#[cfg(feature = "python")]
pub mod py {
    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyList, PyTuple};
    use std::collections::HashMap;
    use std::hash::BuildHasherDefault;

    use super::MixHasher;

    /// The value of an exact `int` that fits in i64 (borrowed pointer, GIL held).
    unsafe fn exact_int(x: *mut ffi::PyObject) -> Option<i64> {
        if ffi::Py_TYPE(x) != std::ptr::addr_of_mut!(ffi::PyLong_Type) {
            return None;
        }
        let mut overflow: std::os::raw::c_int = 0;
        let v = ffi::PyLong_AsLongLongAndOverflow(x, &mut overflow);
        if overflow != 0 || (v == -1 && !ffi::PyErr_Occurred().is_null()) {
            ffi::PyErr_Clear();
            return None;
        }
        Some(v)
    }

    /// Feed every element of an exact list or tuple of exact ints to `each`; false (some
    /// elements maybe fed) on any other shape.
    fn each_int(v: &Bound<'_, PyAny>, mut each: impl FnMut(i64)) -> bool {
        let p = v.as_ptr();
        // SAFETY: the GIL is held; the container is an exact list/tuple, only read here,
        // and its items are borrowed for the duration of the loop (nothing runs Python)
        unsafe {
            if let Ok(l) = v.downcast_exact::<PyList>() {
                for i in 0..l.len() {
                    match exact_int(ffi::PyList_GET_ITEM(p, i as ffi::Py_ssize_t)) {
                        Some(x) => each(x),
                        None => return false,
                    }
                }
            } else if let Ok(t) = v.downcast_exact::<PyTuple>() {
                for i in 0..t.len() {
                    match exact_int(ffi::PyTuple_GET_ITEM(p, i as ffi::Py_ssize_t)) {
                        Some(x) => each(x),
                        None => return false,
                    }
                }
            } else {
                return false;
            }
        }
        true
    }

    /// set_presence(values, elements) -> (first, last, absent) lists parallel to
    /// `elements` (see `presence`), or None (declined: an element that is not an int).
    #[pyfunction]
    fn set_presence(
        values: &Bound<'_, PyList>,
        elements: &Bound<'_, PyList>,
    ) -> PyResult<Option<(Vec<i64>, Vec<i64>, Vec<i64>)>> {
        let mut elems = Vec::with_capacity(elements.len());
        if !each_int(elements.as_any(), |e| elems.push(e)) {
            return Ok(None);
        }
        let mut p = super::Presence::new(&elems);
        for v in values.iter() {
            if !each_int(&v, |e| p.saw(e)) {
                return Ok(None);
            }
            p.next_read();
        }
        Ok(Some(p.finish()))
    }

    /// versions.py `_build_set`'s per-read frozensets and its fast audit, for reads of one
    /// key: set_scan(values, rets, winv) -> (members, slow), `members[p]` the read's
    /// frozenset (None: not a list or tuple, or an unhashable element) and `slow` the
    /// positions Python must handle itself: every read that is not a list of distinct
    /// exact ints each with an exact-int entry in `winv` (element -> invocation index of
    /// its live sole writer) no greater than `rets[p]` (the read's completion index).
    /// Flagging more than needed is safe: for a read that passes, Python's own audit of
    /// it reports nothing.
    #[pyfunction]
    fn set_scan<'py>(
        py: Python<'py>,
        values: &Bound<'py, PyList>,
        rets: &Bound<'py, PyList>,
        winv: &Bound<'py, PyDict>,
    ) -> PyResult<Option<(Bound<'py, PyList>, Vec<usize>)>> {
        if rets.len() != values.len() {
            return Ok(None);
        }
        let mut inv: HashMap<i64, i64, BuildHasherDefault<MixHasher>> = HashMap::default();
        inv.reserve(winv.len());
        for (k, v) in winv.iter() {
            // SAFETY: GIL held, borrowed pointers of live objects
            let (k, v) = unsafe { (exact_int(k.as_ptr()), exact_int(v.as_ptr())) };
            if let (Some(k), Some(v)) = (k, v) {
                inv.insert(k, v);
            }
        }
        let members = PyList::empty(py);
        let mut slow = Vec::new();
        for p in 0..values.len() {
            let v = values.get_item(p)?;
            let ret = unsafe { exact_int(rets.get_item(p)?.as_ptr()) };
            let n = if let Ok(l) = v.downcast_exact::<PyList>() {
                l.len()
            } else if let Ok(t) = v.downcast_exact::<PyTuple>() {
                t.len()
            } else {
                members.append(py.None())?;
                slow.push(p);
                continue;
            };
            // SAFETY: GIL held; PyFrozenSet_New returns a new reference or NULL with an
            // exception set (an unhashable element), cleared here: Python redoes that read
            let fs = unsafe { ffi::PyFrozenSet_New(v.as_ptr()) };
            if fs.is_null() {
                unsafe { ffi::PyErr_Clear() };
                members.append(py.None())?;
                slow.push(p);
                continue;
            }
            let fs = unsafe { Bound::from_owned_ptr(py, fs) };
            let distinct = fs.len()? == n;
            members.append(&fs)?;
            let ret = match ret {
                Some(r) if distinct => r,
                _ => {
                    slow.push(p);
                    continue;
                }
            };
            let mut fine = true;
            let ints = each_int(&v, |e| {
                if fine && inv.get(&e).map_or(true, |&w| w > ret) {
                    fine = false;
                }
            });
            let ok = ints && fine;
            if !ok {
                slow.push(p);
            }
        }
        Ok(Some((members, slow)))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(set_presence, m)?)?;
        m.add_function(wrap_pyfunction!(set_scan, m)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_positions() {
        // reads: {1}, {1,2}, {2}, {1,2}
        let reads = vec![vec![1], vec![1, 2], vec![2], vec![1, 2]];
        let (f, l, a) = presence(&reads, &[1, 2, 3]);
        assert_eq!(f, vec![0, 1, -1]);
        assert_eq!(l, vec![3, 3, -1]);
        assert_eq!(a, vec![2, 0, 3]);
    }
}
