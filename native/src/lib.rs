//! splitbrain's linearizability search core (linearizability.md §4).
//!
//! The same algorithm, step for step, as `checkers/linearizable/search.py`: Wing & Gong's
//! search with just-in-time linearization over a doubly-linked entry list, Lowe's cache of
//! (linearized set, state) with exact keys, observer commit, counted budgets. Register
//! family only: a state is a value id, an op is (code, a, b). Partitions run on a small
//! scoped thread pool, biggest first; results come back in partition order.

use std::collections::hash_map::HashMap;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub mod txn;
pub mod queue;
pub mod set_session;
pub mod lists;
pub mod list_passes;
pub mod list_index;
pub mod sets;
pub mod registers;

pub const WRITE: u32 = 0;
pub const READ: u32 = 1;
pub const CAS: u32 = 2;
pub const CAS_INFO: u32 = 3;
pub const MISMATCH: u32 = 4;
pub const ANY: u32 = 1;
const NIL: usize = usize::MAX;
pub const FRONTIER_CAP: usize = 1024;
pub const MAX_PATHS: usize = 3;
/// Ranks kept per frontier path (same as search.py).
pub const PATH_TAIL: usize = 256;
/// Failed entries compared per new configuration (same cap as search.py).
pub const DOMINANCE_SCAN: usize = 8;

pub const VALID: u8 = 0;
pub const INVALID: u8 = 1;
pub const UNKNOWN: u8 = 2;

/// One partition, ranks 0..required-1 required (by completion), the rest optional.
pub struct Problem {
    pub inv: Vec<i64>,
    pub ret: Vec<i64>, // length `required`
    pub required: usize,
    pub payload: Vec<u32>, // 3 per op
    pub observer: Vec<bool>,
    pub initial: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: u8,
    pub kstar: usize,
    pub configs: u64,
    pub steps: u64,
    pub limit: Option<&'static str>,
    pub frontier: Vec<u32>,
    pub frontier_count: usize,
    pub paths: Vec<Vec<u32>>,
    pub path_starts: Vec<u32>,
    pub path_omitted: Vec<usize>,
}

#[inline]
fn step(s: u32, c: u32, a: u32, b: u32) -> Option<u32> {
    match c {
        WRITE => Some(a),
        READ => {
            if a == s || a == ANY {
                Some(s)
            } else {
                None
            }
        }
        CAS => {
            if s == a {
                Some(b)
            } else {
                None
            }
        }
        CAS_INFO => Some(if s == a { b } else { s }),
        _ => {
            if s != a {
                Some(s)
            } else {
                None
            }
        }
    }
}

#[inline]
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Default)]
struct IdHasher(u64);
impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!()
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

/// Lowe's cache with exact keys: (prefix, state, linearized words from prefix/64 on,
/// trailing zero words trimmed), chained per Zobrist hash in one arena.
struct Cache {
    heads: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    entries: Vec<(u32, u32, u32, u32, u32)>, // prefix, state, start, len, next
    words: Vec<u64>,
}

impl Cache {
    fn new() -> Self {
        Cache { heads: HashMap::default(), entries: Vec::new(), words: Vec::new() }
    }
    fn compact(bits: &[u64], prefix: usize) -> (usize, usize) {
        let w0 = prefix / 64;
        let mut end = bits.len();
        while end > w0 && bits[end - 1] == 0 {
            end -= 1;
        }
        (w0, end.max(w0))
    }
    /// Insert; false if the key was present.
    fn insert(&mut self, h: u64, prefix: usize, state: u32, bits: &[u64]) -> bool {
        let (w0, end) = Self::compact(bits, prefix);
        let key = &bits[w0..end];
        let head = self.heads.get(&h).copied();
        let mut cur = head.unwrap_or(u32::MAX);
        while cur != u32::MAX {
            let (p, s, st, ln, nx) = self.entries[cur as usize];
            if p as usize == prefix
                && s == state
                && &self.words[st as usize..(st + ln) as usize] == key
            {
                return false;
            }
            cur = nx;
        }
        let start = self.words.len() as u32;
        self.words.extend_from_slice(key);
        self.entries.push((
            prefix as u32,
            state,
            start,
            key.len() as u32,
            head.unwrap_or(u32::MAX),
        ));
        self.heads.insert(h, (self.entries.len() - 1) as u32);
        true
    }
}

/// Failed configurations for dominance pruning: (prefix, state, required words) ->
/// optional-op bitsets of fully explored, failed configurations (see search.py).
struct Failed {
    heads: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    entries: Vec<(u32, u32, u32, u32, u32, u32, u32)>, // prefix, state, rs, rl, os, ol, next
    words: Vec<u64>,
}

