package interop

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/docsnode/docsnode/replica/recon"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy/storage/vector"
)

// maxRounds bounds every session; the sets here need far fewer.
const maxRounds = 500

// theirMinFrame is go-nostr's smallest frame size limit.
const theirMinFrame = 4096

// sets is one scenario: what each side holds and the true differences.
type sets struct {
	a, b         []recon.Item
	onlyA, onlyB []string // hex ids, sorted
}

// makeSets draws two overlapping sets with timestamps in [0, tsRange): small
// ranges give many equal timestamps.
func makeSets(seed uint64, shared, onlyA, onlyB int, tsRange uint64) sets {
	r := rand.New(rand.NewPCG(seed, 0x1e7))
	item := func() recon.Item {
		it := recon.Item{Timestamp: r.Uint64N(tsRange)}
		for i := 0; i < 32; i += 8 {
			binary.LittleEndian.PutUint64(it.ID[i:], r.Uint64())
		}
		return it
	}
	var s sets
	for range shared {
		it := item()
		s.a, s.b = append(s.a, it), append(s.b, it)
	}
	for range onlyA {
		it := item()
		s.a = append(s.a, it)
		s.onlyA = append(s.onlyA, hex.EncodeToString(it.ID[:]))
	}
	for range onlyB {
		it := item()
		s.b = append(s.b, it)
		s.onlyB = append(s.onlyB, hex.EncodeToString(it.ID[:]))
	}
	slices.Sort(s.onlyA)
	slices.Sort(s.onlyB)
	return s
}

func ourIndex(items []recon.Item) *recon.Index { return recon.BuildIndex(slices.Clone(items)) }

func theirStorage(items []recon.Item) *vector.Vector {
	v := vector.New()
	for _, it := range items {
		v.Insert(nostr.Timestamp(it.Timestamp), hex.EncodeToString(it.ID[:]))
	}
	v.Seal()
	return v
}

func hexIDs(ids [][32]byte) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = hex.EncodeToString(id[:])
	}
	slices.Sort(out)
	return out
}

// ourInitiator reconciles our initiator on s.a with go-nostr's responder on
// s.b. With twin set, our own responder on s.b answers every message too and
// must write exactly go-nostr's bytes.
func ourInitiator(s sets, ours recon.Config, theirLimit int, twin bool) (have, need []string, rounds int, err error) {
	ini, err := recon.NewSession(ourIndex(s.a), ours)
	if err != nil {
		return nil, nil, 0, err
	}
	resp := negentropy.New(theirStorage(s.b), theirLimit)
	var mirror *recon.Session
	if twin {
		if mirror, err = recon.NewSession(ourIndex(s.b), recon.Config{}); err != nil {
			return nil, nil, 0, err
		}
	}
	msg, err := ini.Initiate()
	if err != nil {
		return nil, nil, 0, err
	}
	var h, n [][32]byte
	for msg != nil {
		if rounds++; rounds > maxRounds {
			return nil, nil, rounds, fmt.Errorf("no convergence after %d rounds", maxRounds)
		}
		replyHex, err := resp.Reconcile(hex.EncodeToString(msg))
		if err != nil {
			return nil, nil, rounds, fmt.Errorf("go-nostr responder, round %d: %w", rounds, err)
		}
		reply, err := hex.DecodeString(replyHex)
		if err != nil {
			return nil, nil, rounds, err
		}
		if mirror != nil {
			mine, _, _, err := mirror.Reconcile(msg)
			if err != nil {
				return nil, nil, rounds, fmt.Errorf("our responder, round %d: %w", rounds, err)
			}
			if !bytes.Equal(mine, reply) {
				return nil, nil, rounds, fmt.Errorf("round %d: our responder wrote %x, go-nostr %x", rounds, mine, reply)
			}
		}
		var hh, nn [][32]byte
		msg, hh, nn, err = ini.Reconcile(reply)
		if err != nil {
			return nil, nil, rounds, fmt.Errorf("our initiator, round %d: %w", rounds, err)
		}
		h, n = append(h, hh...), append(n, nn...)
	}
	return hexIDs(h), hexIDs(n), rounds, nil
}

// theirInitiator reconciles go-nostr's initiator on s.a with our responder
// on s.b. With twin set, go-nostr's own responder on s.b answers every
// message too and must write exactly our bytes. go-nostr reports ids on
// channels, which must be drained while it runs.
func theirInitiator(s sets, ours recon.Config, theirLimit int, twin bool) (have, need []string, rounds int, err error) {
	ini := negentropy.New(theirStorage(s.a), theirLimit)
	resp, err := recon.NewSession(ourIndex(s.b), ours)
	if err != nil {
		return nil, nil, 0, err
	}
	var mirror *negentropy.Negentropy
	if twin {
		mirror = negentropy.New(theirStorage(s.b), theirLimit)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for id := range ini.Haves {
			have = append(have, id)
		}
	})
	wg.Go(func() {
		for id := range ini.HaveNots {
			need = append(need, id)
		}
	})
	q := ini.Start()
	for q != "" {
		if rounds++; rounds > maxRounds {
			return nil, nil, rounds, fmt.Errorf("no convergence after %d rounds", maxRounds)
		}
		msg, err := hex.DecodeString(q)
		if err != nil {
			return nil, nil, rounds, err
		}
		reply, _, _, err := resp.Reconcile(msg)
		if err != nil {
			return nil, nil, rounds, fmt.Errorf("our responder, round %d: %w", rounds, err)
		}
		if mirror != nil {
			theirs, err := mirror.Reconcile(q)
			if err != nil {
				return nil, nil, rounds, fmt.Errorf("go-nostr responder, round %d: %w", rounds, err)
			}
			if mine := hex.EncodeToString(reply); mine != theirs {
				return nil, nil, rounds, fmt.Errorf("round %d: our responder wrote %s, go-nostr %s", rounds, mine, theirs)
			}
		}
		if q, err = ini.Reconcile(hex.EncodeToString(reply)); err != nil {
			// The channels stay open; the drain goroutines are abandoned.
			return nil, nil, rounds, fmt.Errorf("go-nostr initiator, round %d: %w", rounds, err)
		}
	}
	wg.Wait()
	slices.Sort(have)
	slices.Sort(need)
	return have, need, rounds, nil
}

