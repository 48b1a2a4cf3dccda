//! The transactions checker's hot spots (transactions.md §9): list-append inference on
//! histories without non-cycle anomalies, the CSR build and the SCC pass.
//!
//! Obligations: `list_append` gives exactly the edges `checkers/transactions/list_append.py`
//! gives, in the same order, or `None` whenever the history holds (or might hold) anything
//! the Python inference would report or refuse — duplicate appends, garbage or duplicate
//! elements, incompatible orders, intermediate (G1b) reads, reads of a failed txn's append
//! (G1a, dirty update), lost updates, an unsupported key or value type — so that the caller
//! runs the Python inference and gets its exact anomalies. `freeze` and `sccs` are the same
//! counting sort and iterative Tarjan as
//! `graph.Edges`, so the SCCs come out identical and in the same order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub const WW: u8 = 1;
pub const WR: u8 = 2;
pub const RW: u8 = 4;

#[derive(Default)]
pub struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64)
    }
    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64)
    }
    fn write_u8(&mut self, x: u8) {
        self.write_u64(x as u64)
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64)
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

const INIT: u32 = u32::MAX;
const FAILED: u32 = u32::MAX - 1; // the writer of an element a failed txn appended

/// A key or a value as Python sees it (int and str never compare equal), borrowed.
#[derive(Clone, Copy)]
pub enum Atom<'a> {
    I(i64),
    S(&'a str),
}

/// Interned keys and elements ((key, value) of an append), one id space each.
#[derive(Default)]
pub struct Interner {
    key_int: FxMap<i64, u32>,
    key_str: FxMap<String, u32>,
    elem_int: FxMap<(u32, i64), u32>,
    elem_str: FxMap<u32, FxMap<String, u32>>,
    pub n_keys: usize,
    pub n_elems: usize,
}

impl Interner {
    pub fn key(&mut self, k: Atom<'_>) -> u32 {
        let n = self.n_keys as u32;
        let id = match k {
            Atom::I(i) => *self.key_int.entry(i).or_insert(n),
            Atom::S(s) => match self.key_str.get(s) {
                Some(&id) => id,
                None => {
                    self.key_str.insert(s.to_owned(), n);
                    n
                }
            },
        };
        if id == n {
            self.n_keys += 1;
        }
        id
    }
    /// A new element id, or None if (k, x) was appended before.
    pub fn new_elem(&mut self, k: u32, x: Atom<'_>) -> Option<u32> {
        let n = self.n_elems as u32;
        let fresh = match x {
            Atom::I(i) => self.elem_int.insert((k, i), n).is_none(),
            Atom::S(s) => self.elem_str.entry(k).or_default().insert(s.to_owned(), n).is_none(),
        };
        if fresh {
            self.n_elems += 1;
            Some(n)
        } else {
            None
        }
    }
    pub fn elem(&self, k: u32, x: Atom<'_>) -> Option<u32> {
        match x {
            Atom::I(i) => self.elem_int.get(&(k, i)).copied(),
            Atom::S(s) => self.elem_str.get(&k).and_then(|m| m.get(s)).copied(),
        }
    }
}

pub struct Output {
    pub src: Vec<i32>,
    pub dst: Vec<i32>,
    pub mask: Vec<u8>,
    /// ok vertices touching a key more than once: the only ones `_internal` can flag
    pub internal_candidates: Vec<u32>,
}

pub struct Read {
    pub v: u32,
    pub key: u32,
    pub last: u32, // element id, INIT if empty
    pub external: bool,
}

/// The inference state, fed in two passes: every vertex's appends (`append`,
/// `end_appends`), then every ok vertex's reads (`read`, `end_reads`); `finish` gives the
/// edges. Any `false` / None: fall back to the Python inference (module obligations).
#[derive(Default)]
pub struct ListAppend {
    pub intern: Interner,
    elem_writer: Vec<u32>,
    elem_key: Vec<u32>,
    intermediate: Vec<bool>,
    appends_of_key: Vec<u32>,
    first_elem_of_key: Vec<u32>,
    app_off: Vec<u32>,
    app: Vec<(u32, u32)>,
    longest: Vec<Vec<u32>>,
    has_nonempty: Vec<bool>,
    reads: Vec<Read>,
    internal_candidates: Vec<u32>,
}

