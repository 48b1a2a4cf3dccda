//! The queue checker's two per-message passes (checkers/queue/model.py `_read`,
//! checkers/queue/log.py `ReadSummary`), step for step on the same Python objects.
//!
//! Only positions are computed here; every anomaly and explanation stays in Python.
//! `queue_read` declines (returns False, having touched nothing) on anything but the
//! plain JSON shapes, so Python's own loop runs and raises its usual errors.

#[cfg(feature = "python")]
pub mod py {
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};

    fn plain_offset(off: &Bound<'_, PyAny>) -> bool {
        off.is_none() || off.is_exact_instance_of::<PyString>() || off.is_exact_instance_of::<PyInt>()
    }

    /// model.py `QueueHistory._read`'s message loop for one read op: appends
    /// (key, offset, value) to `pairs`, places each message in `read_at` and records
    /// the first ok reader in `read_ok`. False (nothing changed) when any key is not a
    /// str already in `names`, or a message list / message / offset is not plain.
    #[pyfunction]
    #[allow(clippy::too_many_arguments)]
    fn queue_read<'py>(
        py: Python<'py>,
        v: &Bound<'py, PyDict>,
        names: &Bound<'py, PyDict>,
        read_at: &Bound<'py, PyDict>,
        read_ok: &Bound<'py, PyDict>,
        ok: bool,
        idx: &Bound<'py, PyAny>,
        op: &Bound<'py, PyAny>,
        pairs: &Bound<'py, PyList>,
    ) -> PyResult<bool> {
        if !v.is_exact_instance_of::<PyDict>() {
            return Ok(false);
        }
        // pass 1: only check shapes, so that declining leaves everything untouched
        for (k, items) in v.iter() {
            if !k.is_exact_instance_of::<PyString>() || !names.contains(&k)? {
                return Ok(false);
            }
            let items = match items.downcast_exact::<PyList>() {
                Ok(l) => l,
                Err(_) => return Ok(false),
            };
            for it in items.iter() {
                if let Ok(l) = it.downcast_exact::<PyList>() {
                    if l.len() < 2 || !plain_offset(&l.get_item(0)?) {
                        return Ok(false);
                    }
                } else if let Ok(t) = it.downcast_exact::<PyTuple>() {
                    if t.len() < 2 || !plain_offset(&t.get_item(0)?) {
                        return Ok(false);
                    }
                } else {
                    return Ok(false);
                }
            }
        }
        // pass 2: the Python loop
        for (k, items) in v.iter() {
            let at = match read_at.get_item(&k)? {
                Some(a) => a.downcast_into::<PyDict>()?,
                None => {
                    let a = PyDict::new(py);
                    read_at.set_item(&k, &a)?;
                    a
                }
            };
            let seen = if ok {
                Some(match read_ok.get_item(&k)? {
                    Some(s) => s.downcast_into::<PyDict>()?,
                    None => {
                        let s = PyDict::new(py);
                        read_ok.set_item(&k, &s)?;
                        s
                    }
                })
            } else {
                None
            };
            let items = items.downcast_exact::<PyList>()?;
            for it in items.iter() {
                let (off, val) = if let Ok(l) = it.downcast_exact::<PyList>() {
                    (l.get_item(0)?, l.get_item(1)?)
                } else {
                    let t = it.downcast_exact::<PyTuple>()?;
                    (t.get_item(0)?, t.get_item(1)?)
                };
                pairs.append(PyTuple::new(py, [&k, &off, &val])?)?;
                if !off.is_none() {
                    match at.get_item(&off)? {
                        None => {
                            let d = PyDict::new(py);
                            d.set_item(&val, idx)?;
                            at.set_item(&off, d)?;
                        }
                        Some(vals) => {
                            let vals = vals.downcast_into::<PyDict>()?;
                            if !vals.contains(&val)? {
                                vals.set_item(&val, idx)?;
                            }
                        }
                    }
                }
                if let Some(seen) = &seen {
                    if !seen.contains(&val)? {
                        seen.set_item(&val, op)?;
                    }
                }
            }
        }
        Ok(true)
    }

    struct Summ<'py> {
        key: Bound<'py, PyAny>,
        first_i: Bound<'py, PyAny>,
        first_v: Bound<'py, PyAny>,
        last_i: i64,
        last_v: Bound<'py, PyAny>,
        max_i: i64,
    }

    /// log.py `ReadSummary` over every read: `maps` is key -> (index_of, first) of the
    /// key's log; fills `per_op` (op index -> {key: [first index, first value, last
    /// index, last value, max index]}) and `intra` (op, key, previous index, previous
    /// value, index, value) for consecutive messages of a poll not one index apart.
    #[pyfunction]
    fn queue_dense<'py>(
        py: Python<'py>,
        reads: &Bound<'py, PyList>,
        maps: &Bound<'py, PyDict>,
        per_op: &Bound<'py, PyDict>,
        intra: &Bound<'py, PyList>,
    ) -> PyResult<()> {
        let s_index = pyo3::intern!(py, "index");
        let s_f = pyo3::intern!(py, "f");
        for r in reads.iter() {
            let r = r.downcast_into::<PyTuple>()?;
            let op = r.get_item(0)?;
            let pairs = r.get_item(1)?;
            let pairs = pairs.downcast::<PyList>()?;
            let is_poll = op.getattr(s_f)?.eq("poll")?;
            let mut summ: Vec<Summ<'py>> = Vec::new();
            let mut last_k: Option<Bound<'py, PyAny>> = None;
            let mut lg: Option<(Bound<'py, PyDict>, Bound<'py, PyDict>)> = None;
            let mut s: Option<usize> = None;
            for p in pairs.iter() {
                let p = p.downcast_into::<PyTuple>()?;
                let k = p.get_item(0)?;
                let off = p.get_item(1)?;
                let v = p.get_item(2)?;
                let same = matches!(&last_k, Some(l) if l.is(&k));
                if !same {
                    lg = match maps.get_item(&k)? {
                        None => None,
                        Some(t) => {
                            let t = t.downcast_into::<PyTuple>()?;
                            Some((t.get_item(0)?.downcast_into::<PyDict>()?,
                                  t.get_item(1)?.downcast_into::<PyDict>()?))
                        }
                    };
                    s = None;
                    for (j, e) in summ.iter().enumerate() {
                        if e.key.is(&k) || e.key.eq(&k)? {
                            s = Some(j);
                            break;
                        }
                    }
                    last_k = Some(k.clone());
                }
                let (index_of, first) = match &lg {
                    None => continue,
                    Some(x) => x,
                };
                let i = if !off.is_none() { index_of.get_item(&off)? } else { first.get_item(&v)? };
                let i = match i {
                    None => continue,
                    Some(i) => i,
                };
                match s {
                    None => {
                        let n: i64 = i.extract()?;
                        summ.push(Summ { key: k, first_i: i, first_v: v.clone(), last_i: n,
                                         last_v: v, max_i: n });
                        s = Some(summ.len() - 1);
                    }
                    Some(j) => {
                        let n: i64 = i.extract()?;
                        let e = &mut summ[j];
                        if n - e.last_i != 1 && is_poll {
                            intra.append(PyTuple::new(py, [op.clone(), k, e.last_i.into_pyobject(py)?.into_any(),
                                                           e.last_v.clone(), i, v.clone()])?)?;
                        }
                        e.last_i = n;
                        e.last_v = v;
                        if n > e.max_i {
                            e.max_i = n;
                        }
                    }
                }
            }
            let d = PyDict::new(py);
            for e in summ {
                let l = PyList::new(py, [e.first_i, e.first_v,
                                         e.last_i.into_pyobject(py)?.into_any(), e.last_v,
                                         e.max_i.into_pyobject(py)?.into_any()])?;
                d.set_item(e.key, l)?;
            }
            per_op.set_item(op.getattr(s_index)?, d)?;
        }
        Ok(())
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(queue_read, m)?)?;
        m.add_function(wrap_pyfunction!(queue_dense, m)?)?;
        Ok(())
    }
}