fn trim(w: &[u64]) -> &[u64] {
    let mut end = w.len();
    while end > 0 && w[end - 1] == 0 {
        end -= 1;
    }
    &w[..end]
}

impl Failed {
    fn new() -> Self {
        Failed { heads: HashMap::default(), entries: Vec::new(), words: Vec::new() }
    }
    fn add(&mut self, h: u64, prefix: usize, state: u32, req: &[u64], opt: &[u64]) {
        let req = trim(req);
        let opt = trim(opt);
        let rs = self.words.len() as u32;
        self.words.extend_from_slice(req);
        let os = self.words.len() as u32;
        self.words.extend_from_slice(opt);
        let next = self.heads.get(&h).copied().unwrap_or(u32::MAX);
        self.entries.push((prefix as u32, state, rs, req.len() as u32, os, opt.len() as u32, next));
        self.heads.insert(h, (self.entries.len() - 1) as u32);
    }
    /// Some failed entry with the same key and an optional subset of `opt`?
    fn dominates(&self, h: u64, prefix: usize, state: u32, req: &[u64], opt: &[u64]) -> bool {
        let mut cur = match self.heads.get(&h) {
            None => return false,
            Some(&c) => c,
        };
        let req = trim(req);
        let mut scanned = 0;
        while cur != u32::MAX && scanned < DOMINANCE_SCAN {
            let (p, s, rs, rl, os, ol, nx) = self.entries[cur as usize];
            if p as usize == prefix && s == state && &self.words[rs as usize..(rs + rl) as usize] == req {
                scanned += 1;
                let fm = &self.words[os as usize..(os + ol) as usize];
                if fm.iter().enumerate().all(|(i, w)| w & !opt.get(i).copied().unwrap_or(0) == 0) {
                    return true;
                }
            }
            cur = nx;
        }
        false
    }
}

