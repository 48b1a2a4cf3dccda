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
    /// (key, messages) to `pairs` (the recorded list, not a copy), places each message in `read_at` and records
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
            // the recorded message list itself: its messages are plain [offset, value]
            pairs.append(PyTuple::new(py, [k.as_any(), items.as_any()])?)?;
            for it in items.iter() {
                let (off, val) = if let Ok(l) = it.downcast_exact::<PyList>() {
                    (l.get_item(0)?, l.get_item(1)?)
                } else {
                    let t = it.downcast_exact::<PyTuple>()?;
                    (t.get_item(0)?, t.get_item(1)?)
                };
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

    // Op is a NamedTuple (harness/history.py); checkers/queue/native.py checks these
    // field positions against `Op._fields` before it enables the functions below
    // (lists.rs reads the first three too).
    pub(crate) const OP_INDEX: usize = 0;
    pub(crate) const OP_TYPE: usize = 5;
    pub(crate) const OP_F: usize = 6;
    const OP_T_INV: usize = 11;
    const OP_T_RET_SEEN: usize = 13;
    const OP_FINAL: usize = 15;
    const OP_EXTRA: usize = 16;

    fn field<'py>(op: &Bound<'py, PyTuple>, i: usize) -> PyResult<Bound<'py, PyAny>> {
        op.get_item(i)
    }

    pub(crate) fn str_is(o: &Bound<'_, PyAny>, s: &str) -> bool {
        match o.downcast::<PyString>() {
            Ok(x) => x.to_str().map(|t| t == s).unwrap_or(false),
            Err(_) => false,
        }
    }


    /// Maps keyed by small integers (kids): FxHash's multiply, not SipHash.
    #[derive(Default, Clone, Copy)]
    pub struct Fx(u64);
    impl std::hash::Hasher for Fx {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0.rotate_left(5) ^ (*b as u64)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
            }
        }
        fn write_usize(&mut self, i: usize) {
            self.0 = (self.0.rotate_left(5) ^ (i as u64)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        fn write_i64(&mut self, i: i64) {
            self.write_usize(i as usize);
        }
    }
    type FxMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

    /// One key's placement inside one read: log.py `ReadSummary`'s
    /// [first index, first value, last index, last value, max index].
    struct Entry {
        kid: u32,
        fi: i64,
        li: i64,
        mi: i64,
        key: Py<PyAny>,
        fv: Py<PyAny>,
        lv: Py<PyAny>,
    }

    /// log.py `ReadSummary` in compact form: every read's per-key summaries by op index,
    /// keys numbered (kid) in the order of `maps`. `get(op index, default)` renders one
    /// read's summaries as the Python form ({key: [fi, fv, li, lv, mi]}) for the Python
    /// paths; `queue_steps` and `queue_lag` read the entries directly.
    #[pyclass(module = "splitbrain._native")]
    pub struct QueueIndex {
        kidx: Py<PyDict>,
        lgs: Vec<(Py<PyDict>, Py<PyDict>)>,
        reads: FxMap<i64, (usize, usize)>,
        entries: Vec<Entry>,
    }

    fn summ_list<'py>(py: Python<'py>, e: &Entry) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, [e.fi.into_pyobject(py)?.into_any(), e.fv.bind(py).clone(),
                         e.li.into_pyobject(py)?.into_any(), e.lv.bind(py).clone(),
                         e.mi.into_pyobject(py)?.into_any()])
    }

    #[pymethods]
    impl QueueIndex {
        #[pyo3(signature = (op_index, default=None))]
        fn get<'py>(&self, py: Python<'py>, op_index: &Bound<'py, PyAny>,
                    default: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
            let none = || default.clone().unwrap_or_else(|| py.None().into_bound(py));
            let i: i64 = match op_index.extract() {
                Ok(i) => i,
                Err(_) => return Ok(none()),
            };
            match self.reads.get(&i) {
                None => Ok(none()),
                Some(&(a, b)) => {
                    let d = PyDict::new(py);
                    for e in &self.entries[a..b] {
                        d.set_item(e.key.bind(py), summ_list(py, e)?)?;
                    }
                    Ok(d.into_any())
                }
            }
        }

        fn __len__(&self) -> usize {
            self.reads.len()
        }
    }

    impl QueueIndex {
        fn kid(&self, py: Python<'_>, k: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
            match self.kidx.bind(py).get_item(k)? {
                None => Ok(None),
                Some(x) => Ok(Some(x.extract()?)),
            }
        }

        /// A send's dense index (log.py `idx`): by offset, else by value.
        fn send_index(&self, py: Python<'_>, kid: usize, off: &Bound<'_, PyAny>,
                      v: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
            let (index_of, first) = &self.lgs[kid];
            let mut i = None;
            if !off.is_none() {
                i = index_of.bind(py).get_item(off)?;
            }
            if i.is_none() {
                i = first.bind(py).get_item(v)?;
            }
            match i {
                None => Ok(None),
                Some(i) => Ok(Some(i.extract()?)),
            }
        }
    }

    /// log.py `ReadSummary` over every read: `maps` is key -> (index_of, first) of the
    /// key's log; returns the QueueIndex and fills `intra` (op, key, previous index,
    /// previous value, index, value) for consecutive messages of a poll not one index
    /// apart.
    #[pyfunction]
    fn queue_index<'py>(
        py: Python<'py>,
        reads: &Bound<'py, PyList>,
        maps: &Bound<'py, PyDict>,
        intra: &Bound<'py, PyList>,
    ) -> PyResult<QueueIndex> {
        let s_index = pyo3::intern!(py, "index");
        let s_f = pyo3::intern!(py, "f");
        let kidx = PyDict::new(py);
        let mut lgs = Vec::with_capacity(maps.len());
        for (k, t) in maps.iter() {
            let t = t.downcast_into::<PyTuple>()?;
            kidx.set_item(&k, lgs.len())?;
            lgs.push((t.get_item(0)?.downcast_into::<PyDict>()?.unbind(),
                      t.get_item(1)?.downcast_into::<PyDict>()?.unbind()));
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut index: FxMap<i64, (usize, usize)> = FxMap::default();
        index.reserve(reads.len());
        for r in reads.iter() {
            let r = r.downcast_into::<PyTuple>()?;
            let op = r.get_item(0)?;
            let groups = r.get_item(1)?;
            let groups = groups.downcast::<PyList>()?;
            let is_poll = op.getattr(s_f)?.eq("poll")?;
            let start = entries.len();
            for g in groups.iter() {
                let g = g.downcast_into::<PyTuple>()?;
                let k = g.get_item(0)?;
                let msgs = g.get_item(1)?;
                let kid: usize = match kidx.get_item(&k)? {
                    None => continue,
                    Some(x) => x.extract()?,
                };
                let index_of = lgs[kid].0.bind(py);
                let first = lgs[kid].1.bind(py);
                let mut s: Option<usize> = None;
                for j in start..entries.len() {
                    let ek = entries[j].key.bind(py);
                    if ek.is(&k) || ek.eq(&k)? {
                        s = Some(j);
                        break;
                    }
                }
                let msgs = msgs.downcast_into::<PyList>()?;
                for it in msgs.iter() {
                    let (off, v) = if let Ok(l) = it.downcast::<PyList>() {
                        (l.get_item(0)?, l.get_item(1)?)
                    } else {
                        let t = it.downcast::<PyTuple>()?;
                        (t.get_item(0)?, t.get_item(1)?)
                    };
                    let i = if !off.is_none() { index_of.get_item(&off)? } else { first.get_item(&v)? };
                    let i: i64 = match i {
                        None => continue,
                        Some(i) => i.extract()?,
                    };
                    match s {
                        None => {
                            entries.push(Entry { kid: kid as u32, fi: i, li: i, mi: i,
                                                 key: k.clone().unbind(), fv: v.clone().unbind(),
                                                 lv: v.unbind() });
                            s = Some(entries.len() - 1);
                        }
                        Some(j) => {
                            let e = &mut entries[j];
                            if i - e.li != 1 && is_poll {
                                intra.append(PyTuple::new(py, [op.clone(), k.clone(),
                                    e.li.into_pyobject(py)?.into_any(), e.lv.bind(py).clone(),
                                    i.into_pyobject(py)?.into_any(), v.clone()])?)?;
                            }
                            e.li = i;
                            e.lv = v.unbind();
                            if i > e.mi {
                                e.mi = i;
                            }
                        }
                    }
                }
            }
            let oi: i64 = op.getattr(s_index)?.extract()?;
            index.insert(oi, (start, entries.len()));
        }
        Ok(QueueIndex { kidx: kidx.unbind(), lgs, reads: index, entries })
    }

    /// A position kept per key: (index, value, op) as log.py's last_read / last_send,
    /// the value and op either held (loaded from Python, a send) or named by position
    /// (entry e of the index, op at position p of the process's ops): no reference
    /// counting on the hot path.
    enum Src {
        Held { key: Py<PyAny>, v: Py<PyAny>, op: Py<PyAny> },
        Entry { e: usize, p: usize },
    }

    struct Pos {
        i: i64,
        src: Src,
    }

    type State = FxMap<usize, Pos>;

    fn load_state(py: Python<'_>, qi: &QueueIndex, d: &Bound<'_, PyDict>) -> PyResult<Option<State>> {
        let mut m = State::default();
        for (k, t) in d.iter() {
            let kid = match qi.kid(py, &k)? {
                None => return Ok(None), // a key without a log: leave it to Python
                Some(x) => x,
            };
            let t = t.downcast_into::<PyTuple>()?;
            m.insert(kid, Pos { i: t.get_item(0)?.extract()?,
                                src: Src::Held { key: k.unbind(), v: t.get_item(1)?.unbind(),
                                                 op: t.get_item(2)?.unbind() } });
        }
        Ok(Some(m))
    }

    /// (key, (index, value, op)) of a position.
    fn pos_parts<'py>(py: Python<'py>, qi: &QueueIndex, ops: &Bound<'py, PyList>, p: &Pos)
                      -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let (k, v, op) = match &p.src {
            Src::Held { key, v, op } => (key.bind(py).clone(), v.bind(py).clone(), op.bind(py).clone()),
            Src::Entry { e, p } => {
                let e = &qi.entries[*e];
                (e.key.bind(py).clone(), e.lv.bind(py).clone(), ops.get_item(*p)?)
            }
        };
        Ok((k, PyTuple::new(py, [p.i.into_pyobject(py)?.into_any(), v, op])?))
    }

    fn store_state(py: Python<'_>, qi: &QueueIndex, ops: &Bound<'_, PyList>, m: State,
                   d: &Bound<'_, PyDict>) -> PyResult<()> {
        d.clear();
        let mut v: Vec<(usize, Pos)> = m.into_iter().collect();
        v.sort_by_key(|x| x.0);
        for (_, p) in v {
            let (k, t) = pos_parts(py, qi, ops, &p)?;
            d.set_item(k, t)?;
        }
        Ok(())
    }

    /// log.py `check_processes`' hot path for one process: from `start`, every plain
    /// poll (f == "poll", no extra) in `ops` is checked against the process's last read
    /// positions and moves them when ok, and every `send` op is checked against its last
    /// send positions and moves them when ok/info. The positions come from and go back to
    /// the Python dicts `last_read` / `last_send` (key -> (index, value, op)). The
    /// callbacks are called, in order, where the Python loop adds its findings:
    /// `found(k, lr, s, op)` (`_order_finding`), `int_send(op, k, (pi, pv), v, i)` and
    /// `mono_send(op, k, ls, v, i)`. Returns the position of the first other op
    /// (len(ops) at the end): Python handles it.
    #[pyfunction]
    #[allow(clippy::too_many_arguments)]
    fn queue_steps<'py>(
        py: Python<'py>,
        qi: PyRef<'py, QueueIndex>,
        ops: &Bound<'py, PyList>,
        start: usize,
        last_read: &Bound<'py, PyDict>,
        last_send: &Bound<'py, PyDict>,
        op_sends: &Bound<'py, PyDict>,
        found: &Bound<'py, PyAny>,
        int_send: &Bound<'py, PyAny>,
        mono_send: &Bound<'py, PyAny>,
    ) -> PyResult<usize> {
        let (mut lr_m, mut ls_m) = match (load_state(py, &qi, last_read)?, load_state(py, &qi, last_send)?) {
            (Some(a), Some(b)) => (a, b),
            _ => return Ok(start),
        };
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
                // (kid, key, first (i, v), last (i, v)) in first-occurrence order
                let mut per_key: Vec<(usize, Bound<'py, PyAny>, (i64, Bound<'py, PyAny>), (i64, Bound<'py, PyAny>))> = Vec::new();
                for sd in sends.iter() {
                    let sd = sd.downcast_into::<PyTuple>()?;
                    let k = sd.get_item(1)?;
                    let v = sd.get_item(2)?;
                    let kid = match qi.kid(py, &k)? {
                        None => continue,
                        Some(x) => x,
                    };
                    let i = match qi.send_index(py, kid, &sd.get_item(3)?, &v)? {
                        None => continue,
                        Some(i) => i,
                    };
                    match per_key.iter().position(|e| e.0 == kid) {
                        None => per_key.push((kid, k, (i, v.clone()), (i, v))),
                        Some(j) => {
                            let p = &per_key[j].3;
                            if i - p.0 < 1 {
                                let pt = PyTuple::new(py, [p.0.into_pyobject(py)?.into_any(), p.1.clone()])?;
                                int_send.call1((&op_any, &k, pt, &v, i))?;
                            }
                            per_key[j].3 = (i, v);
                        }
                    }
                }
                for (kid, k, (i, v), _) in &per_key {
                    if let Some(ls) = ls_m.get(kid) {
                        if i - ls.i < 1 {
                            let (_, lt) = pos_parts(py, &qi, ops, ls)?;
                            mono_send.call1((&op_any, k, lt, v, *i))?;
                        }
                    }
                }
                for (kid, k, _, (i, v)) in per_key {
                    ls_m.insert(kid, Pos { i, src: Src::Held { key: k.unbind(), v: v.unbind(),
                                                               op: op_any.clone().unbind() } });
                }
                continue;
            }
            if !str_is(&f, "poll") || field(op, OP_EXTRA)?.is_truthy()? {
                break;
            }
            pos += 1;
            let oi: i64 = field(op, OP_INDEX)?.extract()?;
            let (a, b) = match qi.reads.get(&oi) {
                None => continue,
                Some(&r) => r,
            };
            let ok = str_is(&field(op, OP_TYPE)?, "ok");
            for (ei, e) in qi.entries[a..b].iter().enumerate() {
                let kid = e.kid as usize;
                if let Some(lr) = lr_m.get(&kid) {
                    if e.fi - lr.i != 1 {
                        let (_, lt) = pos_parts(py, &qi, ops, lr)?;
                        found.call1((e.key.bind(py), lt, summ_list(py, e)?, &op_any))?;
                    }
                }
                if ok {
                    // the op is at pos - 1 (pos was advanced above)
                    lr_m.insert(kid, Pos { i: e.li, src: Src::Entry { e: a + ei, p: pos - 1 } });
                }
            }
        }
        store_state(py, &qi, ops, lr_m, last_read)?;
        store_state(py, &qi, ops, ls_m, last_send)?;
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
    /// polls measured).
    #[pyfunction]
    #[pyo3(signature = (qi, sends, reads, by_process, assigned_keys, max_lag=None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn queue_lag<'py>(
        py: Python<'py>,
        qi: PyRef<'py, QueueIndex>,
        sends: &Bound<'py, PyList>,
        reads: &Bound<'py, PyList>,
        by_process: &Bound<'py, PyDict>,
        assigned_keys: &Bound<'py, PyAny>,
        max_lag: Option<i64>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        const INF: i64 = i64::MAX;
        let mut at: Vec<Vec<i64>> = qi.lgs.iter().map(|(ix, _)| vec![INF; ix.bind(py).len()]).collect();
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
            let kid = match qi.kid(py, &sd.get_item(1)?)? {
                None => continue,
                Some(x) => x,
            };
            if let Some(i) = qi.send_index(py, kid, &sd.get_item(3)?, &sd.get_item(2)?)? {
                let i = i as usize;
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
            let oi: i64 = field(op, OP_INDEX)?.extract()?;
            if let Some(&(a, b)) = qi.reads.get(&oi) {
                for e in &qi.entries[a..b] {
                    let (kid, i) = (e.kid as usize, e.mi as usize);
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
        let mut worst: Option<(i64, Bound<'py, PyAny>, Py<PyAny>, i64, Bound<'py, PyAny>)> = None;
        let mut worst_lag: i64 = -1;
        let mut polls: u64 = 0;
        let mut pos: FxMap<usize, i64> = FxMap::default();
        // the keys measured at one poll: assigned[j] (Ok) or entry e (Err), and the kid
        let mut keys: Vec<(Result<usize, usize>, Option<usize>)> = Vec::new();
        for (proc, ops) in by_process.iter() {
            pos.clear();
            let mut assigned: Vec<(Py<PyAny>, Option<usize>)> = Vec::new();
            let ops = ops.downcast_into::<PyList>()?;
            for op_any in ops.iter() {
                let op = op_any.downcast::<PyTuple>()?;
                let f = field(op, OP_F)?;
                if str_is(&f, "poll") {
                    if !str_is(&field(op, OP_TYPE)?, "ok") || field(op, OP_FINAL)?.is_truthy()? {
                        continue;
                    }
                } else if str_is(&f, "assign") {
                    let ks = assigned_keys.call1((&op_any,))?;
                    assigned.clear();
                    for k in ks.try_iter()? {
                        let k = k?;
                        let kid = qi.kid(py, &k)?;
                        assigned.push((k.unbind(), kid));
                    }
                    let keep: std::collections::HashSet<usize> = assigned.iter().filter_map(|x| x.1).collect();
                    pos.retain(|kid, _| keep.contains(kid));
                    continue;
                } else if str_is(&f, "subscribe") || str_is(&f, "crash") {
                    pos.clear();
                    assigned.clear();
                    continue;
                } else {
                    continue;
                }
                let oi: i64 = field(op, OP_INDEX)?.extract()?;
                let (a, b) = qi.reads.get(&oi).copied().unwrap_or((0, 0));
                let polled = &qi.entries[a..b];
                for e in polled {
                    pos.insert(e.kid as usize, e.li);
                }
                let t: i64 = match field(op, OP_T_INV)?.extract() {
                    Ok(t) => t,
                    Err(_) => return Ok(None),
                };
                // keys = assigned + the polled keys not in it (or the polled keys)
                keys.clear();
                if !assigned.is_empty() {
                    for (j, (_, kid)) in assigned.iter().enumerate() {
                        keys.push((Ok(j), *kid));
                    }
                    for (ei, e) in polled.iter().enumerate() {
                        // kids are equal exactly when keys are (both come from `maps`)
                        if !assigned.iter().any(|x| x.1 == Some(e.kid as usize)) {
                            keys.push((Err(a + ei), Some(e.kid as usize)));
                        }
                    }
                } else {
                    for (ei, e) in polled.iter().enumerate() {
                        keys.push((Err(a + ei), Some(e.kid as usize)));
                    }
                }
                if !keys.is_empty() {
                    polls += 1;
                }
                for (kr, kid) in keys.drain(..) {
                    let key_of = |kr: Result<usize, usize>| match kr {
                        Ok(j) => assigned[j].0.clone_ref(py),
                        Err(e) => qi.entries[e].key.clone_ref(py),
                    };
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
                            worst = Some((t, proc.clone(), key_of(kr), lag, field(op, OP_INDEX)?));
                        }
                    } else if worst.is_none() {
                        worst_lag = 0;
                        worst = Some((t, proc.clone(), key_of(kr), 0, field(op, OP_INDEX)?));
                    }
                }
            }
        }
        let n = lags.len();
        let worst = match worst {
            None => py.None().into_bound(py),
            Some((t, p, k, l, i)) => PyTuple::new(py, [t.into_pyobject(py)?.into_any(), p, k.into_bound(py),
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
        m.add_function(wrap_pyfunction!(queue_index, m)?)?;
        m.add_class::<QueueIndex>()?;
        m.add_function(wrap_pyfunction!(queue_steps, m)?)?;
        m.add_function(wrap_pyfunction!(queue_lag, m)?)?;
        Ok(())
    }
}