type limits struct {
	name   string
	ours   recon.Config
	theirs int // go-nostr frame size limit, 0 for none
	twin   bool
	// small: only for sets of at most smallSets items, since go-nostr's
	// vector storage sums every range it fingerprints, and small frames
	// take many rounds.
	small bool
}

const smallSets = 25000

var allLimits = []limits{
	{"unlimited", recon.Config{}, 0, true, false},
	{"default", recon.DefaultConfig(), 256 << 10, false, false},
	{"ours-4k", recon.Config{MaxFrameSize: recon.MinFrameSize}, 0, false, true},
	{"theirs-4k", recon.Config{}, theirMinFrame, false, true},
	{"both-4k", recon.Config{MaxFrameSize: recon.MinFrameSize}, theirMinFrame, false, true},
}

// check runs s in both roles under the frame limits. Our initiator must
// learn each differing id exactly once; go-nostr's may repeat an id (its own
// tests deduplicate), so its results are compared as sets.
func check(t *testing.T, s sets) {
	t.Helper()
	for _, lim := range allLimits {
		if lim.small && max(len(s.a), len(s.b)) > smallSets {
			continue
		}
		have, need, rounds, err := ourInitiator(s, lim.ours, lim.theirs, lim.twin)
		if err != nil {
			t.Fatalf("%s, ours initiating: %v", lim.name, err)
		}
		if !slices.Equal(have, s.onlyA) || !slices.Equal(need, s.onlyB) {
			t.Fatalf("%s, ours initiating: have %d need %d ids, want %d and %d exactly",
				lim.name, len(have), len(need), len(s.onlyA), len(s.onlyB))
		}
		theirRounds := 0
		have, need, theirRounds, err = theirInitiator(s, lim.ours, lim.theirs, lim.twin)
		if err != nil {
			t.Fatalf("%s, go-nostr initiating: %v", lim.name, err)
		}
		if !slices.Equal(slices.Compact(have), s.onlyA) || !slices.Equal(slices.Compact(need), s.onlyB) {
			t.Fatalf("%s, go-nostr initiating: have %d need %d distinct ids, want %d and %d",
				lim.name, len(slices.Compact(have)), len(slices.Compact(need)), len(s.onlyA), len(s.onlyB))
		}
		t.Logf("%-9s rounds: ours initiating %d, go-nostr initiating %d", lim.name, rounds, theirRounds)
	}
}

func TestAgainstGoNostr(t *testing.T) {
	cases := []struct {
		name                 string
		shared, onlyA, onlyB int
		tsRange              uint64
	}{
		{"empty", 0, 0, 0, 1000},
		{"pull small", 0, 0, 5, 1000},
		{"push small", 0, 5, 0, 1000},
		{"id list edge", 31, 1, 1, 1000},
		{"split edge", 32, 0, 1, 1000},
		{"equal", 5000, 0, 0, 1 << 40},
		{"few differences", 20000, 10, 10, 1 << 40},
		{"one timestamp", 3000, 40, 40, 1},
		{"few timestamps", 10000, 100, 100, 7},
		{"pull", 0, 0, 3000, 1 << 40},
		{"push", 0, 3000, 0, 1 << 40},
		{"disjoint", 0, 2000, 2000, 1 << 30},
		{"large", 100000, 20, 20, 1 << 50},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check(t, makeSets(uint64(i), tc.shared, tc.onlyA, tc.onlyB, tc.tsRange))
		})
	}
}

// Random sizes up to 100k items, random overlap and timestamp spread.
func TestAgainstGoNostrRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 11))
	for i := range 10 {
		total := []int{10, 300, 5000, 20000, 100000}[r.IntN(5)]
		shared := r.IntN(total + 1)
		onlyA, onlyB := r.IntN(total-shared+1), r.IntN(total-shared+1)
		onlyA, onlyB = min(onlyA, 200), min(onlyB, 200)
		tsRange := []uint64{1, 10, 1000, 1 << 40}[r.IntN(4)]
		t.Run(fmt.Sprintf("%d-%d-%d-ts%d", shared, onlyA, onlyB, tsRange), func(t *testing.T) {
			check(t, makeSets(uint64(1000+i), shared, onlyA, onlyB, tsRange))
		})
	}
}

// Fingerprints agree with go-nostr's accumulator, including the carry across
// limbs and counts that take several varint bytes.
func TestFingerprintMatchesGoNostr(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 127, 128, 300, 20000} {
		var ours recon.Accumulator
		var theirs vector.Accumulator
		for range n {
			var id [32]byte
			for i := 0; i < 32; i += 8 {
				binary.LittleEndian.PutUint64(id[i:], r.Uint64()|0xffff_0000_0000_0000)
			}
			ours.Add(id)
			theirs.AddBytes(id[:])
		}
		fp := ours.Fingerprint(n)
		if got, want := hex.EncodeToString(fp[:]), theirs.GetFingerprint(n); got != want {
			t.Fatalf("%d ids: fingerprint %s, go-nostr %s", n, got, want)
		}
	}
}