pub fn search(p: &Problem, max_configs: u64, max_steps: u64) -> Outcome {
    let n = p.inv.len();
    let required = p.required;
    // Entry list: calls of every op, returns of required ops, by history index.
    let mut events: Vec<(i64, u8, usize)> = Vec::with_capacity(n + required);
    for r in 0..n {
        events.push((p.inv[r], 0, r));
    }
    for r in 0..required {
        events.push((p.ret[r], 1, r));
    }
    events.sort_unstable();
    let m = events.len();
    let kind: Vec<u8> = events.iter().map(|e| e.1).collect();
    let eop: Vec<usize> = events.iter().map(|e| e.2).collect();
    let mut call_pos = vec![0usize; n];
    let mut ret_pos = vec![NIL; n];
    for (i, e) in events.iter().enumerate() {
        if e.1 == 0 {
            call_pos[e.2] = i;
        } else {
            ret_pos[e.2] = i;
        }
    }
    let head = m;
    let mut nxt: Vec<usize> = (1..=m + 1).collect();
    if m > 0 {
        nxt[m - 1] = NIL;
    }
    nxt[head] = if m > 0 { 0 } else { NIL };
    let mut prv: Vec<usize> = vec![NIL; m + 1];
    for i in 0..m {
        prv[i] = if i == 0 { head } else { i - 1 };
    }
    let zob: Vec<u64> = (0..n).map(|r| splitmix64(r as u64 + 1)).collect();
    // Bit positions: required ranks as is, optional ranks from the next word boundary,
    // so the required and optional parts are whole words.
    let rw = (required + 63) / 64;
    let pos: Vec<usize> = (0..n).map(|r| if r < required { r } else { rw * 64 + (r - required) }).collect();
    let has_opt = n > required;
    // Symmetry: identical optional ops are tried in call order only (see search.py).
    let mut twin = vec![NIL; n];
    {
        let mut last: HashMap<(u32, u32, u32), usize> = HashMap::new();
        for r in required..n {
            let key = (p.payload[3 * r], p.payload[3 * r + 1], p.payload[3 * r + 2]);
            if let Some(&t) = last.get(&key) {
                twin[r] = t;
            }
            last.insert(key, r);
        }
    }
    let mut failed = Failed::new();
    let mut hreq: u64 = 0;

    let mut lin = vec![false; n];
    let mut bits = vec![0u64; rw + (n - required + 63) / 64];
    let mut hash: u64 = 0;
    let mut state = p.initial;
    let mut prefix = 0usize;
    let mut kstar = 0usize;
    let mut frontier: Vec<u32> = vec![state];
    let mut fseen: HashSet<u32> = HashSet::new();
    fseen.insert(state);
    let mut fcount = 1usize;
    let mut paths: Vec<Vec<u32>> = vec![vec![]];
    let mut pstarts: Vec<u32> = vec![p.initial];
    let mut pomit: Vec<usize> = vec![0];
    let tail = |stack: &Vec<(usize, u32, bool, usize)>| -> (Vec<u32>, u32, usize) {
        if stack.len() <= PATH_TAIL {
            (stack.iter().map(|t| t.0 as u32).collect(), p.initial, 0)
        } else {
            let cut = stack.len() - PATH_TAIL;
            (stack[cut..].iter().map(|t| t.0 as u32).collect(), stack[cut].1, cut)
        }
    };
    // (rank, previous state, forced, previous prefix)
    let mut stack: Vec<(usize, u32, bool, usize)> = Vec::new();
    let mut cache = Cache::new();
    let mut configs: u64 = 0;
    let mut steps: u64 = 0;
    let mut remaining = required;
    let mut e = nxt[head];
    let out = |status, kstar, configs, steps, limit, frontier, fcount, paths, path_starts, path_omitted| Outcome {
        status,
        kstar,
        configs,
        steps,
        limit,
        frontier,
        frontier_count: fcount,
        paths,
        path_starts,
        path_omitted,
    };
    loop {
        if remaining == 0 {
            return out(VALID, kstar, configs, steps, None, vec![], 0, vec![], vec![], vec![]);
        }
        let mut backtrack = false;
        if kind[e] == 0 {
            let o = eop[e];
            let t = twin[o];
            if t != NIL && !lin[t] {
                e = nxt[e];
                continue;
            }
            steps += 1;
            if steps > max_steps {
                return out(UNKNOWN, kstar, configs, steps, Some("steps"), vec![], 0, vec![], vec![], vec![]);
            }
            let c = p.payload[3 * o];
            if let Some(s2) = step(state, c, p.payload[3 * o + 1], p.payload[3 * o + 2]) {
                let mut np = prefix;
                if o == np {
                    np += 1;
                    while np < required && lin[np] {
                        np += 1;
                    }
                }
                let bo = pos[o];
                bits[bo / 64] |= 1u64 << (bo % 64);
                let nh = hash ^ zob[o];
                let h = nh ^ splitmix64((s2 as u64) ^ 0xA5A5_A5A5_0000_0000);
                let nhr = if o < required { hreq ^ zob[o] } else { hreq };
                let fh = nhr ^ splitmix64((s2 as u64) ^ 0x5A5A_0000_5A5A_0000);
                let fresh = !(has_opt
                    && failed.dominates(fh, np, s2, &bits[np / 64..rw], &bits[rw..]))
                    && cache.insert(h, np, s2, &bits);
                if fresh {
                    configs += 1;
                    if configs > max_configs {
                        return out(
                            UNKNOWN,
                            kstar,
                            configs,
                            steps,
                            Some("configurations"),
                            vec![],
                            0,
                            vec![],
                            vec![],
                            vec![],
                        );
                    }
                    stack.push((o, state, p.observer[o], prefix));
                    state = s2;
                    hash = nh;
                    hreq = nhr;
                    lin[o] = true;
                    prefix = np;
                    if o < required {
                        remaining -= 1;
                    }
                    // unlink call, then return
                    let ci = call_pos[o];
                    let (a, b) = (prv[ci], nxt[ci]);
                    nxt[a] = b;
                    if b != NIL {
                        prv[b] = a;
                    }
                    let ri = ret_pos[o];
                    if ri != NIL {
                        let (a, b) = (prv[ri], nxt[ri]);
                        nxt[a] = b;
                        if b != NIL {
                            prv[b] = a;
                        }
                    }
                    if prefix >= kstar {
                        if prefix > kstar {
                            kstar = prefix;
                            frontier.clear();
                            frontier.push(state);
                            fseen.clear();
                            fseen.insert(state);
                            fcount = 1;
                            let (tp, ts, tc) = tail(&stack);
                            paths.clear();
                            pstarts.clear();
                            pomit.clear();
                            paths.push(tp);
                            pstarts.push(ts);
                            pomit.push(tc);
                        } else {
                            if fseen.insert(state) {
                                fcount += 1;
                                if frontier.len() < FRONTIER_CAP {
                                    frontier.push(state);
                                }
                            }
                            if paths.len() < MAX_PATHS {
                                let (tp, ts, tc) = tail(&stack);
                                paths.push(tp);
                                pstarts.push(ts);
                                pomit.push(tc);
                            }
                        }
                    }
                    e = nxt[head];
                    continue;
                }
                bits[bo / 64] &= !(1u64 << (bo % 64));
                if p.observer[o] {
                    backtrack = true;
                }
            }
            if !backtrack {
                e = nxt[e];
                continue;
            }
        }
        // backtrack
        let o = loop {
            let top = match stack.pop() {
                None => {
                    return out(INVALID, kstar, configs, steps, None, frontier, fcount, paths, pstarts, pomit)
                }
                Some(t) => t,
            };
            if has_opt {
                // the configuration being left is fully explored: failed
                let fh = hreq ^ splitmix64((state as u64) ^ 0x5A5A_0000_5A5A_0000);
                let (req, opt) = bits.split_at(rw);
                failed.add(fh, prefix, state, &req[prefix / 64..], opt);
            }
            let (o, s, forced, pf) = top;
            state = s;
            prefix = pf;
            lin[o] = false;
            let bo = pos[o];
            bits[bo / 64] &= !(1u64 << (bo % 64));
            hash ^= zob[o];
            if o < required {
                hreq ^= zob[o];
            }
            if o < required {
                remaining += 1;
            }
            let ri = ret_pos[o];
            if ri != NIL {
                let (a, b) = (prv[ri], nxt[ri]);
                nxt[a] = ri;
                if b != NIL {
                    prv[b] = ri;
                }
            }
            let ci = call_pos[o];
            let (a, b) = (prv[ci], nxt[ci]);
            nxt[a] = ci;
            if b != NIL {
                prv[b] = ci;
            }
            if !forced {
                break o;
            }
        };
        e = nxt[call_pos[o]];
    }
}

