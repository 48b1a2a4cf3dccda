//! The queue checker's two per-message passes (checkers/queue/model.py `_read`,
//! checkers/queue/log.py `ReadSummary`), step for step on the same Python objects.
//!
//! Only positions are computed here; every anomaly and explanation stays in Python.
//! `queue_read` declines (returns False, having touched nothing) on anything but the
//! plain JSON shapes, so Python's own loop runs and raises its usual errors.

#[cfg(feature = "python")]
pub mod py {
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyInt, PyList, PySet, PyString, PyTuple};

    fn plain_offset(off: &Bound<'_, PyAny>) -> bool {
        off.is_none() || off.is_exact_instance_of::<PyString>() || off.is_exact_instance_of::<PyInt>()
    }

    /// d[k], a new dict stored there first when k is missing (`d.setdefault(k, {})`).
    fn dict_at<'py>(d: &Bound<'py, PyDict>, k: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        match d.get_item(k)? {
            Some(x) => Ok(x.downcast_into::<PyDict>()?),
            None => {
                let x = PyDict::new(d.py());
                d.set_item(k, &x)?;
                Ok(x)
            }
        }
    }

    /// log.py `KeyLog.add`: value `val` placed at offset `off` of `at` (offset -> {value:
    /// first op index}), `idx` kept when the value was there already.
    fn place<'py>(at: &Bound<'py, PyDict>, off: &Bound<'py, PyAny>, val: &Bound<'py, PyAny>,
                  idx: &Bound<'py, PyAny>) -> PyResult<()> {
        match at.get_item(off)? {
            None => {
                let d = PyDict::new(at.py());
                d.set_item(val, idx)?;
                at.set_item(off, d)
            }
            Some(vals) => {
                let vals = vals.downcast_into::<PyDict>()?;
                if !vals.contains(val)? {
                    vals.set_item(val, idx)?;
                }
                Ok(())
            }
        }
    }

    /// The shapes `queue_read` handles: every key a str already in `names`, every
    /// message list a list of [offset, value] lists/tuples with a plain offset.
    fn read_shape_ok(v: &Bound<'_, PyDict>, names: &Bound<'_, PyDict>) -> PyResult<bool> {
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
        Ok(true)
    }

    /// model.py `QueueHistory._read`'s message loop for one read op: appends
    /// (key, messages) to `pairs` (the recorded list, not a copy), places each message in `read_at` and records
    /// the first ok reader in `read_ok`. False (nothing changed) when any key is not a
    /// str already in `names`, or a message list / message / offset is not plain.
    #[pyfunction]
    #[allow(clippy::too_many_arguments)]
    fn queue_read<'py>(
        v: &Bound<'py, PyDict>,
        names: &Bound<'py, PyDict>,
        read_at: &Bound<'py, PyDict>,
        read_ok: &Bound<'py, PyDict>,
        ok: bool,
        idx: &Bound<'py, PyAny>,
        op: &Bound<'py, PyAny>,
        pairs: &Bound<'py, PyList>,
    ) -> PyResult<bool> {
        // only shapes first, so that declining leaves everything untouched
        if !v.is_exact_instance_of::<PyDict>() || !read_shape_ok(v, names)? {
            return Ok(false);
        }
        read_place(v, &ReadInto { read_at, read_ok, pairs: Some(pairs) }, ok, idx, op)?;
        Ok(true)
    }

    /// Where a read's messages go: QueueHistory's `read_at` / `read_ok` and the read's pairs.
    struct ReadInto<'a, 'py> {
        read_at: &'a Bound<'py, PyDict>,
        read_ok: &'a Bound<'py, PyDict>,
        pairs: Option<&'a Bound<'py, PyList>>, // None: the caller keeps the items view
    }

    /// `queue_read` once the shapes are checked: the Python loop.
    fn read_place<'py>(v: &Bound<'py, PyDict>, into: &ReadInto<'_, 'py>, ok: bool,
                       idx: &Bound<'py, PyAny>, op: &Bound<'py, PyAny>) -> PyResult<()> {
        let (py, read_at, read_ok, pairs) = (v.py(), into.read_at, into.read_ok, into.pairs);
        for (k, items) in v.iter() {
            let at = dict_at(read_at, &k)?;
            let seen = if ok { Some(dict_at(read_ok, &k)?) } else { None };
            let items = items.downcast_exact::<PyList>()?;
            // the recorded message list itself: its messages are plain [offset, value]
            if let Some(pairs) = pairs {
                pairs.append(PyTuple::new(py, [k.as_any(), items.as_any()])?)?;
            }
            for it in items.iter() {
                let (off, val) = if let Ok(l) = it.downcast_exact::<PyList>() {
                    (l.get_item(0)?, l.get_item(1)?)
                } else {
                    let t = it.downcast_exact::<PyTuple>()?;
                    (t.get_item(0)?, t.get_item(1)?)
                };
                if !off.is_none() {
                    place(&at, &off, &val, idx)?;
                }
                if let Some(seen) = &seen {
                    if !seen.contains(&val)? {
                        seen.set_item(&val, op)?;
                    }
                }
            }
        }
        Ok(())
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
    // (queue_ops reads these three too)
    const OP_PROCESS: usize = 3;
    const OP_KEY: usize = 7;
    const OP_VALUE: usize = 8;

    fn field<'py>(op: &Bound<'py, PyTuple>, i: usize) -> PyResult<Bound<'py, PyAny>> {
        op.get_item(i)
    }

    pub(crate) fn str_is(o: &Bound<'_, PyAny>, s: &str) -> bool {
        match o.downcast::<PyString>() {
            Ok(x) => x.to_str().map(|t| t == s).unwrap_or(false),
            Err(_) => false,
        }
    }


    /// Appends `op` to its process's list in `by_process` (model.py's first step).
    /// With `recs`, the op's record (`op_rec`, read while the op is at hand) is kept for
    /// `queue_procs`, by the list and position it went to.
    fn add_to_process<'py>(py: Python<'py>, by_process: &Bound<'py, PyDict>,
                           op: &Bound<'py, PyTuple>, recs: &mut Option<PyRefMut<'py, QueueRecs>>)
                           -> PyResult<()> {
        let p = field(op, OP_PROCESS)?;
        let l = match by_process.get_item(&p)? {
            Some(l) => {
                let l = l.downcast_into::<PyList>()?;
                l.append(op)?;
                l
            }
            None => {
                let l = PyList::new(py, [op])?;
                by_process.set_item(p, &l)?;
                l
            }
        };
        if let Some(recs) = recs {
            let at = l.len() - 1;
            let v = &mut recs.by_list.entry(l.as_ptr() as usize).or_insert_with(|| (l.clone().unbind(), Vec::new())).1;
            v.resize(at, None);
            v.push(Some(op_rec(op)?));
        }
        Ok(())
    }

    /// `queue_ops`' records of the ops it placed in `by_process` (op list address ->
    /// the list, held, and per position the op's record or None: an op Python placed).
    #[pyclass(module = "splitbrain._native")]
    pub struct QueueRecs {
        by_list: FxMap<usize, (Py<PyList>, Vec<Option<OpRec>>)>,
    }

    #[pymethods]
    impl QueueRecs {
        #[new]
        fn new() -> Self {
            QueueRecs { by_list: FxMap::default() }
        }
    }

    /// A send model.py's inline branch takes: (canonical key, offset), or None when the
    /// send is not the usual one (no key, a non-str/int key, extra not a dict, an offset
    /// that is neither int, str nor None): Python's `_send` handles it.
    fn plain_send<'py>(op: &Bound<'py, PyTuple>)
                       -> PyResult<Option<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
        let key = field(op, OP_KEY)?;
        let extra = field(op, OP_EXTRA)?;
        let off = if extra.is_none() {
            extra.clone()
        } else if let Ok(d) = extra.downcast_exact::<PyDict>() {
            match d.get_item("offset")? {
                Some(o) => o,
                None => op.py().None().into_bound(op.py()),
            }
        } else {
            return Ok(None);
        };
        if !plain_offset(&off) {
            return Ok(None);
        }
        let k = if key.is_exact_instance_of::<PyString>() {
            key.clone()
        } else if key.is_exact_instance_of::<PyInt>() {
            key.str()?.into_any()
        } else {
            return Ok(None);
        };
        Ok(Some((key, k, off)))
    }

    /// model.py `QueueHistory.__init__`'s loop over `ops` from `start`, for the usual
    /// ops: ops of other families (skipped), single-key sends with a plain offset, and
    /// non-final reads whose value is None or a dict `queue_read` takes. Fills the same
    /// containers as the Python loop, in the same order; returns the position of the
    /// first other op (len(ops) at the end), touching nothing of it: Python handles it,
    /// and the number of messages of the reads it added. A read's pairs are its value's
    /// items view (the same (key, messages) pairs, no tuple made per key); with `recs`,
    /// each op's record for `queue_procs` is kept as the op is placed.
    #[pyfunction]
    #[pyo3(signature = (ops, start, by_process, names, sends, op_sends, reads, op_reads, read_at,
                        read_ok, recs=None))]
    #[allow(clippy::too_many_arguments)]
    fn queue_ops<'py>(
        py: Python<'py>,
        ops: &Bound<'py, PyList>,
        start: usize,
        by_process: &Bound<'py, PyDict>,
        names: &Bound<'py, PyDict>,
        sends: &Bound<'py, PyList>,
        op_sends: &Bound<'py, PyDict>,
        reads: &Bound<'py, PyList>,
        op_reads: &Bound<'py, PyAny>, // a dict, or None: not kept
        read_at: &Bound<'py, PyDict>,
        read_ok: &Bound<'py, PyDict>,
        mut recs: Option<PyRefMut<'py, QueueRecs>>,
    ) -> PyResult<(usize, usize)> {
        let n = ops.len();
        let mut pos = start;
        let mut messages = 0usize;
        while pos < n {
            let op_any = ops.get_item(pos)?;
            let op = op_any.downcast::<PyTuple>()?;
            let f = field(op, OP_F)?;
            let f = match f.downcast_exact::<PyString>() {
                Ok(s) => s,
                Err(_) => return Ok((pos, messages)),
            };
            match f.to_str()? {
                "send" => {
                    let (key, k, off) = match plain_send(op)? {
                        None => return Ok((pos, messages)),
                        Some(x) => x,
                    };
                    add_to_process(py, by_process, op, &mut recs)?;
                    let keep = match names.get_item(&k)? {
                        None => false,
                        Some(x) => !x.is_exact_instance_of::<PyString>(),
                    };
                    if !keep {
                        names.set_item(&k, &key)?;
                    }
                    let s = PyTuple::new(py, [op_any.clone(), k, field(op, OP_VALUE)?, off])?;
                    sends.append(&s)?;
                    op_sends.set_item(field(op, OP_INDEX)?, PyList::new(py, [s])?)?;
                }
                "poll" | "dequeue" | "drain" => {
                    if field(op, OP_FINAL)?.is_truthy()? {
                        return Ok((pos, messages)); // the final phase's bookkeeping stays in Python
                    }
                    let v = field(op, OP_VALUE)?;
                    if v.is_none() {
                        add_to_process(py, by_process, op, &mut recs)?;
                    } else {
                        let v = match v.downcast_exact::<PyDict>() {
                            Ok(d) => d,
                            Err(_) => return Ok((pos, messages)),
                        };
                        if !read_shape_ok(v, names)? {
                            return Ok((pos, messages));
                        }
                        add_to_process(py, by_process, op, &mut recs)?;
                        let idx = field(op, OP_INDEX)?;
                        let ok = str_is(&field(op, OP_TYPE)?, "ok");
                        read_place(v, &ReadInto { read_at, read_ok, pairs: None }, ok, &idx, &op_any)?;
                        for (_, items) in v.iter() {
                            messages += items.len()?;
                        }
                        // the read's (key, messages) pairs are exactly its value's items (every
                        // key a str in `names`, each message list the recorded one): the dict's
                        // items view, not a list of new tuples (millions at 10^6 ops)
                        let pairs = v.call_method0(pyo3::intern!(py, "items"))?;
                        reads.append(PyTuple::new(py, [op_any.clone(), pairs.clone()])?)?;
                        if !op_reads.is_none() {
                            op_reads.set_item(idx, pairs)?;
                        }
                    }
                }
                "assign" | "subscribe" | "ack" | "crash" => return Ok((pos, messages)),
                _ => {} // not a queue op
            }
            pos += 1;
        }
        Ok((pos, messages))
    }

    /// log.py `build_logs`' send loop: every send (op, key, value, offset) with an
    /// offset whose op index is in `committed` placed in `ats` (key -> offset ->
    /// {value: first op index}), a new key's dict appended to `ats`.
    #[pyfunction]
    fn queue_commit<'py>(
        sends: &Bound<'py, PyList>,
        committed: &Bound<'py, PySet>,
        ats: &Bound<'py, PyDict>,
    ) -> PyResult<()> {
        for sd in sends.iter() {
            let sd = sd.downcast_into::<PyTuple>()?;
            let off = sd.get_item(3)?;
            if off.is_none() {
                continue;
            }
            let op = sd.get_item(0)?;
            let idx = field(op.downcast::<PyTuple>()?, OP_INDEX)?;
            if !committed.contains(&idx)? {
                continue;
            }
            place(&dict_at(ats, &sd.get_item(1)?)?, &off, &sd.get_item(2)?, &idx)?;
        }
        Ok(())
    }

    /// model.py `offset_key` for the shapes it reads without doubt: an int fitting i64
    /// -> (n, None), "digits" -> (n, None), "digits-digits" -> (a, Some(b)) (ASCII
    /// digits only, each fitting i64). None for anything else (Python then sorts, and
    /// raises on a malformed offset).
    fn offset_order(off: &Bound<'_, PyAny>) -> Option<(i64, Option<i64>)> {
        if off.is_exact_instance_of::<PyInt>() {
            return off.extract::<i64>().ok().map(|n| (n, None));
        }
        let s = off.downcast_exact::<PyString>().ok()?;
        let s = s.to_str().ok()?;
        let num = |t: &str| -> Option<i64> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.parse::<i64>().ok()
        };
        match s.split_once('-') {
            None => num(s).map(|a| (a, None)),
            Some((a, b)) => Some((num(a)?, Some(num(b)?))),
        }
    }

    /// log.py `KeyLog.freeze`'s `sorted(at, key=offset_key)`: the keys of `at` in
    /// offset order (a stable sort, as Python's), or None when an offset is not one of
    /// `offset_order`'s shapes.
    #[pyfunction]
    fn queue_order<'py>(py: Python<'py>, at: &Bound<'py, PyDict>) -> PyResult<Option<Bound<'py, PyList>>> {
        let mut keyed: Vec<((i64, Option<i64>), Bound<'py, PyAny>)> = Vec::with_capacity(at.len());
        for off in at.keys().iter() {
            match offset_order(&off) {
                None => return Ok(None),
                Some(o) => keyed.push((o, off)),
            }
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(PyList::new(py, keyed.into_iter().map(|x| x.1))?))
    }

    /// log.py `check_log`'s aborted-read / unexpected scan: for each key of `read_ok`
    /// (key -> value -> first ok reader) and each value, in order, (key, value, reader,
    /// writer | None) when `writer` ((key, value) -> first send op) has no send of it or
    /// its first send failed. Python builds the anomalies.
    #[pyfunction]
    fn queue_unexpected<'py>(py: Python<'py>, read_ok: &Bound<'py, PyDict>,
                             writer: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (k, reads) in read_ok.iter() {
            let reads = reads.downcast_into::<PyDict>()?;
            for (v, op) in reads.iter() {
                let kv = PyTuple::new(py, [k.clone(), v.clone()])?;
                match writer.get_item(&kv)? {
                    None => out.append(PyTuple::new(py, [k.clone(), v, op, py.None().into_bound(py)])?)?,
                    Some(w) => {
                        if str_is(&field(w.downcast::<PyTuple>()?, OP_TYPE)?, "fail") {
                            out.append(PyTuple::new(py, [k.clone(), v, op, w])?)?;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// log.py `check_log`'s writer index and aborted-read / unexpected scan in one call,
    /// without a (key, value) tuple per send: `by_key` = key -> value -> the first send op
    /// of it (sends (op, key, value, offset) in op order: the first wins, as check_log's
    /// `writer`), the number of distinct (key, value) pairs sent, `queue_unexpected`'s
    /// list (key, value, reader, writer | None) over `read_ok` against that index, the
    /// number of sends of ok ops, and the unseen candidates: (key, value, op index) of
    /// each send of an ok op whose value no ok read of its key returned, in send order
    /// (`queue_unseen` before its `lost_seen` filter).
    #[pyfunction]
    #[allow(clippy::type_complexity)]
    fn queue_writers<'py>(py: Python<'py>, sends: &Bound<'py, PyList>, read_ok: &Bound<'py, PyDict>)
                          -> PyResult<(Bound<'py, PyDict>, usize, Bound<'py, PyList>, usize, Bound<'py, PyList>)> {
        let by_key = PyDict::new(py);
        let mut distinct = 0usize;
        let mut oks = 0usize;
        let unseen = PyList::empty(py);
        // the last key's dict, reused while consecutive sends share the key object
        let mut cur: Option<(Bound<'py, PyAny>, Bound<'py, PyDict>)> = None;
        for sd in sends.iter() {
            let sd = sd.downcast_into::<PyTuple>()?;
            let k = sd.get_item(1)?;
            let d = match &cur {
                Some((ck, d)) if ck.is(&k) => d.clone(),
                _ => {
                    let d = dict_at(&by_key, &k)?;
                    cur = Some((k.clone(), d.clone()));
                    d
                }
            };
            let v = sd.get_item(2)?;
            let op = sd.get_item(0)?;
            let opt = op.downcast::<PyTuple>()?;
            if str_is(&field(opt, OP_TYPE)?, "ok") {
                oks += 1;
                let read = match read_ok.get_item(&k)? {
                    Some(r) => r.contains(&v)?,
                    None => false,
                };
                if !read {
                    unseen.append(PyTuple::new(py, [k.clone(), v.clone(), field(opt, OP_INDEX)?])?)?;
                }
            }
            if !d.contains(&v)? {
                d.set_item(v, op)?;
                distinct += 1;
            }
        }
        let out = PyList::empty(py);
        for (k, reads) in read_ok.iter() {
            let reads = reads.downcast_into::<PyDict>()?;
            let wk = match by_key.get_item(&k)? {
                Some(d) => Some(d.downcast_into::<PyDict>()?),
                None => None,
            };
            for (v, op) in reads.iter() {
                let w = match &wk {
                    Some(d) => d.get_item(&v)?,
                    None => None,
                };
                match w {
                    None => out.append(PyTuple::new(py, [k.clone(), v, op, py.None().into_bound(py)])?)?,
                    Some(w) => {
                        if str_is(&field(w.downcast::<PyTuple>()?, OP_TYPE)?, "fail") {
                            out.append(PyTuple::new(py, [k.clone(), v, op, w])?)?;
                        }
                    }
                }
            }
        }
        Ok((by_key, distinct, out, oks, unseen))
    }

    /// log.py `check_log`'s lost-write candidates (Jepsen's bound): `logs` is
    /// [(key, first, last)] in log order (value -> first / last dense index). For a key
    /// with ok reads, bound = the highest first index of a value read ok (the first
    /// reader reaching it: bound_op); then (key, value, last index, bound, bound_op) for
    /// each value of `last`, in order, at or below the bound and never read ok. Python
    /// decides (writer, committed) and builds the anomalies.
    #[pyfunction]
    fn queue_lost<'py>(py: Python<'py>, logs: &Bound<'py, PyList>,
                       read_ok: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for t in logs.iter() {
            let t = t.downcast_into::<PyTuple>()?;
            let k = t.get_item(0)?;
            let reads = match read_ok.get_item(&k)? {
                None => continue,
                Some(r) => r.downcast_into::<PyDict>()?,
            };
            if reads.is_empty() {
                continue;
            }
            let first = t.get_item(1)?.downcast_into::<PyDict>()?;
            let last = t.get_item(2)?.downcast_into::<PyDict>()?;
            let mut bound: i64 = -1;
            let mut bound_op: Option<Bound<'py, PyAny>> = None;
            for (v, rop) in reads.iter() {
                if let Some(fi) = first.get_item(&v)? {
                    let fi: i64 = fi.extract()?;
                    if fi > bound {
                        bound = fi;
                        bound_op = Some(rop);
                    }
                }
            }
            let bop = match bound_op {
                None => continue,
                Some(b) => b,
            };
            for (v, li) in last.iter() {
                let l: i64 = li.extract()?;
                if l > bound || reads.contains(&v)? {
                    continue;
                }
                out.append(PyTuple::new(py, [k.clone(), v, li, bound.into_pyobject(py)?.into_any(),
                                             bop.clone()])?)?;
            }
        }
        Ok(out)
    }

    /// log.py `check_log`'s unseen scan: for each send (op, key, value, offset) of an ok
    /// op whose value no ok read of its key returned (`read_ok`) and that is not in
    /// `lost_seen` ((key, value) pairs), the value appended to unseen[key] and the op's
    /// index to unseen_ops[key] (dicts filled in send order).
    #[pyfunction]
    fn queue_unseen<'py>(py: Python<'py>, sends: &Bound<'py, PyList>, read_ok: &Bound<'py, PyDict>,
                         lost_seen: &Bound<'py, PySet>, unseen: &Bound<'py, PyDict>,
                         unseen_ops: &Bound<'py, PyDict>) -> PyResult<()> {
        let check_lost = !lost_seen.is_empty();
        for sd in sends.iter() {
            let sd = sd.downcast_into::<PyTuple>()?;
            let op_any = sd.get_item(0)?;
            let op = op_any.downcast::<PyTuple>()?;
            if !str_is(&field(op, OP_TYPE)?, "ok") {
                continue;
            }
            let k = sd.get_item(1)?;
            let v = sd.get_item(2)?;
            if let Some(r) = read_ok.get_item(&k)? {
                if r.contains(&v)? {
                    continue;
                }
            }
            if check_lost && lost_seen.contains(PyTuple::new(py, [k.clone(), v.clone()])?)? {
                continue;
            }
            for (d, x) in [(unseen, v), (unseen_ops, field(op, OP_INDEX)?)] {
                match d.get_item(&k)? {
                    Some(l) => l.downcast_into::<PyList>()?.append(x)?,
                    None => d.set_item(&k, PyList::new(py, [x])?)?,
                }
            }
        }
        Ok(())
    }

    /// log.py `committed_ops`: the op indices of `op_sends` (op index -> its sends
    /// (op, key, value, offset)) whose op is ok, or info with a value read ok
    /// (`read_ok`: key -> value -> first ok reader).
    #[pyfunction]
    fn queue_committed<'py>(py: Python<'py>, op_sends: &Bound<'py, PyDict>,
                            read_ok: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PySet>> {
        let out = PySet::empty(py)?;
        for (idx, sends) in op_sends.iter() {
            let sends = sends.downcast_into::<PyList>()?;
            if sends.is_empty() {
                continue;
            }
            let s0 = sends.get_item(0)?.downcast_into::<PyTuple>()?;
            let ty = field(s0.get_item(0)?.downcast::<PyTuple>()?, OP_TYPE)?;
            if str_is(&ty, "ok") {
                out.add(idx)?;
            } else if str_is(&ty, "info") {
                for sd in sends.iter() {
                    let sd = sd.downcast_into::<PyTuple>()?;
                    if let Some(r) = read_ok.get_item(sd.get_item(1)?)? {
                        if r.contains(sd.get_item(2)?)? {
                            out.add(&idx)?;
                            break;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// log.py `check_log`'s final re-read scan: `finals` the reads (op, [(key, msgs)])
    /// of final ops; final_reads = key -> value -> first ok final reader; then for each
    /// key of `final_assigned` with a log in `logs` (key -> (first, last, len(offsets))):
    /// top = the highest first index of a value re-read (-1 when none), or the log's
    /// length when the key is in `final_complete`, and (key, value, last index, top) for
    /// each value of `last`, in order, not re-read, at or below top and not in
    /// `lost_seen`. Returns (final_reads, candidates); Python decides and builds.
    #[pyfunction]
    fn queue_vanished<'py>(py: Python<'py>, finals: &Bound<'py, PyList>,
                           final_assigned: &Bound<'py, PySet>, logs: &Bound<'py, PyDict>,
                           final_complete: &Bound<'py, PySet>, lost_seen: &Bound<'py, PySet>)
                           -> PyResult<Bound<'py, PyTuple>> {
        let final_reads = PyDict::new(py);
        for r in finals.iter() {
            let r = r.downcast_into::<PyTuple>()?;
            let op = r.get_item(0)?;
            if !str_is(&field(op.downcast::<PyTuple>()?, OP_TYPE)?, "ok") {
                continue;
            }
            for g in r.get_item(1)?.try_iter()? {
                let g = g?.downcast_into::<PyTuple>()?;
                let fr = dict_at(&final_reads, &g.get_item(0)?)?;
                for it in g.get_item(1)?.try_iter()? {
                    let v = it?.get_item(1)?;
                    if !fr.contains(&v)? {
                        fr.set_item(v, &op)?;
                    }
                }
            }
        }
        let out = PyList::empty(py);
        let check_lost = !lost_seen.is_empty();
        for k in final_assigned.iter() {
            let lg = match logs.get_item(&k)? {
                None => continue,
                Some(t) => t.downcast_into::<PyTuple>()?,
            };
            let first = lg.get_item(0)?.downcast_into::<PyDict>()?;
            let last = lg.get_item(1)?.downcast_into::<PyDict>()?;
            let fr = match final_reads.get_item(&k)? {
                Some(d) => Some(d.downcast_into::<PyDict>()?),
                None => None,
            };
            let top: Bound<'py, PyAny> = if final_complete.contains(&k)? {
                lg.get_item(2)?
            } else {
                let mut top: i64 = -1;
                if let Some(fr) = &fr {
                    for v in fr.keys().iter() {
                        if let Some(fi) = first.get_item(&v)? {
                            top = top.max(fi.extract()?);
                        }
                    }
                }
                top.into_pyobject(py)?.into_any()
            };
            let t: i64 = top.extract()?;
            for (v, li) in last.iter() {
                if let Some(fr) = &fr {
                    if fr.contains(&v)? {
                        continue;
                    }
                }
                if li.extract::<i64>()? > t {
                    continue;
                }
                if check_lost && lost_seen.contains(PyTuple::new(py, [k.clone(), v.clone()])?)? {
                    continue;
                }
                out.append(PyTuple::new(py, [k.clone(), v, li, top.clone()])?)?;
            }
        }
        PyTuple::new(py, [final_reads.into_any(), out.into_any()])
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
        /// the key of each kid (an entry names its key by kid)
        keys: Vec<Py<PyAny>>,
        lgs: Vec<(Py<PyDict>, Py<PyDict>)>,
        reads: FxMap<i64, (usize, usize)>,
        entries: Vec<Entry>,
        /// `queue_sends`' table, when it ran: every send placed once for the passes
        sends: Option<SendTable>,
        /// per read of `reads`, in order: its entries and its op's `t_ret_seen` (read
        /// while the op is at hand, for `queue_lag`)
        read_times: Vec<(usize, usize, Tret)>,
        /// `queue_procs`' records, when it ran: by the address of a process's op list
        /// (held, so the address stays its own), what the walks read of each of its ops
        procs: FxMap<usize, (Py<PyList>, Vec<OpRec>)>,
    }

    /// What `queue_steps` and `queue_lag` read of an op (`rec_of`), read once by
    /// `queue_procs` for every op of every process, or on the spot without it.
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Send,
        Poll,
        Assign,
        Reset, // subscribe or crash
        Other,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Ty {
        Ok,
        Info,
        Other,
    }

    #[derive(Clone, Copy)]
    struct OpRec {
        kind: Kind,
        ty: Ty,
        extra: bool,         // op.extra is truthy
        fin: bool,           // op.final is truthy
        idx: Option<i64>,    // op.index (None: not an i64)
        t_inv: Option<i64>,  // op.t_inv (None: not an int)
        read: Option<(u32, u32)>, // the op's entries in the index (a read op)
    }

    /// An op's record, its `read` left None (`with_read` fills it from the index).
    fn op_rec(op: &Bound<'_, PyTuple>) -> PyResult<OpRec> {
        let f = field(op, OP_F)?;
        let kind = if str_is(&f, "send") {
            Kind::Send
        } else if str_is(&f, "poll") {
            Kind::Poll
        } else if str_is(&f, "assign") {
            Kind::Assign
        } else if str_is(&f, "subscribe") || str_is(&f, "crash") {
            Kind::Reset
        } else {
            Kind::Other
        };
        let t = field(op, OP_TYPE)?;
        let ty = if str_is(&t, "ok") { Ty::Ok } else if str_is(&t, "info") { Ty::Info } else { Ty::Other };
        Ok(OpRec { kind, ty, extra: field(op, OP_EXTRA)?.is_truthy()?, fin: field(op, OP_FINAL)?.is_truthy()?,
                   idx: field(op, OP_INDEX)?.extract::<i64>().ok(),
                   t_inv: field(op, OP_T_INV)?.extract::<i64>().ok(), read: None })
    }

    /// `rec` with its op's entries in the index (by op index).
    fn with_read(qi: &QueueIndex, mut rec: OpRec) -> OpRec {
        rec.read = match rec.idx.and_then(|i| qi.reads.get(&i)) {
            Some(&(a, b)) => Some((a as u32, b as u32)),
            None => None,
        };
        rec
    }

    fn rec_of(qi: &QueueIndex, op: &Bound<'_, PyTuple>) -> PyResult<OpRec> {
        Ok(with_read(qi, op_rec(op)?))
    }

    impl QueueIndex {
        /// `queue_procs`' records of the op list `ops`, if it made them.
        fn recs_of(&self, ops: &Bound<'_, PyList>) -> Option<&[OpRec]> {
            match self.procs.get(&(ops.as_ptr() as usize)) {
                Some((l, r)) if l.is(ops) && r.len() == ops.len() => Some(r),
                _ => None,
            }
        }

        /// The record of op `pos` of `ops`: `queue_procs`' or read now.
        fn rec_at(&self, recs: Option<&[OpRec]>, ops: &Bound<'_, PyList>, pos: usize) -> PyResult<OpRec> {
            match recs {
                Some(r) => Ok(r[pos]),
                None => rec_of(self, ops.get_item(pos)?.downcast::<PyTuple>()?),
            }
        }
    }

    /// op.index of a record, or the error extracting it raises (a Python op's index).
    fn rec_idx(rec: &OpRec, ops: &Bound<'_, PyList>, pos: usize) -> PyResult<i64> {
        match rec.idx {
            Some(i) => Ok(i),
            None => field(ops.get_item(pos)?.downcast::<PyTuple>()?, OP_INDEX)?.extract(),
        }
    }

    /// Reads every op of every process of `by_process` (process -> op list) once into
    /// `qi`, for `queue_steps` and `queue_lag` (which otherwise read each op's fields
    /// from the op, each walk again).
    /// `recs`: `queue_ops`' records, taken where they name the op at that position.
    #[pyfunction]
    #[pyo3(signature = (qi, by_process, recs=None))]
    fn queue_procs<'py>(mut qi: PyRefMut<'py, QueueIndex>, by_process: &Bound<'py, PyDict>,
                        recs: Option<PyRef<'py, QueueRecs>>) -> PyResult<()> {
        if qi.entries.len() > u32::MAX as usize {
            return Ok(()); // (records name entries by u32)
        }
        let mut procs = FxMap::default();
        for (_, ops) in by_process.iter() {
            let ops = ops.downcast_into::<PyList>()?;
            let made: &[Option<OpRec>] = match recs.as_ref().and_then(|r| r.by_list.get(&(ops.as_ptr() as usize))) {
                Some((l, v)) if l.is(&ops) && v.len() <= ops.len() => v,
                _ => &[],
            };
            let mut recs = Vec::with_capacity(ops.len());
            for (j, op) in ops.iter().enumerate() {
                recs.push(match made.get(j) {
                    Some(Some(r)) => with_read(&qi, *r),
                    _ => rec_of(&qi, op.downcast::<PyTuple>()?)?,
                });
            }
            procs.insert(ops.as_ptr() as usize, (ops.unbind(), recs));
        }
        qi.procs = procs;
        Ok(())
    }

    /// An op's `t_ret_seen`: None, an int, or anything else (queue_lag then declines).
    #[derive(Clone, Copy)]
    enum Tret {
        Missing,
        Int(i64),
        Other,
    }

    /// One send (model.py's (op, key, value, offset)) placed once: its key's kid (None:
    /// the key has no log) and dense index (log.py `idx`; None: not placed), what
    /// `queue_lag` reads of its op (`send_time`), and the op's address (the op is held by
    /// the sends list): no reference to it is taken per send.
    struct SendRow {
        kid: Option<usize>,
        i: Option<i64>,
        t: SendT,
        op: usize,
        key: Py<PyAny>,
        v: Py<PyAny>,
    }

    /// A send's time for lag.py `known_times`: not counted (a failed op, or no
    /// t_ret_seen), an int, or anything else (`queue_lag` then declines).
    #[derive(Clone, Copy)]
    enum SendT {
        Skip,
        At(i64),
        Decline,
    }

    fn send_time(op: &Bound<'_, PyTuple>) -> PyResult<SendT> {
        let t = field(op, OP_T_RET_SEEN)?;
        if t.is_none() || str_is(&field(op, OP_TYPE)?, "fail") {
            return Ok(SendT::Skip);
        }
        Ok(match t.extract::<i64>() {
            Ok(t) => SendT::At(t),
            Err(_) => SendT::Decline,
        })
    }

    /// Every send of `qh.sends`, in order, and op index -> its rows (the rows of one op
    /// are contiguous; a repeated op index names the last op, as `op_sends` does).
    struct SendTable {
        rows: Vec<SendRow>,
        by_op: FxMap<i64, (usize, usize)>,
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
                        d.set_item(self.keys[e.kid as usize].bind(py), summ_list(py, e)?)?;
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
        let s_t_ret = pyo3::intern!(py, "t_ret_seen");
        let mut read_times: Vec<(usize, usize, Tret)> = Vec::with_capacity(reads.len());
        let kidx = PyDict::new(py);
        let mut lgs = Vec::with_capacity(maps.len());
        let mut keys = Vec::with_capacity(maps.len());
        for (k, t) in maps.iter() {
            let t = t.downcast_into::<PyTuple>()?;
            kidx.set_item(&k, lgs.len())?;
            keys.push(k.clone().unbind());
            lgs.push((t.get_item(0)?.downcast_into::<PyDict>()?.unbind(),
                      t.get_item(1)?.downcast_into::<PyDict>()?.unbind()));
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut index: FxMap<i64, (usize, usize)> = FxMap::default();
        index.reserve(reads.len());
        for r in reads.iter() {
            let r = r.downcast_into::<PyTuple>()?;
            let op = r.get_item(0)?;
            // a list of (key, messages) tuples, or (queue_ops) the read value's items view
            let groups = r.get_item(1)?;
            let is_poll = op.getattr(s_f)?.eq("poll")?;
            let start = entries.len();
            for g in groups.try_iter()? {
                let g = g?.downcast_into::<PyTuple>()?;
                let k = g.get_item(0)?;
                let msgs = g.get_item(1)?;
                let kid: usize = match kidx.get_item(&k)? {
                    None => continue,
                    Some(x) => x.extract()?,
                };
                let index_of = lgs[kid].0.bind(py);
                let first = lgs[kid].1.bind(py);
                // kids are equal exactly when keys are (both come from `maps`)
                let mut s: Option<usize> = (start..entries.len()).find(|&j| entries[j].kid as usize == kid);
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
                                                 fv: v.clone().unbind(),
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
            let t = op.getattr(s_t_ret)?;
            let t = if t.is_none() {
                Tret::Missing
            } else {
                t.extract::<i64>().map(Tret::Int).unwrap_or(Tret::Other)
            };
            read_times.push((start, entries.len(), t));
        }
        Ok(QueueIndex { kidx: kidx.unbind(), keys, lgs, reads: index, entries, sends: None, read_times,
                        procs: FxMap::default() })
    }

    /// Places every send of `sends` (model.py's (op, key, value, offset) tuples, in op
    /// order) once in `qi`, for `queue_steps` and `queue_lag` (which otherwise look each
    /// send up again, in `op_sends` and the logs' dicts).
    #[pyfunction]
    fn queue_sends<'py>(py: Python<'py>, mut qi: PyRefMut<'py, QueueIndex>,
                        sends: &Bound<'py, PyList>) -> PyResult<()> {
        let mut rows: Vec<SendRow> = Vec::with_capacity(sends.len());
        let mut by_op: FxMap<i64, (usize, usize)> = FxMap::default();
        let mut cur: Option<(i64, usize)> = None; // the op of the rows from usize on
        for sd in sends.iter() {
            let sd = sd.downcast_into::<PyTuple>()?;
            let op = sd.get_item(0)?;
            let oi: i64 = field(op.downcast::<PyTuple>()?, OP_INDEX)?.extract()?;
            let n = rows.len();
            match cur {
                Some((c, _)) if c == oi && rows.last().map(|r| r.op == op.as_ptr() as usize).unwrap_or(false) => {}
                _ => {
                    if let Some((c, a)) = cur {
                        by_op.insert(c, (a, n));
                    }
                    cur = Some((oi, n));
                }
            }
            let k = sd.get_item(1)?;
            let v = sd.get_item(2)?;
            let kid = qi.kid(py, &k)?;
            let i = match kid {
                None => None,
                Some(kid) => qi.send_index(py, kid, &sd.get_item(3)?, &v)?,
            };
            let t = send_time(op.downcast::<PyTuple>()?)?;
            rows.push(SendRow { kid, i, t, op: op.as_ptr() as usize, key: k.unbind(), v: v.unbind() });
        }
        if let Some((c, a)) = cur {
            by_op.insert(c, (a, rows.len()));
        }
        qi.sends = Some(SendTable { rows, by_op });
        Ok(())
    }

    /// A position kept per key: (index, value, op) as log.py's last_read / last_send,
    /// the value and op either held (loaded from Python, a send) or named by position
    /// (entry e of the index, op at position p of the process's ops): no reference
    /// counting on the hot path.
    enum Src {
        Held { key: Py<PyAny>, v: Py<PyAny>, op: Py<PyAny> },
        Entry { e: usize, p: usize },
        /// row r of the send table, op at position p
        Row { r: usize, p: usize },
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
                (qi.keys[e.kid as usize].bind(py).clone(), e.lv.bind(py).clone(), ops.get_item(*p)?)
            }
            Src::Row { r, p } => {
                let (k, v) = piece_kv(py, qi, &Piece::Row(*r));
                (k, v, ops.get_item(*p)?)
            }
        };
        Ok((k, PyTuple::new(py, [p.i.into_pyobject(py)?.into_any(), v, op])?))
    }

    /// A placed send of the op at hand: row r of the send table, or (key, value) held.
    enum Piece<'py> {
        Row(usize),
        Obj(Bound<'py, PyAny>, Bound<'py, PyAny>),
    }

    fn piece_kv<'py>(py: Python<'py>, qi: &QueueIndex, pc: &Piece<'py>) -> (Bound<'py, PyAny>, Bound<'py, PyAny>) {
        match pc {
            Piece::Row(r) => {
                let row = &qi.sends.as_ref().expect("a row of the send table").rows[*r];
                (row.key.bind(py).clone(), row.v.bind(py).clone())
            }
            Piece::Obj(k, v) => (k.clone(), v.clone()),
        }
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
        let recs = qi.recs_of(ops);
        while pos < n {
            let rec = qi.rec_at(recs, ops, pos)?;
            // the op itself, only where a finding or a held position needs it
            let op_at = |p: usize| ops.get_item(p);
            if rec.kind == Kind::Send {
                pos += 1;
                if !(rec.ty == Ty::Ok || rec.ty == Ty::Info) {
                    continue;
                }
                // (kid, send, dense index) of the op's placed sends, in order: from
                // `queue_sends`' table when it ran, else looked up here
                let mut placed: Vec<(usize, Piece<'py>, i64)> = Vec::new();
                if let Some(tab) = &qi.sends {
                    let oi = rec_idx(&rec, ops, pos - 1)?;
                    if let Some(&(a, b)) = tab.by_op.get(&oi) {
                        for (r, row) in tab.rows[a..b].iter().enumerate() {
                            if let (Some(kid), Some(i)) = (row.kid, row.i) {
                                placed.push((kid, Piece::Row(a + r), i));
                            }
                        }
                    }
                } else {
                    let op_any = op_at(pos - 1)?;
                    let sends = match op_sends.get_item(field(op_any.downcast::<PyTuple>()?, OP_INDEX)?)? {
                        None => continue,
                        Some(x) => x.downcast_into::<PyList>()?,
                    };
                    for sd in sends.iter() {
                        let sd = sd.downcast_into::<PyTuple>()?;
                        let k = sd.get_item(1)?;
                        let v = sd.get_item(2)?;
                        let kid = match qi.kid(py, &k)? {
                            None => continue,
                            Some(x) => x,
                        };
                        if let Some(i) = qi.send_index(py, kid, &sd.get_item(3)?, &v)? {
                            placed.push((kid, Piece::Obj(k, v), i));
                        }
                    }
                }
                // (kid, first (i, send), last (i, send)) in first-occurrence order
                let mut per_key: Vec<(usize, (i64, usize), (i64, usize))> = Vec::new();
                for (j, (kid, _, i)) in placed.iter().enumerate() {
                    let (kid, i) = (*kid, *i);
                    match per_key.iter().position(|e| e.0 == kid) {
                        None => per_key.push((kid, (i, j), (i, j))),
                        Some(q) => {
                            let p = per_key[q].2;
                            if i - p.0 < 1 {
                                let (_, pv) = piece_kv(py, &qi, &placed[p.1].1);
                                let (k, v) = piece_kv(py, &qi, &placed[j].1);
                                let pt = PyTuple::new(py, [p.0.into_pyobject(py)?.into_any(), pv])?;
                                int_send.call1((op_at(pos - 1)?, &k, pt, &v, i))?;
                            }
                            per_key[q].2 = (i, j);
                        }
                    }
                }
                for (kid, (i, j), _) in &per_key {
                    if let Some(ls) = ls_m.get(kid) {
                        if i - ls.i < 1 {
                            let (_, lt) = pos_parts(py, &qi, ops, ls)?;
                            let (k, v) = piece_kv(py, &qi, &placed[*j].1);
                            mono_send.call1((op_at(pos - 1)?, &k, lt, &v, *i))?;
                        }
                    }
                }
                for (kid, _, (i, j)) in per_key {
                    let src = match &placed[j].1 {
                        Piece::Row(r) => Src::Row { r: *r, p: pos - 1 },
                        Piece::Obj(k, v) => Src::Held { key: k.clone().unbind(), v: v.clone().unbind(),
                                                        op: op_at(pos - 1)?.unbind() },
                    };
                    ls_m.insert(kid, Pos { i, src });
                }
                continue;
            }
            if rec.kind != Kind::Poll || rec.extra {
                break;
            }
            pos += 1;
            rec_idx(&rec, ops, pos - 1)?; // (an index that is no i64 raises, as before)
            let (a, b) = match rec.read {
                None => continue,
                Some((a, b)) => (a as usize, b as usize),
            };
            let ok = rec.ty == Ty::Ok;
            for (ei, e) in qi.entries[a..b].iter().enumerate() {
                let kid = e.kid as usize;
                if let Some(lr) = lr_m.get(&kid) {
                    if e.fi - lr.i != 1 {
                        let (_, lt) = pos_parts(py, &qi, ops, lr)?;
                        found.call1((qi.keys[kid].bind(py), lt, summ_list(py, e)?, op_at(pos - 1)?))?;
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
        // each send's time at its placed index: from `queue_sends`' table when it ran
        let mut place_send = |t: SendT, kid: usize, i: i64| -> PyResult<bool> {
            let t = match t {
                SendT::Skip => return Ok(true),
                SendT::Decline => return Ok(false),
                SendT::At(t) => t,
            };
            let i = i as usize;
            if t < at[kid][i] {
                at[kid][i] = t;
            }
            Ok(true)
        };
        if let Some(tab) = &qi.sends {
            for r in &tab.rows {
                if let (Some(kid), Some(i)) = (r.kid, r.i) {
                    if !place_send(r.t, kid, i)? {
                        return Ok(None);
                    }
                }
            }
        } else {
            for sd in sends.iter() {
                let sd = sd.downcast_into::<PyTuple>()?;
                let op_any = sd.get_item(0)?;
                let kid = match qi.kid(py, &sd.get_item(1)?)? {
                    None => continue,
                    Some(x) => x,
                };
                if let Some(i) = qi.send_index(py, kid, &sd.get_item(3)?, &sd.get_item(2)?)? {
                    if !place_send(send_time(op_any.downcast::<PyTuple>()?)?, kid, i)? {
                        return Ok(None);
                    }
                }
            }
        }
        // each read's time at the highest index it read of each key
        let mut place_read = |t: i64, a: usize, b: usize| {
            for e in &qi.entries[a..b] {
                let (kid, i) = (e.kid as usize, e.mi as usize);
                if t < at[kid][i] {
                    at[kid][i] = t;
                }
            }
        };
        if qi.read_times.len() == reads.len() {
            // the index was built from these reads: their times and entries, as read then
            // (each read its own entries: op indices are unique in a History)
            for &(a, b, t) in &qi.read_times {
                match t {
                    Tret::Missing => {}
                    Tret::Other => return Ok(None),
                    Tret::Int(t) => place_read(t, a, b),
                }
            }
        } else {
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
                    place_read(t, a, b);
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
            let recs = qi.recs_of(&ops);
            for p in 0..ops.len() {
                let rec = qi.rec_at(recs, &ops, p)?;
                if rec.kind == Kind::Poll {
                    if rec.ty != Ty::Ok || rec.fin {
                        continue;
                    }
                } else if rec.kind == Kind::Assign {
                    let ks = assigned_keys.call1((ops.get_item(p)?,))?;
                    assigned.clear();
                    for k in ks.try_iter()? {
                        let k = k?;
                        let kid = qi.kid(py, &k)?;
                        assigned.push((k.unbind(), kid));
                    }
                    let keep: std::collections::HashSet<usize> = assigned.iter().filter_map(|x| x.1).collect();
                    pos.retain(|kid, _| keep.contains(kid));
                    continue;
                } else if rec.kind == Kind::Reset {
                    pos.clear();
                    assigned.clear();
                    continue;
                } else {
                    continue;
                }
                rec_idx(&rec, &ops, p)?; // (an index that is no i64 raises, as before)
                let (a, b) = rec.read.map(|(a, b)| (a as usize, b as usize)).unwrap_or((0, 0));
                let polled = &qi.entries[a..b];
                for e in polled {
                    pos.insert(e.kid as usize, e.li);
                }
                let t: i64 = match rec.t_inv {
                    Some(t) => t,
                    None => return Ok(None),
                };
                let op_index = || -> PyResult<Bound<'py, PyAny>> {
                    field(ops.get_item(p)?.downcast::<PyTuple>()?, OP_INDEX)
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
                        Err(e) => qi.keys[qi.entries[e].kid as usize].clone_ref(py),
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
                            worst = Some((t, proc.clone(), key_of(kr), lag, op_index()?));
                        }
                    } else if worst.is_none() {
                        worst_lag = 0;
                        worst = Some((t, proc.clone(), key_of(kr), 0, op_index()?));
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
        m.add_class::<QueueRecs>()?;
        m.add_function(wrap_pyfunction!(queue_steps, m)?)?;
        m.add_function(wrap_pyfunction!(queue_lag, m)?)?;
        m.add_function(wrap_pyfunction!(queue_ops, m)?)?;
        m.add_function(wrap_pyfunction!(queue_commit, m)?)?;
        m.add_function(wrap_pyfunction!(queue_order, m)?)?;
        m.add_function(wrap_pyfunction!(queue_unexpected, m)?)?;
        m.add_function(wrap_pyfunction!(queue_writers, m)?)?;
        m.add_function(wrap_pyfunction!(queue_lost, m)?)?;
        m.add_function(wrap_pyfunction!(queue_unseen, m)?)?;
        m.add_function(wrap_pyfunction!(queue_committed, m)?)?;
        m.add_function(wrap_pyfunction!(queue_vanished, m)?)?;
        m.add_function(wrap_pyfunction!(queue_sends, m)?)?;
        m.add_function(wrap_pyfunction!(queue_procs, m)?)?;
        Ok(())
    }
}