impl ListAppend {
    pub fn append(&mut self, v: u32, k: u32, x: Atom<'_>) -> bool {
        if self.app_off.is_empty() {
            self.app_off.push(0);
        }
        let id = match self.intern.new_elem(k, x) {
            Some(id) => id,
            None => return false, // duplicate append: Python refuses (P-T1)
        };
        self.elem_writer.push(v);
        self.elem_key.push(k);
        self.intermediate.push(false);
        let ku = k as usize;
        if self.appends_of_key.len() <= ku {
            self.appends_of_key.resize(ku + 1, 0);
            self.first_elem_of_key.resize(ku + 1, INIT);
        }
        self.appends_of_key[ku] += 1;
        if self.first_elem_of_key[ku] == INIT {
            self.first_elem_of_key[ku] = id;
        }
        self.app.push((k, id));
        true
    }

    /// An append of a failed txn (not a vertex): its element is known, so a read of it is
    /// an aborted read (G1a) rather than garbage — and makes the core decline.
    pub fn failed_append(&mut self, k: u32, x: Atom<'_>) -> bool {
        match self.intern.new_elem(k, x) {
            Some(_) => {
                self.elem_writer.push(FAILED);
                self.elem_key.push(k);
                self.intermediate.push(false);
                true
            }
            None => false, // duplicate append: Python refuses (P-T1)
        }
    }

    /// Closes vertex v's appends (call once per vertex, in order, even with none).
    pub fn end_appends(&mut self) {
        if self.app_off.is_empty() {
            self.app_off.push(0);
        }
        let start = *self.app_off.last().unwrap() as usize;
        let mine = &self.app[start..];
        if mine.len() > 1 {
            for i in 0..mine.len() {
                if mine[i + 1..].iter().any(|&(k, _)| k == mine[i].0) {
                    self.intermediate[mine[i].1 as usize] = true;
                }
            }
        }
        self.app_off.push(self.app.len() as u32);
    }

    fn grow_keys(&mut self) {
        let nk = self.intern.n_keys;
        if self.longest.len() < nk {
            self.longest.resize(nk, Vec::new());
            self.has_nonempty.resize(nk, false);
            self.appends_of_key.resize(nk, 0);
            self.first_elem_of_key.resize(nk, INIT);
        }
    }

    /// One read of ok vertex v: `elems` the element ids read, `external` unless v appended to
    /// k earlier in this txn. False: fall back.
    pub fn read(&mut self, v: u32, k: u32, elems: &[u32], external: bool) -> bool {
        self.grow_keys();
        let cur = &mut self.longest[k as usize];
        // every read must be a prefix of the key's final longest read: checked online
        if elems.len() <= cur.len() {
            if cur[..elems.len()] != elems[..] {
                return false; // incompatible order
            }
        } else {
            if elems[..cur.len()] != cur[..] {
                return false;
            }
            cur.clear();
            cur.extend_from_slice(elems);
        }
        if elems.iter().any(|&e| self.elem_writer[e as usize] == FAILED) {
            return false; // an aborted read (G1a), or a dirty update
        }
        let last = elems.last().copied().unwrap_or(INIT);
        if last != INIT {
            self.has_nonempty[k as usize] = true;
            // G1b: an intermediate append of another txn read as the last element
            if self.intermediate[last as usize] && self.elem_writer[last as usize] != v {
                return false;
            }
        }
        self.reads.push(Read { v, key: k, last, external });
        true
    }

    pub fn internal_candidate(&mut self, v: u32) {
        self.internal_candidates.push(v);
    }

