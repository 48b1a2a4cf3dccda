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
        if let Some(&a) = self.at.get(&e) {
            self.saw_at(a);
        }
    }

    /// The table slot of the k-th element (`saw_at`'s argument): its first listing's.
    pub fn slot(&self, k: usize) -> usize {
        self.at[&self.elems[k]]
    }

    /// `saw` of the element whose table slot is `a`.
    #[inline]
    pub fn saw_at(&mut self, a: usize) {
        let i = self.i;
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
pub(crate) struct MixHasher(u64);
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
    use pyo3::types::{PyDict, PyList, PyString, PyTuple};
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

    type MixMap = HashMap<i64, i64, BuildHasherDefault<MixHasher>>;

    /// `winv`'s exact-int entries (element -> invocation index of its live writer).
    fn int_map(winv: &Bound<'_, PyDict>) -> MixMap {
        let mut inv = MixMap::default();
        inv.reserve(winv.len());
        for (k, v) in winv.iter() {
            // SAFETY: GIL held, borrowed pointers of live objects
            let (k, v) = unsafe { (exact_int(k.as_ptr()), exact_int(v.as_ptr())) };
            if let (Some(k), Some(v)) = (k, v) {
                inv.insert(k, v);
            }
        }
        inv
    }

    /// (len, false) of an exact list or tuple; (0, true) for a list or tuple subclass
    /// (`isinstance` holds, the exact tests do not); None for anything else.
    fn seq_len(v: &Bound<'_, PyAny>) -> Option<(usize, bool)> {
        if let Ok(l) = v.downcast_exact::<PyList>() {
            Some((l.len(), false))
        } else if let Ok(t) = v.downcast_exact::<PyTuple>() {
            Some((t.len(), false))
        } else if v.downcast::<PyList>().is_ok() || v.downcast::<PyTuple>().is_ok() {
            Some((0, true))
        } else {
            None
        }
    }

    pub(crate) type IdMap = HashMap<i64, u32, BuildHasherDefault<MixHasher>>;

    /// One key's elements as dense ids (what SetReads keeps of its reads), with each
    /// element's live writer's invocation (`_build_set`'s winv) by id.
    pub(crate) struct Ids {
        pub(crate) map: IdMap,
        /// id -> the element
        pub(crate) values: Vec<i64>,
        winv: Vec<Option<i64>>,
        mark: Vec<u32>,
        stamp: u32,
    }

    impl Ids {
        fn new(inv: &MixMap) -> Self {
            let mut ids = Ids { map: IdMap::default(), values: Vec::with_capacity(inv.len()),
                                winv: Vec::with_capacity(inv.len()), mark: Vec::new(), stamp: 0 };
            ids.map.reserve(inv.len());
            for (&e, &w) in inv {
                let i = ids.id(e);
                ids.winv[i as usize] = Some(w);
            }
            ids
        }

        #[inline]
        fn id(&mut self, e: i64) -> u32 {
            let n = self.values.len() as u32;
            let got = *self.map.entry(e).or_insert(n);
            if got == n {
                self.values.push(e);
                self.winv.push(None);
                self.mark.push(0);
            }
            got
        }
    }

    /// `ints_of` as ids (None: another shape, or a non-int element).
    fn ids_of(v: &Bound<'_, PyAny>, ids: &mut Ids) -> Option<Vec<u32>> {
        let mut out = Vec::new();
        each_int(v, |e| out.push(ids.id(e))).then_some(out)
    }

    /// One read of set_scan at position `p` (`seq`: its exact list/tuple length): its
    /// frozenset appended to `members` and `p` to `slow` as set_scan decides; returns its
    /// ints (`each_int`'s, as ids; None: another shape) for set_scan_ops to keep.
    #[allow(clippy::too_many_arguments)]
    fn scan_read_ids<'py>(py: Python<'py>, v: &Bound<'py, PyAny>, seq: Option<usize>,
                          ret: Option<i64>, p: usize, lazy: bool, ids: &mut Ids,
                          members: &Bound<'py, PyList>, slow: &mut Vec<usize>)
                          -> PyResult<Option<Vec<u32>>> {
        let got = if seq.is_some() { ids_of(v, ids) } else { None };
        let live_by = |es: &[u32], ids: &Ids, r: i64| {
            es.iter().all(|&i| ids.winv[i as usize].is_some_and(|w| w <= r))
        };
        if lazy {
            if let (Some(r), Some(es)) = (ret, &got) {
                ids.stamp = ids.stamp.wrapping_add(1);
                if ids.stamp == 0 {
                    ids.mark.iter_mut().for_each(|m| *m = 0);
                    ids.stamp = 1;
                }
                let s = ids.stamp;
                let distinct = es.iter().all(|&i| {
                    let m = &mut ids.mark[i as usize];
                    let fresh = *m != s;
                    *m = s;
                    fresh
                });
                if distinct && live_by(es, ids, r) {
                    return Ok(got); // passes: no frozenset, no entry
                }
            }
        }
        let Some(n) = seq else {
            members.append(py.None())?;
            slow.push(p);
            return Ok(got);
        };
        // SAFETY: GIL held; PyFrozenSet_New returns a new reference or NULL with an
        // exception set (an unhashable element), cleared here: Python redoes that read
        let fs = unsafe { ffi::PyFrozenSet_New(v.as_ptr()) };
        if fs.is_null() {
            unsafe { ffi::PyErr_Clear() };
            members.append(py.None())?;
            slow.push(p);
            return Ok(got);
        }
        let fs = unsafe { Bound::from_owned_ptr(py, fs) };
        let distinct = fs.len()? == n;
        members.append(&fs)?;
        let ok = match (ret, &got) {
            (Some(r), Some(es)) if distinct => live_by(es, ids, r),
            _ => false,
        };
        if !ok {
            slow.push(p);
        }
        Ok(got)
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
        let inv = int_map(winv);
        let members = PyList::empty(py);
        let mut slow = Vec::new();
        let mut ids = Ids::new(&inv);
        for p in 0..values.len() {
            let v = values.get_item(p)?;
            // SAFETY: GIL held, borrowed pointer of a live object
            let ret = unsafe { exact_int(rets.get_item(p)?.as_ptr()) };
            let seq = match seq_len(&v) {
                Some((n, false)) => Some(n),
                _ => None, // a subclass: not taken, as an exact type only
            };
            scan_read_ids(py, &v, seq, ret, p, lazy, &mut ids, &members, &mut slow)?;
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
        timeline_core(&rd, p, writes)
    }


    type Timeline = Option<(Vec<i64>, Vec<i64>, i64)>;

    /// set_timeline's per-element latencies from the reads' (inv_index, ret_index, t_inv,
    /// t_ret) and their presence timeline (fed already), for the live attempts `writes`.
    fn timeline_core(rd: &[(i64, i64, i64, i64)], p: super::Presence,
                     writes: &Bound<'_, PyList>) -> PyResult<Timeline> {
        const INF: i64 = i64::MAX;
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

    /// What `set_scan_ops` read of one key's reads, kept so the later passes (the session
    /// certificate, the set-full timeline) need not touch every element object again:
    /// each element of a 10^6-op history is its own heap object, and a pass over them
    /// costs a cache miss per element. Read-only once built; `reads` is the list it was
    /// built from (callers check they hold that very list).
    #[pyclass(frozen, module = "splitbrain._native")]
    pub struct SetReads {
        pub(crate) reads: Py<PyList>,
        /// per read: its elements (as ids of `ids`) when the value is an exact list or
        /// tuple of exact ints fitting in i64 (as `each_int` takes them), else None
        pub(crate) elems: Vec<Option<Vec<u32>>>,
        /// the reads' elements (and the key's live adds') ids
        pub(crate) ids: Ids,
        /// per read: Some(len) when the value is an exact list or tuple
        pub(crate) seq_len: Vec<Option<usize>>,
        /// some value is a list or tuple subclass (isinstance holds, the exact tests don't)
        pub(crate) odd_seq: bool,
        /// per read: (inv_index, ret_index, t_inv, t_ret) as `int_field(.., false)` reads
        /// them, None when any is not an exact int below i64::MAX
        pub(crate) times: Vec<Option<(i64, i64, i64, i64)>>,
        /// per read: its elements were proven distinct (the lazy scan's test)
        pub(crate) distinct: Vec<bool>,
        /// `set_index` only: the key's ops and what set_session.rs's `session_op` reads
        /// of each (None: set_scan_ops built this, or some op is a shape session_op
        /// declines), and each read's op index as its `as_index` takes it
        pub(crate) ops: Option<Py<PyList>>,
        pub(crate) sess: Option<Vec<SessFact>>,
        pub(crate) read_index: Option<Vec<i64>>,
    }

    /// One op as set_session.rs's `session_op` sees it, read once by `set_index`.
    pub(crate) struct SessFact {
        pub(crate) skip: bool,       // not a session op (session_op's Step::Skip)
        pub(crate) process: i64,
        pub(crate) index: i64,
        pub(crate) inv: i64,
        pub(crate) ret: i64,
        pub(crate) read: bool,       // f == "read" (an ok read when not skipped)
        pub(crate) add: bool,        // f == "add"
        pub(crate) ok: bool,         // type == "ok"
        pub(crate) elem: Option<i64>, // an add's element (None: value None)
    }

    /// `each_int` collecting the ints (None: another shape, or a non-int element).
    fn ints_of(v: &Bound<'_, PyAny>) -> Option<Vec<i64>> {
        let mut out = Vec::new();
        each_int(v, |e| out.push(e)).then_some(out)
    }

    /// set_scan over the reads themselves (Op tuples: value 8, ret_index 2, and the
    /// times set_timeline reads): set_scan_ops(reads, winv, lazy) -> (members, slow,
    /// SetReads), `members`/`slow` exactly as set_scan(values, rets, winv, lazy) gives
    /// them for values = [r.value], rets = [r.ret_index]; None when a read is no tuple
    /// with every field.
    #[pyfunction]
    #[pyo3(signature = (reads, winv, lazy=false))]
    fn set_scan_ops<'py>(
        py: Python<'py>,
        reads: &Bound<'py, PyList>,
        winv: &Bound<'py, PyDict>,
        lazy: bool,
    ) -> PyResult<Option<(Bound<'py, PyList>, Vec<usize>, SetReads)>> {
        let inv = int_map(winv);
        let members = PyList::empty(py);
        let mut slow = Vec::new();
        let Some(cache) = scan_all(py, reads, &inv, lazy, &members, &mut slow)? else {
            return Ok(None);
        };
        Ok(Some((members, slow, cache)))
    }

    /// set_scan_ops' loop: every read scanned into `members`/`slow`, kept in a SetReads
    /// (None: a read is no tuple with every field set_scan_ops reads).
    fn scan_all<'py>(py: Python<'py>, reads: &Bound<'py, PyList>, inv: &MixMap, lazy: bool,
                     members: &Bound<'py, PyList>, slow: &mut Vec<usize>)
                     -> PyResult<Option<SetReads>> {
        let n = reads.len();
        let mut cache = SetReads { reads: reads.clone().unbind(), elems: Vec::with_capacity(n),
                                   ids: Ids::new(inv),
                                   seq_len: Vec::with_capacity(n), odd_seq: false,
                                   times: Vec::with_capacity(n),
                                   distinct: Vec::with_capacity(n), ops: None, sess: None,
                                   read_index: None };
        for p in 0..n {
            let r = reads.get_item(p)?;
            let Ok(t) = r.downcast::<PyTuple>() else { return Ok(None) };
            if t.len() <= 12 {
                return Ok(None);
            }
            let v = t.get_item(8)?;
            // SAFETY: GIL held, borrowed pointer of a live object
            let ret = unsafe { exact_int(t.get_borrowed_item(2)?.as_ptr()) };
            cache.times.push(match (int_field(t, 1, false), int_field(t, 2, false),
                                    int_field(t, 11, false), int_field(t, 12, false)) {
                (Some(a), Some(b), Some(c), Some(d)) => Some((a, b, c, d)),
                _ => None,
            });
            let (seq, odd) = match seq_len(&v) {
                Some((n, false)) => (Some(n), false),
                Some((_, true)) => (None, true),
                None => (None, false),
            };
            cache.odd_seq |= odd;
            cache.seq_len.push(seq);
            let before = members.len();
            let ints = scan_read_ids(py, &v, seq, ret, p, lazy, &mut cache.ids, members, slow)?;
            // lazy and no entry for this read: its ints passed the distinct test
            cache.distinct.push(lazy && ints.is_some() && members.len() == before);
            cache.elems.push(ints);
        }
        Ok(Some(cache))
    }

    /// versions.py `build_index` of one set key up to `_build_set`'s per-read loop, in one
    /// pass over its ops: set_index(ops, lazy) -> (reads, writes, wvals, writer, members,
    /// slow, SetReads, (adds not failed, ok adds)) or None (declined, nothing built: an op that is no exact tuple
    /// with every field, an f or type that is no exact str, an f other than read/add, an
    /// add value that is not an exact int in i64, or an element added twice). `reads`
    /// are the ok reads, `writes` the adds, `wvals` their values and `writer` value ->
    /// add, exactly as build_index's comprehensions and `_index_writers` make them;
    /// `members`/`slow`/SetReads as set_scan_ops(reads, winv, lazy) gives them, winv
    /// being `_build_set`'s (element -> inv_index of its non-failed writer). The SetReads
    /// also keeps what the session certificate reads of each op (`SessFact`).
    #[pyfunction]
    #[pyo3(signature = (ops, lazy=false))]
    #[allow(clippy::type_complexity)]
    fn set_index<'py>(
        py: Python<'py>,
        ops: &Bound<'py, PyList>,
        lazy: bool,
    ) -> PyResult<Option<(Bound<'py, PyList>, Bound<'py, PyList>, Bound<'py, PyList>,
                          Bound<'py, PyDict>, Bound<'py, PyList>, Vec<usize>, SetReads,
                          (usize, usize))>> {
        use crate::set_session::py::{OP_EXTRA, OP_INDEX, OP_PROCESS};
        let reads = PyList::empty(py);
        let writes = PyList::empty(py);
        let wvals = PyList::empty(py);
        let writer = PyDict::new(py);
        let mut inv = MixMap::default();
        let mut sess: Option<Vec<SessFact>> = Some(Vec::with_capacity(ops.len()));
        let (mut nonfail, mut n_ok) = (0usize, 0usize);
        for op in ops.iter() {
            let Ok(t) = op.downcast::<PyTuple>() else { return Ok(None) }; // Op: a subclass
            if t.len() <= OP_EXTRA {
                return Ok(None);
            }
            let (ty, f) = (t.get_borrowed_item(5)?, t.get_borrowed_item(6)?);
            let (Ok(ty), Ok(f)) = (ty.downcast_exact::<PyString>(), f.downcast_exact::<PyString>())
            else {
                return Ok(None);
            };
            let (ty, f) = (ty.to_cow()?, f.to_cow()?);
            let read = match &*f {
                "read" => true,
                "add" => false,
                _ => return Ok(None),
            };
            let ok = ty == "ok";
            let mut elem = None;
            if read {
                if ok {
                    reads.append(&op)?;
                }
            } else {
                let v = t.get_borrowed_item(8)?;
                // SAFETY: GIL held, borrowed pointer of a live object
                let Some(e) = (unsafe { exact_int(v.as_ptr()) }) else { return Ok(None) };
                writes.append(&op)?;
                wvals.append(&v)?;
                writer.set_item(&v, &op)?;
                n_ok += ok as usize;
                if ty != "fail" {
                    nonfail += 1;
                    // SAFETY: as above
                    if let Some(i) = unsafe { exact_int(t.get_borrowed_item(1)?.as_ptr()) } {
                        inv.insert(e, i);
                    }
                }
                elem = Some(e);
            }
            if let Some(facts) = sess.as_mut() {
                match sess_fact(t, &ty, read, ok, elem, OP_PROCESS, OP_INDEX, OP_EXTRA)? {
                    Some(fact) => facts.push(fact),
                    None => sess = None,
                }
            }
        }
        if writer.len() != writes.len() {
            return Ok(None); // an element added twice: _index_writers' slow path
        }
        let members = PyList::empty(py);
        let mut slow = Vec::new();
        let Some(mut cache) = scan_all(py, &reads, &inv, lazy, &members, &mut slow)? else {
            return Ok(None);
        };
        let mut read_index = Some(Vec::with_capacity(reads.len()));
        for r in reads.iter() {
            let r = r.downcast::<PyTuple>()?;
            match (read_index.as_mut(), index_of(&crate::set_session::py::fld(r, OP_INDEX))) {
                (Some(v), Some(i)) => v.push(i),
                _ => read_index = None,
            }
        }
        cache.ops = Some(ops.clone().unbind());
        cache.sess = sess;
        cache.read_index = read_index;
        Ok(Some((reads, writes, wvals, writer, members, slow, cache, (nonfail, n_ok))))
    }

    /// set_session.rs `as_index`, an exact int read straight off the object first.
    #[inline]
    fn index_of(o: &Bound<'_, PyAny>) -> Option<i64> {
        // SAFETY: GIL held, borrowed pointer of a live object
        match unsafe { exact_int(o.as_ptr()) } {
            Some(v) => Some(v),
            None => crate::set_session::py::as_index(o),
        }
    }

    /// What set_session.rs's `session_op` reads of one op (f read or add, type `ty`),
    /// in its order of tests; None where it would decline.
    #[allow(clippy::too_many_arguments)]
    fn sess_fact(t: &Bound<'_, PyTuple>, ty: &str, read: bool, ok: bool, elem: Option<i64>,
                 op_process: usize, op_index: usize, op_extra: usize)
                 -> PyResult<Option<SessFact>> {
        use crate::set_session::py::fld;
        let mut fact = SessFact { skip: true, process: 0, index: 0, inv: 0, ret: 0, read,
                                  add: !read, ok, elem };
        if ty == "fail" || (!ok && read) {
            return Ok(Some(fact));
        }
        let extra = t.get_borrowed_item(op_extra)?;
        if !extra.is_none() {
            let Ok(d) = extra.downcast_exact::<PyDict>() else { return Ok(None) };
            if d.contains("txn_of")? {
                return Ok(Some(fact));
            }
        }
        let (Some(inv), Some(ret)) = (index_of(&fld(t, 1)), index_of(&fld(t, 2)))
        else { return Ok(None) };
        let p = t.get_borrowed_item(op_process)?;
        if !p.is_exact_instance_of::<pyo3::types::PyInt>() {
            return Ok(None);
        }
        let Ok(p) = p.extract::<i64>() else { return Ok(None) };
        if read {
            let Some(idx) = index_of(&fld(t, op_index)) else { return Ok(None) };
            fact.index = idx;
        }
        fact.skip = false;
        fact.process = p;
        fact.inv = inv;
        fact.ret = ret;
        Ok(Some(fact))
    }

    /// A final read's value as convergence.py `_norm_set` compares it, for a list or tuple
    /// of exact ints (sorted, each once) or None (empty); None: another shape.
    fn norm_ints(v: &Bound<'_, PyAny>) -> Option<Vec<i64>> {
        if v.is_none() {
            return Some(Vec::new());
        }
        let mut out = ints_of(v)?;
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// convergence.py's per-key work for a set key whose final reads are lists of exact
    /// ints: set_final_key(per_node, wvals) -> None (declined: another shape, a node
    /// flapping, the nodes' last reads disagreeing, or the converged set not exactly
    /// `wvals`; Python judges the key) or (t_inv of the last read whose set is not the
    /// converged one or None, t_inv of the read after it or None, t_inv of the first
    /// read), the reads of every node taken in (t_inv, inv_index) order as `_latency`
    /// sorts them. `per_node`: each node's final reads (Ops) in its order; `wvals`: the
    /// key's add values, distinct exact ints (versions.py's set_index made them).
    #[pyfunction]
    #[allow(clippy::type_complexity)]
    fn set_final_key(
        per_node: &Bound<'_, PyList>,
        wvals: &Bound<'_, PyList>,
    ) -> PyResult<Option<(Option<i64>, Option<i64>, i64)>> {
        let mut all: Vec<(i64, i64, usize)> = Vec::new(); // (t_inv, inv_index, value id)
        let mut vals: Vec<Vec<i64>> = Vec::new();
        let id_of = |v: Vec<i64>, vals: &mut Vec<Vec<i64>>| -> usize {
            match vals.iter().position(|x| *x == v) {
                Some(i) => i,
                None => {
                    vals.push(v);
                    vals.len() - 1
                }
            }
        };
        let mut last: Option<usize> = None; // the converged value: every node's last read's
        for rs in per_node.iter() {
            let rs = rs.downcast_exact::<PyList>()?;
            if rs.is_empty() {
                return Ok(None);
            }
            // `_flap`: a value left and come back to on one node
            let mut left: Vec<usize> = Vec::new();
            let mut cur: Option<usize> = None;
            for r in rs.iter() {
                let Ok(t) = r.downcast::<PyTuple>() else { return Ok(None) };
                if t.len() <= 12 {
                    return Ok(None);
                }
                let (Some(inv), Some(ti)) = (int_field(t, 1, false), int_field(t, 11, false))
                else { return Ok(None) };
                let value = t.get_item(8)?;
                let Some(v) = norm_ints(&value) else { return Ok(None) };
                let v = id_of(v, &mut vals);
                if let Some(c) = cur {
                    if v != c {
                        if left.contains(&v) {
                            return Ok(None); // flapping: Python reports it
                        }
                        left.push(c);
                    }
                }
                cur = Some(v);
                all.push((ti, inv, v));
            }
            match (last, cur) {
                (None, c) => last = c,
                (Some(l), Some(c)) if l == c => {}
                _ => return Ok(None), // diverged
            }
        }
        let Some(conv) = last else { return Ok(None) };
        // `_admissible_set`'s clean case: the converged set is exactly the added elements
        let mut want = Vec::with_capacity(wvals.len());
        if !each_int(wvals.as_any(), |e| want.push(e)) {
            return Ok(None);
        }
        want.sort_unstable();
        if want != vals[conv] {
            return Ok(None);
        }
        all.sort_by_key(|&(t, i, _)| (t, i)); // stable, as sorted()
        let bad = all.iter().rposition(|&(_, _, v)| v != conv);
        Ok(Some(match bad {
            None => (None, None, all[0].0),
            Some(b) => (Some(all[b].0), all.get(b + 1).map(|x| x.0), all[0].0),
        }))
    }

    /// lost_updates.py `_set_timeline` of a key whose reads `set_scan_ops` kept, from the
    /// kept tables alone: set_timeline_key(cache, elements, writes, budget) -> None
    /// (declined: take the Op path), (True, [], [], 0) when the reads' Σ|value| exceeds
    /// `budget` (the stats say skipped), else (False, stable, lost, never) as set_timeline
    /// gives for the reads `_collection_reads` selects (list/tuple values) sorted by
    /// invocation.
    #[pyfunction]
    #[allow(clippy::type_complexity)]
    fn set_timeline_key(
        cache: &Bound<'_, SetReads>,
        elements: &Bound<'_, PyList>,
        writes: &Bound<'_, PyList>,
        budget: i64,
    ) -> PyResult<Option<(bool, Vec<i64>, Vec<i64>, i64)>> {
        let c = cache.get();
        if c.odd_seq {
            return Ok(None);
        }
        let mut pos: Vec<usize> = (0..c.seq_len.len()).filter(|&i| c.seq_len[i].is_some()).collect();
        let total: u64 = pos.iter().map(|&i| c.seq_len[i].unwrap_or(0) as u64).sum();
        if total > budget.max(0) as u64 {
            return Ok(Some((true, Vec::new(), Vec::new(), 0)));
        }
        if pos.iter().any(|&i| c.times[i].is_none() || c.elems[i].is_none()) {
            return Ok(None);
        }
        pos.sort_by_key(|&i| c.times[i].map_or(0, |t| t.0)); // stable, as list.sort
        if elements.len() != writes.len() {
            return Ok(None);
        }
        let mut elems = Vec::with_capacity(elements.len());
        if !each_int(elements.as_any(), |e| elems.push(e)) {
            return Ok(None);
        }
        let mut p = super::Presence::new(&elems);
        // id -> its position in `elems` (the first, as Presence::new keys them)
        let mut at: Vec<usize> = vec![usize::MAX; c.ids.values.len()];
        for (k, e) in elems.iter().enumerate() {
            if let Some(&i) = c.ids.map.get(e) {
                if at[i as usize] == usize::MAX {
                    at[i as usize] = p.slot(k);
                }
            }
        }
        let mut rd: Vec<(i64, i64, i64, i64)> = Vec::with_capacity(pos.len());
        for &i in &pos {
            for &e in c.elems[i].as_deref().unwrap_or(&[]) {
                let a = at[e as usize];
                if a != usize::MAX {
                    p.saw_at(a);
                }
            }
            p.next_read();
            rd.push(c.times[i].unwrap_or((0, 0, 0, 0)));
        }
        Ok(timeline_core(&rd, p, writes)?.map(|(s, l, n)| (false, s, l, n)))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(set_presence, m)?)?;
        m.add_function(wrap_pyfunction!(set_timeline, m)?)?;
        m.add_function(wrap_pyfunction!(set_scan, m)?)?;
        m.add_function(wrap_pyfunction!(set_scan_ops, m)?)?;
        m.add_function(wrap_pyfunction!(set_timeline_key, m)?)?;
        m.add_function(wrap_pyfunction!(set_index, m)?)?;
        m.add_function(wrap_pyfunction!(set_final_key, m)?)?;
        m.add_class::<SetReads>()?;
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
