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
    ///
    /// `lazy`: build no frozenset for the reads that pass (a list or tuple of distinct
    /// exact ints, each with a live writer invoked by the read's completion, tested on
    /// the ints themselves); `members` then holds only the reads of `slow`, in order.
    #[pyfunction]
    #[pyo3(signature = (values, rets, winv, lazy=false))]
    fn set_scan<'py>(
        py: Python<'py>,
        values: &Bound<'py, PyList>,
        rets: &Bound<'py, PyList>,
        winv: &Bound<'py, PyDict>,
        lazy: bool,
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
        let mut seen: std::collections::HashSet<i64, BuildHasherDefault<MixHasher>> =
            Default::default();
        for p in 0..values.len() {
            let v = values.get_item(p)?;
            let ret = unsafe { exact_int(rets.get_item(p)?.as_ptr()) };
            if lazy {
                if let Some(r) = ret {
                    seen.clear();
                    let mut fine = true;
                    let ints = each_int(&v, |e| {
                        if fine && (!seen.insert(e) || inv.get(&e).map_or(true, |&w| w > r)) {
                            fine = false;
                        }
                    });
                    if ints && fine {
                        continue; // passes: no frozenset, no entry
                    }
                }
            }
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

    /// An exact int field of an Op tuple, or for `inf_ok` the float +inf (an info op's
    /// ret_index / t_ret) as i64::MAX; None on any other value.
    fn int_field(op: &Bound<'_, PyTuple>, i: usize, inf_ok: bool) -> Option<i64> {
        let x = op.get_borrowed_item(i).ok()?;
        // SAFETY: GIL held, borrowed pointer of a live object
        if let Some(v) = unsafe { exact_int(x.as_ptr()) } {
            return (v != i64::MAX).then_some(v); // i64::MAX stands for +inf
        }
        if inf_ok {
            if let Ok(f) = x.downcast_exact::<pyo3::types::PyFloat>() {
                if f.value() == f64::INFINITY {
                    return Some(i64::MAX);
                }
            }
        }
        None
    }

    /// lost_updates.py `_Job._set_timeline`'s per-element latencies after the presence
    /// timeline, for one key: set_timeline(reads, elements, writes) -> (stable latencies,
    /// lost latencies, never read) or None (declined: a non-int element, a time or index
    /// that is not an exact int, +inf allowed only for a write's ret_index/t_ret, or an Op
    /// that is no tuple). `reads`: the key's ok list/tuple reads sorted by invocation;
    /// `elements`/`writes`: the live attempts (element, its strongest write), in order.
    /// Op fields by position: inv_index 1, ret_index 2, type 5, value 8, t_inv 11, t_ret 12.
    #[pyfunction]
    fn set_timeline(
        reads: &Bound<'_, PyList>,
        elements: &Bound<'_, PyList>,
        writes: &Bound<'_, PyList>,
    ) -> PyResult<Option<(Vec<i64>, Vec<i64>, i64)>> {
        const INF: i64 = i64::MAX;
        if elements.len() != writes.len() {
            return Ok(None);
        }
        let mut elems = Vec::with_capacity(elements.len());
        if !each_int(elements.as_any(), |e| elems.push(e)) {
            return Ok(None);
        }
        // reads: (inv_index, ret_index, t_inv, t_ret); all exact ints (ok reads)
        let mut rd: Vec<(i64, i64, i64, i64)> = Vec::with_capacity(reads.len());
        let mut p = super::Presence::new(&elems);
        for r in reads.iter() {
            let Ok(t) = r.downcast::<PyTuple>() else { return Ok(None) }; // Op: a tuple subclass
            let (Some(inv), Some(ret), Some(ti), Some(tr)) = (int_field(t, 1, false),
                int_field(t, 2, false), int_field(t, 11, false), int_field(t, 12, false))
            else {
                return Ok(None);
            };
            let Ok(v) = t.get_borrowed_item(8) else { return Ok(None) };
            if !each_int(&v, |e| p.saw(e)) {
                return Ok(None);
            }
            p.next_read();
            rd.push((inv, ret, ti, tr));
        }
        // writes: (ok, inv_index, ret_index, t_ret); ret/t_ret may be +inf (info)
        let mut ws: Vec<(bool, i64, i64, i64)> = Vec::with_capacity(writes.len());
        for w in writes.iter() {
            let Ok(t) = w.downcast::<PyTuple>() else { return Ok(None) };
            let Ok(ty) = t.get_borrowed_item(5) else { return Ok(None) };
            let ok = match ty.downcast_exact::<pyo3::types::PyString>() {
                Ok(s) => s.to_str()? == "ok",
                Err(_) => return Ok(None),
            };
            let (Some(inv), Some(ret)) = (int_field(t, 1, false), int_field(t, 2, true))
            else {
                return Ok(None);
            };
            let tr = if ok {
                match int_field(t, 12, false) {
                    Some(x) => x,
                    None => return Ok(None),
                }
            } else {
                INF
            };
            ws.push((ok, inv, ret, tr));
        }
        let (firsts, lasts, absents) = p.finish();
        let mut stable = Vec::new();
        let mut lost = Vec::new();
        let mut never = 0i64;
        for (k, &(_ok, winv, wret, wtret)) in ws.iter().enumerate() {
            let (p0, last_p, j) = (firsts[k], lasts[k], absents[k]);
            let (mut known_t, mut known_i) = (wtret, wret);
            if p0 >= 0 && rd[p0 as usize].1 < known_i {
                known_t = rd[p0 as usize].3;
                known_i = rd[p0 as usize].1;
            }
            let last_a = if j >= 0 && rd[j as usize].0 > winv { Some(j) } else { None };
            if last_p >= 0 && last_a.map_or(true, |a| a < last_p) {
                let t_stable = match last_a {
                    Some(a) => rd[a as usize].2.checked_add(1),
                    None => Some(0),
                };
                let lat = if known_t != INF {
                    t_stable.and_then(|t| t.checked_sub(known_t)).map(|d| d.max(0))
                } else {
                    Some(0)
                };
                let Some(lat) = lat else { return Ok(None) }; // beyond i64: Python's ints
                stable.push(lat);
            } else if known_t != INF && last_a.map_or(false, |a| rd[a as usize].0 > known_i) {
                let t_lost = if last_p >= 0 { rd[last_p as usize].2.checked_add(1) } else { Some(0) };
                let Some(lat) = t_lost.and_then(|t| t.checked_sub(known_t)) else {
                    return Ok(None);
                };
                lost.push(lat.max(0));
            } else {
                never += 1;
            }
        }
        Ok(Some((stable, lost, never)))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(set_presence, m)?)?;
        m.add_function(wrap_pyfunction!(set_timeline, m)?)?;
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