    pub fn finish(mut self, n_vertices: usize) -> Option<Output> {
        self.grow_keys();
        while self.app_off.len() < n_vertices + 1 {
            self.end_appends();
        }
        let nk = self.intern.n_keys;
        let (elem_writer, elem_key, app_off, app) = (&self.elem_writer, &self.elem_key, &self.app_off, &self.app);
        let longest = &mut self.longest;
        // duplicates: every read is a prefix of its key's longest, so one check per key
        let mut pos: Vec<i32> = vec![-1; elem_writer.len()];
        for o in longest.iter() {
            for (i, &e) in o.iter().enumerate() {
                if pos[e as usize] != -1 {
                    return None; // duplicate elements
                }
                pos[e as usize] = i as i32;
            }
        }
        // a key with no non-empty read and exactly one append: order [it]
        for k in 0..nk {
            if !self.has_nonempty[k] && self.appends_of_key[k] == 1 {
                let e = self.first_elem_of_key[k];
                longest[k] = vec![e];
                pos[e as usize] = 0;
            }
        }
        let state = |k: u32, last: u32| -> u64 {
            if last == INIT {
                (1u64 << 32) | k as u64
            } else {
                last as u64
            }
        };
        // readers per state, in read order; lost updates
        let mut readers: FxMap<u64, Vec<u32>> = FxMap::default();
        for r in &self.reads {
            if r.external {
                readers.entry(state(r.key, r.last)).or_default().push(r.v);
            }
        }
        for (st, vs) in readers.iter() {
            if vs.len() < 2 {
                continue;
            }
            let k = if st >> 32 == 1 { (st & 0xffff_ffff) as u32 } else { elem_key[*st as usize] };
            let mut n = 0;
            let mut last_v = u32::MAX;
            for &v in vs {
                if v == last_v {
                    continue;
                }
                let (lo, hi) = (app_off[v as usize] as usize, app_off[v as usize + 1] as usize);
                if app[lo..hi].iter().any(|&(kk, _)| kk == k) {
                    n += 1;
                    last_v = v;
                }
            }
            if n >= 2 {
                return None; // lost update
            }
        }
        // edges, in the Python order: per vertex per append ww then rw; then wr per read
        let mut out = Output { src: Vec::new(), dst: Vec::new(), mask: Vec::new(),
                               internal_candidates: std::mem::take(&mut self.internal_candidates) };
        let add = |a: u32, b: u32, m: u8, out: &mut Output| {
            if a != b {
                out.src.push(a as i32);
                out.dst.push(b as i32);
                out.mask.push(m);
            }
        };
        for v in 0..n_vertices {
            let (lo, hi) = (app_off[v] as usize, app_off[v + 1] as usize);
            for &(k, e) in &app[lo..hi] {
                let o = &longest[k as usize];
                let p = pos[e as usize];
                let prev = if p < 0 {
                    o.last().copied().unwrap_or(INIT)
                } else if p > 0 {
                    o[p as usize - 1]
                } else {
                    INIT
                };
                if prev != INIT {
                    add(elem_writer[prev as usize], v as u32, WW, &mut out);
                }
                if let Some(rs) = readers.get(&state(k, prev)) {
                    for &r in rs {
                        add(r, v as u32, RW, &mut out);
                    }
                }
            }
        }
        for r in &self.reads {
            if r.last != INIT {
                add(elem_writer[r.last as usize], r.v, WR, &mut out);
            }
        }
        Some(out)
    }
}

/// CSR by counting sort on the source, stable in insertion order (graph.Edges.freeze).
pub fn freeze(n: usize, src: &[i32], dst: &[i32], mask: &[u8]) -> (Vec<i32>, Vec<i32>, Vec<u8>) {
    let mut off = vec![0i32; n + 1];
    for &a in src {
        off[a as usize + 1] += 1;
    }
    for i in 0..n {
        off[i + 1] += off[i];
    }
    let mut fill: Vec<i32> = off[..n].to_vec();
    let m = src.len();
    let mut tgt = vec![0i32; m];
    let mut lab = vec![0u8; m];
    for i in 0..m {
        let a = src[i] as usize;
        let j = fill[a] as usize;
        tgt[j] = dst[i];
        lab[j] = mask[i];
        fill[a] += 1;
    }
    (off, tgt, lab)
}

