// Side-by-side timing of Porcupine (the Go linearizability checker) on the histories
// bench/linearizability.py exports with --export-porcupine FILE (same machine, same
// session): go run ./bench/porcupine FILE.etcd.json   (prints total and hardest check time,
// min of 5 runs per history; Porcupine's own etcd model, 60 s timeout per history).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

type op struct {
	Client int   `json:"c"`
	Op     uint8 `json:"op"`
	A1     int   `json:"a1"`
	A2     int   `json:"a2"`
	Ok     bool  `json:"ok"`
	Exists bool  `json:"ex"`
	Value  int   `json:"v"`
	Unk    bool  `json:"unk"`
	Call   int64 `json:"call"`
	Ret    int64 `json:"ret"`
}

type in struct{ op uint8; a1, a2 int }
type out struct{ ok, exists bool; value int; unknown bool }

const null = -1000000

// Porcupine's own etcd model (porcupine_test.go etcdModel).
var model = porcupine.Model{
	Init: func() interface{} { return null },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st := state.(int)
		i := input.(in)
		o := output.(out)
		if i.op == 0 {
			return (!o.exists && st == null) || (o.exists && st == o.value) || o.unknown, state
		} else if i.op == 1 {
			return true, i.a1
		}
		ok := (i.a1 == st && o.ok) || (i.a1 != st && !o.ok) || o.unknown
		r := st
		if i.a1 == st {
			r = i.a2
		}
		return ok, r
	},
}

func main() {
	data, _ := os.ReadFile(os.Args[1])
	var hs [][]op
	if err := json.Unmarshal(data, &hs); err != nil {
		panic(err)
	}
	var total, hardest time.Duration
	valid := 0
	for _, h := range hs {
		ops := make([]porcupine.Operation, len(h))
		for i, o := range h {
			ops[i] = porcupine.Operation{ClientId: o.Client, Input: in{o.Op, o.A1, o.A2},
				Call: o.Call, Output: out{o.Ok, o.Exists, o.Value, o.Unk}, Return: o.Ret}
		}
		best := time.Duration(1 << 62)
		var res porcupine.CheckResult
		for r := 0; r < 5; r++ {
			t0 := time.Now()
			res = porcupine.CheckOperationsTimeout(model, ops, 60*time.Second)
			if d := time.Since(t0); d < best {
				best = d
			}
		}
		if res == porcupine.Ok {
			valid++
		}
		total += best
		if best > hardest {
			hardest = best
		}
	}
	fmt.Printf("porcupine histories=%d valid=%d total=%.4fs hardest=%.4fs\n", len(hs), valid,
		total.Seconds(), hardest.Seconds())
}
