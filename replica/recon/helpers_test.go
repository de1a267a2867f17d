package recon

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
)

// syncResult is what one complete reconciliation between two stores did.
type syncResult struct {
	have, need [][32]byte // as learned by the initiator
	rounds     int        // round trips
	bytes      int        // both directions
	maxFrame   [2]int     // largest message written by initiator, responder
}

// reconcile runs a whole session between a (initiator) and b (responder),
// giving up after maxRounds round trips.
func reconcile(a, b Storage, ca, cb Config, maxRounds int) (syncResult, error) {
	var res syncResult
	ini, err := NewSession(a, ca)
	if err != nil {
		return res, err
	}
	resp, err := NewSession(b, cb)
	if err != nil {
		return res, err
	}
	msg, err := ini.Initiate()
	if err != nil {
		return res, err
	}
	for {
		if res.rounds == maxRounds {
			return res, fmt.Errorf("no convergence after %d rounds", maxRounds)
		}
		res.rounds++
		res.bytes += len(msg)
		res.maxFrame[0] = max(res.maxFrame[0], len(msg))
		reply, h, n, err := resp.Reconcile(msg)
		if err != nil {
			return res, fmt.Errorf("responder, round %d: %w", res.rounds, err)
		}
		if h != nil || n != nil {
			return res, fmt.Errorf("responder reported ids")
		}
		res.bytes += len(reply)
		res.maxFrame[1] = max(res.maxFrame[1], len(reply))
		msg, h, n, err = ini.Reconcile(reply)
		if err != nil {
			return res, fmt.Errorf("initiator, round %d: %w", res.rounds, err)
		}
		res.have = append(res.have, h...)
		res.need = append(res.need, n...)
		if msg == nil {
			if ini.Rounds() != res.rounds || !ini.Done() {
				return res, fmt.Errorf("initiator counted %d rounds, done=%v; want %d", ini.Rounds(), ini.Done(), res.rounds)
			}
			return res, nil
		}
	}
}

// difference returns the ids of a that are not in b, sorted.
func difference(a, b []Item) [][32]byte {
	in := make(map[[32]byte]bool, len(b))
	for _, it := range b {
		in[it.ID] = true
	}
	var out [][32]byte
	for _, it := range a {
		if !in[it.ID] {
			out = append(out, it.ID)
		}
	}
	return sortedIDs(out)
}

func sortedIDs(ids [][32]byte) [][32]byte {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) })
	return ids
}

// checkDiff compares what the initiator learned with the truth; duplicates
// count as errors.
func checkDiff(res syncResult, a, b []Item) error {
	if got, want := sortedIDs(res.have), difference(a, b); !slices.Equal(got, want) {
		return fmt.Errorf("have: got %d ids, want %d", len(got), len(want))
	}
	if got, want := sortedIDs(res.need), difference(b, a); !slices.Equal(got, want) {
		return fmt.Errorf("need: got %d ids, want %d", len(got), len(want))
	}
	return nil
}

func randomItem(r *rand.Rand, tsRange uint64) Item {
	var it Item
	it.Timestamp = r.Uint64N(tsRange)
	for i := 0; i < 32; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			it.ID[i+j] = byte(v >> (8 * j))
		}
	}
	return it
}

// overlapping returns two sets sharing shared items, with onlyA and onlyB
// items of their own, all timestamps drawn from [0, tsRange).
func overlapping(seed uint64, shared, onlyA, onlyB int, tsRange uint64) (a, b []Item) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for range shared {
		it := randomItem(r, tsRange)
		a, b = append(a, it), append(b, it)
	}
	for range onlyA {
		a = append(a, randomItem(r, tsRange))
	}
	for range onlyB {
		b = append(b, randomItem(r, tsRange))
	}
	return a, b
}