/// Realtime (+ process) order edges: graph.add_realtime_edges step for step — the frontier
/// of ok txns completed before each invocation, as an insertion-ordered set, pruned of the
/// txns the newly completed one already follows (a transitive reduction).
pub fn realtime(inv: &[f64], ret: &[f64], sessions: &[u32], ok: &[bool], rt: u8, both: u8)
    -> (Vec<i32>, Vec<i32>, Vec<u8>) {
    let n = inv.len();
    let mut done: Vec<u32> = (0..n as u32).filter(|&v| ok[v as usize]).collect();
    done.sort_by(|&a, &b| ret[a as usize].partial_cmp(&ret[b as usize]).unwrap()); // stable
    let mut order: Vec<u32> = Vec::new(); // insertion order, with tombstones
    let mut alive: Vec<bool> = vec![false; n];
    let mut live = 0usize;
    let mut linked: Vec<Option<Vec<u32>>> = vec![None; n];
    let (mut src, mut dst, mut mask) = (Vec::new(), Vec::new(), Vec::new());
    let mut j = 0usize;
    let mut fl: Vec<u32> = Vec::new();
    for v in 0..n {
        let t = inv[v];
        while j < done.len() && ret[done[j] as usize] < t {
            let d = done[j] as usize;
            j += 1;
            if let Some(got) = linked[d].take() {
                for a in got {
                    if alive[a as usize] {
                        alive[a as usize] = false;
                        live -= 1;
                    }
                }
            }
            if !alive[d] {
                alive[d] = true;
                live += 1;
                order.push(d as u32);
            }
            if order.len() > 2 * live + 16 {
                order.retain(|&a| alive[a as usize]);
            }
        }
        if live > 0 {
            fl.clear();
            fl.extend(order.iter().copied().filter(|&a| alive[a as usize]));
            let sv = sessions[v];
            for &a in &fl {
                src.push(a as i32);
                dst.push(v as i32);
                mask.push(if sessions[a as usize] == sv { both } else { rt });
            }
            if ok[v] {
                linked[v] = Some(fl.clone());
            }
        }
    }
    (src, dst, mask)
}

/// Non-trivial SCCs over edges carrying any `allowed` label: the iterative Tarjan of
/// graph.Edges.sccs step for step (same roots, same edge order, same output order).
pub fn sccs(n: usize, off: &[i32], tgt: &[i32], lab: &[u8], allowed: u8) -> Vec<Vec<u32>> {
    let mut index = vec![-1i64; n];
    let mut low = vec![0i64; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut out: Vec<Vec<u32>> = Vec::new();
    let mut counter: i64 = 0;
    let mut work: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != -1 || off[root] == off[root + 1] {
            continue;
        }
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        work.push((root, off[root] as usize));
        while let Some(&(v, j0)) = work.last() {
            let hi = off[v + 1] as usize;
            let mut j = j0;
            let mut pushed = false;
            while j < hi {
                let w = tgt[j] as usize;
                if lab[j] & allowed == 0 {
                    j += 1;
                    continue;
                }
                j += 1;
                if index[w] == -1 {
                    *work.last_mut().unwrap() = (v, j);
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, off[w] as usize));
                    pushed = true;
                    break;
                }
                if on_stack[w] && index[w] < low[v] {
                    low[v] = index[w];
                }
            }
            if pushed {
                continue;
            }
            work.pop();
            if let Some(&(u, _)) = work.last() {
                if low[v] < low[u] {
                    low[u] = low[v];
                }
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                loop {
                    let w = stack.pop().unwrap();
                    on_stack[w] = false;
                    comp.push(w as u32);
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort_unstable();
                    out.push(comp);
                }
            }
        }
    }
    out
}


