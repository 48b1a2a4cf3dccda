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

    // Op is a NamedTuple (harness/history.py); checkers/queue/native.py checks these
    // field positions against `Op._fields` before it enables the functions below.
    const OP_INDEX: usize = 0;
    const OP_TYPE: usize = 5;
    const OP_F: usize = 6;
    const OP_T_INV: usize = 11;
    const OP_T_RET_SEEN: usize = 13;
    const OP_FINAL: usize = 15;
    const OP_EXTRA: usize = 16;

    fn field<'py>(op: &Bound<'py, PyTuple>, i: usize) -> PyResult<Bound<'py, PyAny>> {
        op.get_item(i)
    }

    fn str_is(o: &Bound<'_, PyAny>, s: &str) -> bool {
        match o.downcast::<PyString>() {
            Ok(x) => x.to_str().map(|t| t == s).unwrap_or(false),
            Err(_) => false,
        }
    }

    /// log.py `check_processes`' hot path for one process: from `start`, every plain
    /// poll (f == "poll", no extra) in `ops` is checked against `last_read` (key ->
    /// (index, value, op)) and moves it when ok, and every `send` op is checked against
    /// `last_send` (key -> (index, value, op)) and moves it when ok/info. The callbacks
    /// are called, in order, where the Python loop adds its findings:
    /// `found(k, lr, s, op)` (`_order_finding`), `int_send(op, k, (pi, pv), v, i)` and
    /// `mono_send(op, k, ls, v, i)`. Returns the position of the first other op
    /// (len(ops) at the end): Python handles it.
    #[pyfunction]
    #[allow(clippy::too_many_arguments)]
    fn queue_steps<'py>(
        py: Python<'py>,
        ops: &Bound<'py, PyList>,
        start: usize,
        per_op: &Bound<'py, PyDict>,
        last_read: &Bound<'py, PyDict>,
        last_send: &Bound<'py, PyDict>,
        op_sends: &Bound<'py, PyDict>,
        maps: &Bound<'py, PyDict>,
        found: &Bound<'py, PyAny>,
        int_send: &Bound<'py, PyAny>,
        mono_send: &Bound<'py, PyAny>,
    ) -> PyResult<usize> {
        let n = ops.len();
        let mut pos = start;
        while pos < n {
            let op_any = ops.get_item(pos)?;
            let op = op_any.downcast::<PyTuple>()?;
            let f = field(op, OP_F)?;
            if str_is(&f, "send") {
                pos += 1;
                let ty = field(op, OP_TYPE)?;
                if !(str_is(&ty, "ok") || str_is(&ty, "info")) {
                    continue;
                }
                let sends = match op_sends.get_item(field(op, OP_INDEX)?)? {
                    None => continue,
                    Some(x) => x.downcast_into::<PyList>()?,
                };
                // (key, first (i, v), last (i, v)) in first-occurrence order
                let mut per_key: Vec<(Bound<'py, PyAny>, (i64, Bound<'py, PyAny>), (i64, Bound<'py, PyAny>))> = Vec::new();
                for sd in sends.iter() {
                    let sd = sd.downcast_into::<PyTuple>()?;
                    let k = sd.get_item(1)?;
                    let v = sd.get_item(2)?;
                    let off = sd.get_item(3)?;
                    let lg = match maps.get_item(&k)? {
                        None => continue,
                        Some(t) => t.downcast_into::<PyTuple>()?,
                    };
                    let mut i = None;
                    if !off.is_none() {
                        i = lg.get_item(0)?.downcast_into::<PyDict>()?.get_item(&off)?;
                    }
                    if i.is_none() {
                        i = lg.get_item(1)?.downcast_into::<PyDict>()?.get_item(&v)?;
                    }
                    let i: i64 = match i {
                        None => continue,
                        Some(i) => i.extract()?,
                    };
                    let mut slot = None;
                    for (j, e) in per_key.iter().enumerate() {
                        if e.0.is(&k) || e.0.eq(&k)? {
                            slot = Some(j);
                            break;
                        }
                    }
                    match slot {
                        None => per_key.push((k, (i, v.clone()), (i, v))),
                        Some(j) => {
                            let p = &per_key[j].2;
                            if i - p.0 < 1 {
                                let pt = PyTuple::new(py, [p.0.into_pyobject(py)?.into_any(), p.1.clone()])?;
                                int_send.call1((&op_any, &k, pt, &v, i))?;
                            }
                            per_key[j].2 = (i, v);
                        }
                    }
                }
                for (k, (i, v), _) in &per_key {
                    if let Some(ls) = last_send.get_item(k)? {
                        let l0: i64 = ls.downcast::<PyTuple>()?.get_item(0)?.extract()?;
                        if i - l0 < 1 {
                            mono_send.call1((&op_any, k, &ls, v, *i))?;
                        }
                    }
                }
                for (k, _, (i, v)) in per_key {
                    let t = PyTuple::new(py, [i.into_pyobject(py)?.into_any(), v, op_any.clone()])?;
                    last_send.set_item(k, t)?;
                }
                continue;
            }
            if !str_is(&f, "poll") || field(op, OP_EXTRA)?.is_truthy()? {
                return Ok(pos);
            }
            pos += 1;
            let summ = match per_op.get_item(field(op, OP_INDEX)?)? {
                None => continue,
                Some(d) => d,
            };
            let summ = summ.downcast_into::<PyDict>()?;
            let ok = str_is(&field(op, OP_TYPE)?, "ok");
            for (k, s) in summ.iter() {
                let s = s.downcast_into::<PyList>()?;
                if let Some(lr) = last_read.get_item(&k)? {
                    let lr = lr.downcast_into::<PyTuple>()?;
                    let a: i64 = s.get_item(0)?.extract()?;
                    let b: i64 = lr.get_item(0)?.extract()?;
                    if a - b != 1 {
                        found.call1((&k, &lr, &s, &op_any))?;
                    }
                }
                if ok {
                    let t = PyTuple::new(py, [s.get_item(2)?, s.get_item(3)?, op_any.clone()])?;
                    last_read.set_item(&k, t)?;
                }
            }
        }
        Ok(pos)
    }

    fn pct(sorted: &[i64], p: f64) -> i64 {
        let n = sorted.len();
        let c = (p * n as f64).ceil() as i64 - 1;
        let i = (c.max(0) as usize).min(n - 1);
        sorted[i]
    }

    /// lag.py `known_times` + `_walk` (the stats form) + the percentiles of `check_lag`,
    /// on integer times. Returns None (Python then runs its loops) when a time is not an
    /// int; else (count, p50, p95, p99, max, count over `max_lag`, worst tuple | None,
    /// polls measured). `maps` is key -> (index_of, first) of the key's log.
    #[pyfunction]
    #[pyo3(signature = (sends, reads, maps, per_op, by_process, assigned_keys, max_lag=None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn queue_lag<'py>(
        py: Python<'py>,
        sends: &Bound<'py, PyList>,
        reads: &Bound<'py, PyList>,
        maps: &Bound<'py, PyDict>,
        per_op: &Bound<'py, PyDict>,
        by_process: &Bound<'py, PyDict>,
        assigned_keys: &Bound<'py, PyAny>,
        max_lag: Option<i64>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        const INF: i64 = i64::MAX;
        // key -> its position in `at`
        let kidx = PyDict::new(py);
        let mut at: Vec<Vec<i64>> = Vec::with_capacity(maps.len());
        let mut lgs: Vec<(Bound<'py, PyDict>, Bound<'py, PyDict>)> = Vec::with_capacity(maps.len());
        for (k, t) in maps.iter() {
            let t = t.downcast_into::<PyTuple>()?;
            let index_of = t.get_item(0)?.downcast_into::<PyDict>()?;
            let first = t.get_item(1)?.downcast_into::<PyDict>()?;
            kidx.set_item(&k, at.len())?;
            at.push(vec![INF; index_of.len()]);
            lgs.push((index_of, first));
        }
        for sd in sends.iter() {
            let sd = sd.downcast_into::<PyTuple>()?;
            let op_any = sd.get_item(0)?;
            let op = op_any.downcast::<PyTuple>()?;
            let t = field(op, OP_T_RET_SEEN)?;
            if t.is_none() || str_is(&field(op, OP_TYPE)?, "fail") {
                continue;
            }
            let t: i64 = match t.extract() {
                Ok(t) => t,
                Err(_) => return Ok(None),
            };
            let kid: usize = match kidx.get_item(sd.get_item(1)?)? {
                None => continue,
                Some(x) => x.extract()?,
            };
            let (index_of, first) = &lgs[kid];
            let off = sd.get_item(3)?;
            let mut i = if off.is_none() { None } else { index_of.get_item(&off)? };
            if i.is_none() {
                i = first.get_item(sd.get_item(2)?)?;
            }
            if let Some(i) = i {
                let i: usize = i.extract()?;
                if t < at[kid][i] {
                    at[kid][i] = t;
                }
            }
        }
        for r in reads.iter() {
            let r = r.downcast_into::<PyTuple>()?;
            let op_any = r.get_item(0)?;
            let op = op_any.downcast::<PyTuple>()?;
            let t = field(op, OP_T_RET_SEEN)?;
            if t.is_none() {
                continue;
            }
            let t: i64 = match t.extract() {
                Ok(t) => t,
                Err(_) => return Ok(None),
            };
            if let Some(summ) = per_op.get_item(field(op, OP_INDEX)?)? {
                let summ = summ.downcast_into::<PyDict>()?;
                for (k, s) in summ.iter() {
                    let kid: usize = kidx.get_item(&k)?.ok_or_else(|| {
                        pyo3::exceptions::PyKeyError::new_err("read key without a log")
                    })?.extract()?;
                    let i: usize = s.downcast_into::<PyList>()?.get_item(4)?.extract()?;
                    if t < at[kid][i] {
                        at[kid][i] = t;
                    }
                }
            }
        }
        for arr in at.iter_mut() {
            for i in (0..arr.len().saturating_sub(1)).rev() {
                if arr[i + 1] < arr[i] {
                    arr[i] = arr[i + 1];
                }
            }
        }
        // the walk, process by process
        let mut lags: Vec<i64> = Vec::new();
        let mut worst: Option<(i64, Bound<'py, PyAny>, Bound<'py, PyAny>, i64, Bound<'py, PyAny>)> = None;
        let mut worst_lag: i64 = -1;
        let mut polls: u64 = 0;
        let mut pos: std::collections::HashMap<usize, i64> = std::collections::HashMap::new();
        for (proc, ops) in by_process.iter() {
            pos.clear();
            let mut assigned: Vec<Bound<'py, PyAny>> = Vec::new();
            let ops = ops.downcast_into::<PyList>()?;
            for op_any in ops.iter() {
                let op = op_any.downcast::<PyTuple>()?;
                let f = field(op, OP_F)?;
                if str_is(&f, "poll") {
                    if !str_is(&field(op, OP_TYPE)?, "ok") || field(op, OP_FINAL)?.is_truthy()? {
                        continue;
                    }
                } else if str_is(&f, "assign") {
                    let keys = assigned_keys.call1((&op_any,))?;
                    let keys: Vec<Bound<'py, PyAny>> = keys.try_iter()?.collect::<PyResult<_>>()?;
                    let mut keep = std::collections::HashSet::new();
                    for k in &keys {
                        if let Some(x) = kidx.get_item(k)? {
                            keep.insert(x.extract::<usize>()?);
                        }
                    }
                    pos.retain(|kid, _| keep.contains(kid));
                    assigned = keys;
                    continue;
                } else if str_is(&f, "subscribe") || str_is(&f, "crash") {
                    pos.clear();
                    assigned.clear();
                    continue;
                } else {
                    continue;
                }
                let summ = per_op.get_item(field(op, OP_INDEX)?)?;
                let summ = match summ {
                    Some(d) => Some(d.downcast_into::<PyDict>()?),
                    None => None,
                };
                let mut polled: Vec<(Bound<'py, PyAny>, usize)> = Vec::new();
                if let Some(summ) = &summ {
                    for (k, s) in summ.iter() {
                        let kid: usize = kidx.get_item(&k)?.ok_or_else(|| {
                            pyo3::exceptions::PyKeyError::new_err("read key without a log")
                        })?.extract()?;
                        let i: i64 = s.downcast_into::<PyList>()?.get_item(2)?.extract()?;
                        pos.insert(kid, i);
                        polled.push((k, kid));
                    }
                }
                let t: i64 = match field(op, OP_T_INV)?.extract() {
                    Ok(t) => t,
                    Err(_) => return Ok(None),
                };
                // keys = assigned + the polled keys not in it (or the polled keys)
                let mut keys: Vec<(Bound<'py, PyAny>, Option<usize>)> = Vec::new();
                if !assigned.is_empty() {
                    for k in &assigned {
                        let kid = match kidx.get_item(k)? {
                            Some(x) => Some(x.extract::<usize>()?),
                            None => None,
                        };
                        keys.push((k.clone(), kid));
                    }
                    for (k, kid) in polled {
                        let mut inside = false;
                        for a in &assigned {
                            if a.eq(&k)? {
                                inside = true;
                                break;
                            }
                        }
                        if !inside {
                            keys.push((k, Some(kid)));
                        }
                    }
                } else {
                    keys = polled.into_iter().map(|(k, kid)| (k, Some(kid))).collect();
                }
                if !keys.is_empty() {
                    polls += 1;
                }
                for (k, kid) in keys {
                    let mut lag = 0i64;
                    let mut late = false;
                    if let Some(kid) = kid {
                        let arr = &at[kid];
                        let nxt = pos.get(&kid).copied().unwrap_or(-1) + 1;
                        if nxt >= 0 && (nxt as usize) < arr.len() && arr[nxt as usize] < t {
                            lag = t - arr[nxt as usize];
                            late = true;
                        }
                    }
                    lags.push(lag);
                    if late {
                        if lag > worst_lag {
                            worst_lag = lag;
                            worst = Some((t, proc.clone(), k, lag, field(op, OP_INDEX)?));
                        }
                    } else if worst.is_none() {
                        worst_lag = 0;
                        worst = Some((t, proc.clone(), k, 0, field(op, OP_INDEX)?));
                    }
                }
            }
        }
        let n = lags.len();
        let worst = match worst {
            None => py.None().into_bound(py),
            Some((t, p, k, l, i)) => PyTuple::new(py, [t.into_pyobject(py)?.into_any(), p, k,
                                                      l.into_pyobject(py)?.into_any(), i])?.into_any(),
        };
        let none = || py.None().into_bound(py);
        if n == 0 {
            return Ok(Some(PyTuple::new(py, [0i64.into_pyobject(py)?.into_any(), none(), none(),
                                             none(), none(), none(), worst,
                                             polls.into_pyobject(py)?.into_any()])?));
        }
        lags.sort_unstable();
        let over = match max_lag {
            None => none(),
            Some(m) => (n - lags.partition_point(|&l| l <= m)).into_pyobject(py)?.into_any(),
        };
        let v = |x: i64| x.into_pyobject(py).map(|o| o.into_any());
        Ok(Some(PyTuple::new(py, [n.into_pyobject(py)?.into_any(), v(pct(&lags, 0.5))?,
                                  v(pct(&lags, 0.95))?, v(pct(&lags, 0.99))?, v(lags[n - 1])?,
                                  over, worst, polls.into_pyobject(py)?.into_any()])?))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(queue_read, m)?)?;
        m.add_function(wrap_pyfunction!(queue_dense, m)?)?;
        m.add_function(wrap_pyfunction!(queue_steps, m)?)?;
        m.add_function(wrap_pyfunction!(queue_lag, m)?)?;
        Ok(())
    }
}
