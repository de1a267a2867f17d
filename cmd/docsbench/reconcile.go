package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/docsnode/docsnode/replica/recon"
)

func init() { scenarios["reconcile"] = runReconcile }

// runReconcile measures the reconciliation rounds alone: two in-memory sets
// share n items and each holds d more of its own, at random timestamps
// across a year. Both indexes are built first (build_ms, both together);
// then the rounds run in this process, one side after the other, and
// cpu_ms is the process CPU time they took. equal=true means the initiator
// learned exactly the 2d differing ids, each once.
func runReconcile(args []string) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	n := fs.Int("n", 1000000, "items both sides hold")
	d := fs.Int("d", 10, "items each side holds that the other lacks")
	frame := fs.Int("frame", recon.DefaultConfig().MaxFrameSize, "largest message either side writes, in bytes (0: unlimited)")
	seed := fs.Uint64("seed", 1, "random seed for the items")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 0 || *d < 0 {
		return fmt.Errorf("-n and -d must not be negative")
	}
	cfg := recon.DefaultConfig()
	cfg.MaxFrameSize = *frame

	r := rand.New(rand.NewPCG(*seed, 0x5eed))
	start := uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	item := func() recon.Item {
		it := recon.Item{Timestamp: start + r.Uint64N(uint64(365*24*time.Hour/time.Microsecond))}
		for i := 0; i < 32; i += 8 {
			v := r.Uint64()
			for j := range 8 {
				it.ID[i+j] = byte(v >> (8 * j))
			}
		}
		return it
	}
	a := make([]recon.Item, 0, *n+*d)
	b := make([]recon.Item, 0, *n+*d)
	for range *n {
		it := item()
		a, b = append(a, it), append(b, it)
	}
	var onlyA, onlyB [][32]byte
	for range *d {
		ia, ib := item(), item()
		a, b = append(a, ia), append(b, ib)
		onlyA, onlyB = append(onlyA, ia.ID), append(onlyB, ib.ID)
	}
	r.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
	r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })

	t0 := time.Now()
	idxA := recon.BuildIndex(a)
	idxB := recon.BuildIndex(b)
	build := time.Since(t0)
	a, b = nil, nil
	fmt.Printf("built 2 indexes of %d items in %.1f ms\n", idxA.Len(), ms(build))

	runtime.GC()
	cpu0 := cpuTime()
	wall0 := time.Now()
	ini, err := recon.NewSession(idxA, cfg)
	if err != nil {
		return err
	}
	resp, err := recon.NewSession(idxB, cfg)
	if err != nil {
		return err
	}
	msg, err := ini.Initiate()
	if err != nil {
		return err
	}
	var have, need [][32]byte
	total, rounds := 0, 0
	for msg != nil {
		if rounds == 10000 {
			return fmt.Errorf("no convergence after %d rounds", rounds)
		}
		rounds++
		total += len(msg)
		reply, _, _, err := resp.Reconcile(msg)
		if err != nil {
			return fmt.Errorf("responder: %w", err)
		}
		total += len(reply)
		var h, nd [][32]byte
		msg, h, nd, err = ini.Reconcile(reply)
		if err != nil {
			return fmt.Errorf("initiator: %w", err)
		}
		have, need = append(have, h...), append(need, nd...)
	}
	cpu := cpuTime() - cpu0
	wall := time.Since(wall0)
	runtime.KeepAlive(idxA)
	runtime.KeepAlive(idxB)

	equal := sameIDs(have, onlyA) && sameIDs(need, onlyB)
	fmt.Printf("rounds took %.2f ms wall; have=%d need=%d\n", ms(wall), len(have), len(need))
	fmt.Printf("reconcile n=%d d=%d rounds=%d bytes=%d cpu_ms=%.2f build_ms=%.0f equal=%v\n",
		*n, *d, rounds, total, ms(cpu), ms(build), equal)
	if !equal {
		return fmt.Errorf("the rounds found %d have and %d need ids, want exactly the %d and %d that differ",
			len(have), len(need), len(onlyA), len(onlyB))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime returns the user and system CPU time of the whole process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sameIDs reports whether got holds exactly the ids of want, each once.
func sameIDs(got, want [][32]byte) bool {
	cmp := func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) }
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, cmp)
	slices.SortFunc(want, cmp)
	return slices.Equal(got, want)
}
