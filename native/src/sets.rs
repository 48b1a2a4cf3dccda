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
    let k = elems.len();
    let mut at: HashMap<i64, usize, BuildHasherDefault<MixHasher>> = HashMap::default();
    at.reserve(k);
    for (i, &e) in elems.iter().enumerate() {
        at.entry(e).or_insert(i);
    }
    let mut first = vec![-1i64; k];
    let mut last = vec![-1i64; k];
    let mut gap = vec![-1i64; k]; // the read before its latest (re)appearance
    for (i, r) in reads.iter().enumerate() {
        let i = i as i64;
        for e in r {
            if let Some(&a) = at.get(e) {
                if last[a] == i {
                    continue; // the element twice in one read
                }
                if first[a] < 0 {
                    first[a] = i;
                }
                if last[a] != i - 1 && i > 0 {
                    gap[a] = i - 1;
                }
                last[a] = i;
            }
        }
    }
    let n = reads.len() as i64;
    let absent = (0..k)
        .map(|a| if n > 0 && last[a] == n - 1 { gap[a] } else { n - 1 })
        .collect();
    // attempted elements listed twice share the first one's positions
    let mut out_first = first;
    let mut out_last = last;
    let mut out_absent: Vec<i64> = absent;
    for (i, e) in elems.iter().enumerate() {
        let a = at[e];
        if a != i {
            out_first[i] = out_first[a];
            out_last[i] = out_last[a];
            out_absent[i] = out_absent[a];
        }
    }
    (out_first, out_last, out_absent)
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
    use pyo3::prelude::*;
    use pyo3::types::{PyInt, PyList, PyTuple};

    fn exact_int(x: &Bound<'_, PyAny>) -> Option<i64> {
        if !x.is_exact_instance_of::<PyInt>() {
            return None;
        }
        x.extract::<i64>().ok()
    }

    fn ints(v: &Bound<'_, PyAny>) -> Option<Vec<i64>> {
        let mut out = Vec::new();
        if let Ok(l) = v.downcast_exact::<PyList>() {
            out.reserve(l.len());
            for x in l.iter() {
                out.push(exact_int(&x)?);
            }
        } else if let Ok(t) = v.downcast_exact::<PyTuple>() {
            out.reserve(t.len());
            for x in t.iter() {
                out.push(exact_int(&x)?);
            }
        } else {
            return None;
        }
        Some(out)
    }

    /// set_presence(values, elements) -> (first, last, absent) lists parallel to
    /// `elements` (see `presence`), or None (declined: an element that is not an int).
    #[pyfunction]
    fn set_presence(
        py: Python<'_>,
        values: &Bound<'_, PyList>,
        elements: &Bound<'_, PyList>,
    ) -> PyResult<Option<(Vec<i64>, Vec<i64>, Vec<i64>)>> {
        let mut reads = Vec::with_capacity(values.len());
        for v in values.iter() {
            match ints(&v) {
                Some(r) => reads.push(r),
                None => return Ok(None),
            }
        }
        let elems = match ints(elements.as_any()) {
            Some(e) => e,
            None => return Ok(None),
        };
        Ok(Some(py.allow_threads(|| super::presence(&reads, &elems))))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(set_presence, m)?)?;
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