/// Search every problem on `threads` threads, biggest first; results in input order.
pub fn search_all(problems: &[Problem], max_configs: u64, max_steps: u64, threads: usize) -> Vec<Outcome> {
    let n = problems.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(problems[i].inv.len()));
    let threads = threads.max(1).min(n.max(1));
    if threads <= 1 || n < 2 {
        return problems.iter().map(|p| search(p, max_configs, max_steps)).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Outcome>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= n {
                    break;
                }
                let i = order[j];
                let r = search(&problems[i], max_configs, max_steps);
                *slots[i].lock().unwrap() = Some(r);
            });
        }
    });
    slots.into_iter().map(|m| m.into_inner().unwrap().unwrap()).collect()
}

#[cfg(feature = "python")]
mod py {
    use super::*;
    use pyo3::prelude::*;

    type PyProblem = (Vec<i64>, Vec<i64>, usize, Vec<u32>, Vec<bool>, u32);
    type PyOutcome = (u8, usize, u64, u64, Option<&'static str>, Vec<u32>, usize, Vec<Vec<u32>>, Vec<u32>, Vec<usize>);

    /// check(problems, max_configs, max_steps, threads) -> [outcome]; the GIL is released
    /// for the whole search.
    #[pyfunction]
    fn check(
        py: Python<'_>,
        problems: Vec<PyProblem>,
        max_configs: u64,
        max_steps: u64,
        threads: usize,
    ) -> PyResult<Vec<PyOutcome>> {
        let mut probs = Vec::with_capacity(problems.len());
        for (inv, ret, required, payload, observer, initial) in problems {
            if ret.len() != required || payload.len() != 3 * inv.len() || observer.len() != inv.len() || required > inv.len() {
                return Err(pyo3::exceptions::PyValueError::new_err("malformed problem arrays"));
            }
            probs.push(Problem { inv, ret, required, payload, observer, initial });
        }
        let outs = py.allow_threads(|| search_all(&probs, max_configs, max_steps, threads));
        Ok(outs
            .into_iter()
            .map(|o| (o.status, o.kstar, o.configs, o.steps, o.limit, o.frontier, o.frontier_count, o.paths, o.path_starts, o.path_omitted))
            .collect())
    }

    #[pymodule]
    fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("ABI", 2)?;
        m.add_function(wrap_pyfunction!(check, m)?)?;
        crate::txn::py::register(m)?;
        crate::queue::py::register(m)?;
        crate::set_session::py::register(m)?;
        crate::lists::py::register(m)?;
        crate::list_passes::py::register(m)?;
        crate::list_index::py::register(m)?;
        crate::sets::py::register(m)?;
        crate::registers::py::register(m)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_read_is_invalid() {
        // write 1; write 2; read 1 (sequential)
        let p = Problem {
            inv: vec![0, 2, 4],
            ret: vec![1, 3, 5],
            required: 3,
            payload: vec![WRITE, 2, 0, WRITE, 3, 0, READ, 2, 0],
            observer: vec![false, false, true],
            initial: 0,
        };
        let o = search(&p, 1000, 1000);
        assert_eq!(o.status, INVALID);
        assert_eq!(o.kstar, 2);
        assert_eq!(o.frontier, vec![3]);
    }

    #[test]
    fn budget_is_unknown() {
        let p = Problem {
            inv: vec![0, 1],
            ret: vec![2, 3],
            required: 2,
            payload: vec![WRITE, 2, 0, WRITE, 3, 0],
            observer: vec![false, false],
            initial: 0,
        };
        assert_eq!(search(&p, 1, 1000).status, UNKNOWN);
        assert_eq!(search(&p, 1000, 1000).status, VALID);
    }
}