#[cfg(feature = "python")]
pub mod py {
    use super::*;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyInt, PyList, PyString, PyTuple};

    fn atom<'a>(x: &'a Bound<'_, PyAny>) -> PyResult<Option<Atom<'a>>> {
        // exact types only: bool is an int subclass, and big ints do not fit
        if x.is_exact_instance_of::<PyInt>() {
            Ok(x.extract::<i64>().ok().map(Atom::I))
        } else if x.is_exact_instance_of::<PyString>() {
            Ok(Some(Atom::S(x.downcast::<PyString>()?.to_str()?)))
        } else {
            Ok(None)
        }
    }

    fn as_bytes<T>(v: &[T]) -> &[u8] {
        // plain integers, native endianness: what array('i').frombytes expects
        unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
    }

    const APPEND: u8 = 1;
    const READ: u8 = 2;

    /// (kind, key id, value) of one micro-op, None if unsupported.
    fn mop<'py>(la: &mut ListAppend, m: &Bound<'py, PyAny>) -> PyResult<Option<(u8, u32, Bound<'py, PyAny>)>> {
        let m = match m.downcast::<PyTuple>() {
            Ok(m) if m.len() == 3 => m,
            _ => return Ok(None),
        };
        let f = m.get_item(0)?;
        let kind = match f.downcast::<PyString>() {
            Ok(s) => match s.to_str()? {
                "append" => APPEND,
                "r" => READ,
                _ => return Ok(None),
            },
            Err(_) => return Ok(None),
        };
        let k = m.get_item(1)?;
        let kid = match atom(&k)? {
            Some(a) => la.intern.key(a),
            None => return Ok(None),
        };
        Ok(Some((kind, kid, m.get_item(2)?)))
    }

    fn infer(values: &Bound<'_, PyList>, ok: &[u8], fails: &Bound<'_, PyList>) -> PyResult<Option<Output>> {
        let mut la = ListAppend::default();
        let n = values.len();
        // pass 1: every vertex's appends
        for (v, value) in values.iter().enumerate() {
            let t = match value.downcast::<PyTuple>() {
                Ok(t) => t.clone(),
                Err(_) => return Ok(None),
            };
            for m in t.iter() {
                let (kind, kid, x) = match mop(&mut la, &m)? {
                    Some(got) => got,
                    None => return Ok(None),
                };
                if kind == APPEND {
                    match atom(&x)? {
                        Some(a) => {
                            if !la.append(v as u32, kid, a) {
                                return Ok(None);
                            }
                        }
                        None => return Ok(None),
                    }
                }
            }
            la.end_appends();
        }
        // pass 1b: the appends of failed txns (after the vertices', as in Python)
        for value in fails.iter() {
            let t = match value.downcast::<PyTuple>() {
                Ok(t) => t.clone(),
                Err(_) => return Ok(None),
            };
            for m in t.iter() {
                let (kind, kid, x) = match mop(&mut la, &m)? {
                    Some(got) => got,
                    None => return Ok(None),
                };
                if kind == APPEND {
                    match atom(&x)? {
                        Some(a) => {
                            if !la.failed_append(kid, a) {
                                return Ok(None);
                            }
                        }
                        None => return Ok(None),
                    }
                }
            }
        }
        // pass 2: the reads of ok vertices
        let mut buf: Vec<u32> = Vec::new();
        let mut touched: Vec<(u32, bool)> = Vec::new(); // (key, appended) in this txn
        let mut local: Vec<(bool, u32, usize, usize)> = Vec::new(); // (append?, key, lbuf range)
        let mut lbuf: Vec<u32> = Vec::new();
        for (v, value) in values.iter().enumerate() {
            if ok[v] == 0 {
                continue;
            }
            let t = value.downcast::<PyTuple>()?.clone();
            touched.clear();
            local.clear();
            lbuf.clear();
            let mut repeated = false;
            for m in t.iter() {
                let (kind, kid, x) = mop(&mut la, &m)?.expect("checked in pass 1");
                let slot = touched.iter().position(|&(k, _)| k == kid);
                if slot.is_some() {
                    repeated = true;
                }
                if kind == APPEND {
                    match slot {
                        Some(i) => touched[i].1 = true,
                        None => touched.push((kid, true)),
                    }
                    let a = atom(&x)?.expect("checked in pass 1");
                    let e = la.intern.elem(kid, a).expect("interned in pass 1");
                    local.push((true, kid, lbuf.len(), lbuf.len() + 1));
                    lbuf.push(e);
                    continue;
                }
                let external = !matches!(slot, Some(i) if touched[i].1);
                if slot.is_none() {
                    touched.push((kid, false));
                }
                buf.clear();
                if !x.is_none() {
                    let seq = if let Ok(t) = x.downcast::<PyTuple>() {
                        t.as_sequence().clone()
                    } else if let Ok(l) = x.downcast::<PyList>() {
                        l.as_sequence().clone()
                    } else {
                        return Ok(None);
                    };
                    for i in 0..seq.len()? {
                        let e = seq.get_item(i)?;
                        match atom(&e)?.and_then(|a| la.intern.elem(kid, a)) {
                            Some(id) => buf.push(id),
                            None => return Ok(None), // garbage (or an unsupported type)
                        }
                    }
                }
                local.push((false, kid, lbuf.len(), lbuf.len() + buf.len()));
                lbuf.extend_from_slice(&buf);
                if !la.read(v as u32, kid, &buf, external) {
                    return Ok(None);
                }
            }
            if repeated && t.len() >= 2 && internal_suspect(&local, &lbuf) {
                la.internal_candidate(v as u32);
            }
        }
        Ok(la.finish(n))
    }

    /// Could list_append.py's `_internal` flag this txn (internal or future-read)? The same
    /// walk over element ids (equal to the values: unknown elements made the core decline
    /// already); any doubt answers true, and Python then decides and words the anomaly.
    fn internal_suspect(local: &[(bool, u32, usize, usize)], lbuf: &[u32]) -> bool {
        // per key: Some(state) fully known, None known only as "ends with suffix"
        let mut known: Vec<(u32, Option<Vec<u32>>, Vec<u32>)> = Vec::new();
        for (i, &(is_append, k, lo, hi)) in local.iter().enumerate() {
            let slot = known.iter().position(|(kk, _, _)| *kk == k);
            if is_append {
                let e = lbuf[lo];
                match slot {
                    Some(j) => match &mut known[j].1 {
                        Some(st) => st.push(e),
                        None => known[j].2.push(e),
                    },
                    None => known.push((k, None, vec![e])),
                }
                continue;
            }
            let lst = &lbuf[lo..hi];
            // future-read: an element this txn appends to k later
            for &(a2, k2, lo2, _) in &local[i + 1..] {
                if a2 && k2 == k && lst.contains(&lbuf[lo2]) {
                    return true;
                }
            }
            if let Some(j) = slot {
                let bad = match &known[j].1 {
                    Some(exp) => exp[..] != *lst,
                    None => !lst.ends_with(&known[j].2),
                };
                if bad {
                    return true;
                }
                known[j] = (k, Some(lst.to_vec()), Vec::new());
            } else {
                known.push((k, Some(lst.to_vec()), Vec::new()));
            }
        }
        false
    }

    /// txn_list_append(values, ok, fails) -> None | (src, dst, mask, internal_candidates):
    /// `values` the micro-op tuples of the vertices, `ok` one byte per vertex, `fails` the
    /// micro-op tuples of the failed txns; src/dst as int32 bytes, mask as bytes. None: run
    /// the Python inference (module obligations).
    #[pyfunction]
    fn txn_list_append<'py>(
        py: Python<'py>,
        values: &Bound<'py, PyList>,
        ok: &[u8],
        fails: &Bound<'py, PyList>,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, Bound<'py, PyBytes>, Vec<u32>)>> {
        if ok.len() != values.len() {
            return Err(pyo3::exceptions::PyValueError::new_err("ok and values differ in length"));
        }
        Ok(infer(values, ok, fails)?.map(|o| {
            (
                PyBytes::new(py, as_bytes(&o.src)),
                PyBytes::new(py, as_bytes(&o.dst)),
                PyBytes::new(py, &o.mask),
                o.internal_candidates,
            )
        }))
    }

    /// txn_freeze(n, src, dst, mask) -> (off, tgt, lab) as bytes (int32, int32, uint8).
    #[pyfunction]
    fn txn_freeze<'py>(
        py: Python<'py>,
        n: usize,
        src: &[u8],
        dst: &[u8],
        mask: &[u8],
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let m = mask.len();
        if src.len() != 4 * m || dst.len() != 4 * m {
            return Err(pyo3::exceptions::PyValueError::new_err("edge arrays differ in length"));
        }
        let s: Vec<i32> = src.chunks_exact(4).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        let d: Vec<i32> = dst.chunks_exact(4).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        if s.iter().chain(d.iter()).any(|&x| x < 0 || x as usize >= n) {
            return Err(pyo3::exceptions::PyValueError::new_err("edge endpoint out of range"));
        }
        let (off, tgt, lab) = py.allow_threads(|| freeze(n, &s, &d, mask));
        Ok((PyBytes::new(py, as_bytes(&off)), PyBytes::new(py, as_bytes(&tgt)), PyBytes::new(py, &lab)))
    }

    /// txn_realtime(inv, ret, sessions, ok, rt, both) -> (src, dst, mask) as bytes.
    #[pyfunction]
    fn txn_realtime<'py>(py: Python<'py>, inv: Vec<f64>, ret: Vec<f64>, sessions: Vec<u32>,
                         ok: &[u8], rt: u8, both: u8)
        -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        if ret.len() != inv.len() || sessions.len() != inv.len() || ok.len() != inv.len()
            || ret.iter().any(|x| x.is_nan())
        {
            return Err(pyo3::exceptions::PyValueError::new_err("malformed realtime input"));
        }
        let okb: Vec<bool> = ok.iter().map(|&b| b != 0).collect();
        let (s, d, m) = py.allow_threads(|| realtime(&inv, &ret, &sessions, &okb, rt, both));
        Ok((PyBytes::new(py, as_bytes(&s)), PyBytes::new(py, as_bytes(&d)), PyBytes::new(py, &m)))
    }

    /// txn_sccs(n, off, tgt, lab, allowed) -> [sorted component] (more than one vertex).
    #[pyfunction]
    fn txn_sccs(py: Python<'_>, n: usize, off: &[u8], tgt: &[u8], lab: &[u8], allowed: u8) -> PyResult<Vec<Vec<u32>>> {
        let o: Vec<i32> = off.chunks_exact(4).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        let t: Vec<i32> = tgt.chunks_exact(4).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        if o.len() != n + 1 || t.len() != lab.len() || o[n] as usize != t.len()
            || t.iter().any(|&x| x < 0 || x as usize >= n)
        {
            return Err(pyo3::exceptions::PyValueError::new_err("malformed CSR"));
        }
        Ok(py.allow_threads(|| sccs(n, &o, &t, lab, allowed)))
    }

    fn exact_int_or_str(x: &Bound<'_, PyAny>) -> bool {
        x.is_exact_instance_of::<PyInt>() || x.is_exact_instance_of::<PyString>()
    }

    /// txn_ok_fast(ivalue, cvalue) -> tuple | None: harness/history.py `_txn_ok_fast` for
    /// the narrowest common shape (str/int keys, int/str written values, reads None, an
    /// int/str, or a flat list of ints/strs); None for anything else — the Python function
    /// then decides, so the result is always the one it would give.
    #[pyfunction]
    fn txn_ok_fast<'py>(py: Python<'py>, ivalue: &Bound<'py, PyAny>, cvalue: &Bound<'py, PyAny>)
        -> PyResult<Option<Bound<'py, PyTuple>>> {
        let (iv, cv) = match (ivalue.downcast_exact::<PyList>(), cvalue.downcast_exact::<PyList>()) {
            (Ok(a), Ok(b)) if a.len() == b.len() => (a, b),
            _ => return Ok(None),
        };
        let mut out: Vec<Bound<'py, PyAny>> = Vec::with_capacity(cv.len());
        for (m, c) in iv.iter().zip(cv.iter()) {
            let (m, c) = match (m.downcast_exact::<PyList>(), c.downcast_exact::<PyList>()) {
                (Ok(m), Ok(c)) if m.len() == 3 && c.len() == 3 => (m.clone(), c.clone()),
                _ => return Ok(None),
            };
            let f = c.get_item(0)?;
            let mf = match f.downcast_exact::<PyString>() {
                Ok(s) => match s.to_str()? {
                    "r" | "read" => "r",
                    "append" => "append",
                    "w" | "write" => "w",
                    _ => return Ok(None),
                },
                Err(_) => return Ok(None),
            };
            let f0 = m.get_item(0)?;
            if !f0.is_exact_instance_of::<PyString>() || f0.downcast_exact::<PyString>()?.to_str()? != f.downcast_exact::<PyString>()?.to_str()? {
                return Ok(None);
            }
            let k = c.get_item(1)?;
            let k0 = m.get_item(1)?;
            if !exact_int_or_str(&k) || !k0.get_type().is(&k.get_type()) || !k0.eq(&k)? {
                return Ok(None);
            }
            let v = c.get_item(2)?;
            let val: Bound<'py, PyAny> = if mf != "r" {
                let v0 = m.get_item(2)?;
                if !exact_int_or_str(&v) || !v0.get_type().is(&v.get_type()) || !v0.eq(&v)? {
                    return Ok(None);
                }
                v
            } else if v.is_none() || exact_int_or_str(&v) {
                v
            } else if let Ok(l) = v.downcast_exact::<PyList>() {
                for e in l.iter() {
                    if !exact_int_or_str(&e) {
                        return Ok(None);
                    }
                }
                l.to_tuple().into_any()
            } else {
                return Ok(None);
            };
            let f_out = PyString::intern(py, mf).into_any();
            out.push(PyTuple::new(py, [f_out, k, val])?.into_any());
        }
        Ok(Some(PyTuple::new(py, out)?))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(txn_ok_fast, m)?)?;
        m.add_function(wrap_pyfunction!(txn_list_append, m)?)?;
        m.add_function(wrap_pyfunction!(txn_freeze, m)?)?;
        m.add_function(wrap_pyfunction!(txn_sccs, m)?)?;
        m.add_function(wrap_pyfunction!(txn_realtime, m)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cycle_is_one_scc_and_csr_keeps_insertion_order() {
        let (off, tgt, lab) = freeze(3, &[1, 0, 0], &[0, 1, 2], &[RW, WW, WR]);
        assert_eq!(off, vec![0, 2, 3, 3]);
        assert_eq!(tgt, vec![1, 2, 0]);
        assert_eq!(lab, vec![WW, WR, RW]);
        assert_eq!(sccs(3, &off, &tgt, &lab, WW | WR | RW), vec![vec![0, 1]]);
        assert!(sccs(3, &off, &tgt, &lab, WW | WR).is_empty()); // the rw edge closes it
    }

    #[test]
    fn realtime_edges_are_a_transitive_reduction() {
        // T0 [0,1], T1 [2,3], T2 [4,5] all ok, sessions 0, 1, 0
        let (s, d, m) = realtime(&[0.0, 2.0, 4.0], &[1.0, 3.0, 5.0], &[0, 1, 0],
                                 &[true, true, true], 16, 24);
        assert_eq!((s, d, m), (vec![0, 1], vec![1, 2], vec![16, 16]));
        // T0 and T1 concurrent, both before T2: two edges, T2's session matching T0's
        let (s, d, m) = realtime(&[0.0, 1.0, 4.0], &[2.0, 3.0, 5.0], &[0, 1, 0],
                                 &[true, true, true], 16, 24);
        assert_eq!((s, d, m), (vec![0, 1], vec![2, 2], vec![24, 16]));
    }

    #[test]
    fn stale_read_gives_an_rw_edge_and_an_incompatible_read_declines() {
        // T0 appends 1 to x; T1 reads x empty; T2 reads [1]
        let mut la = ListAppend::default();
        let x = la.intern.key(Atom::S("x"));
        assert!(la.append(0, x, Atom::I(1)));
        la.end_appends();
        la.end_appends();
        la.end_appends();
        let one = la.intern.elem(x, Atom::I(1)).unwrap();
        assert!(la.read(1, x, &[], true));
        assert!(la.read(2, x, &[one], true));
        let out = la.finish(3).unwrap();
        let edges: Vec<_> = (0..out.src.len()).map(|i| (out.src[i], out.dst[i], out.mask[i])).collect();
        assert_eq!(edges, vec![(1, 0, RW), (0, 2, WR)]);
        let mut la = ListAppend::default();
        let x = la.intern.key(Atom::I(7));
        assert!(la.append(0, x, Atom::I(1)));
        assert!(la.append(0, x, Atom::I(2)));
        la.end_appends();
        let (a, b) = (la.intern.elem(x, Atom::I(1)).unwrap(), la.intern.elem(x, Atom::I(2)).unwrap());
        assert!(la.read(0, x, &[a, b], true));
        assert!(!la.read(0, x, &[b], true));
        let mut dup = ListAppend::default();
        let k = dup.intern.key(Atom::I(1));
        assert!(dup.append(0, k, Atom::I(5)));
        assert!(!dup.append(1, k, Atom::I(5))); // a duplicate append declines
    }
}
