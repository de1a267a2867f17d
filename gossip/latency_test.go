package gossip

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
)

// latency is what measurePutLatency saw: the time from Put on one node to
// the OpPut event on each other node, over every (put, receiver) pair.
type latency struct {
	nodes, puts   int
	delivered     int     // pairs delivered before the deadline
	limited       uint64  // ops the receivers' budgets dropped
	dropped       uint64  // packets, ops and events dropped for full queues
	rate          float64 // puts published per second
	p50, p99, max time.Duration
}

func (l latency) deliveredPct() float64 {
	return 100 * float64(l.delivered) / float64(l.puts*(l.nodes-1))
}

func (l latency) String() string {
	return fmt.Sprintf("%d nodes, %d puts: p50 %v, p99 %v, max %v, delivered %.2f%%, rate limited %d, dropped by full queues %d",
		l.nodes, l.puts, l.p50, l.p99, l.max, l.deliveredPct(), l.limited, l.dropped)
}

// measurePutLatency joins nodes loopback nodes in one swarm, publishes
// puts entries from the first, one every interval, and times each OpPut on
// every other node. Pairs not delivered within testTimeout of the last put
// count as lost.
func measurePutLatency(tb testing.TB, nodes, puts int, interval time.Duration, mutate ...func(*Config)) latency {
	tb.Helper()
	ns := newTestNodes(tb, nodes, mutate...)
	doc := newTestDoc(tb)
	swarms := make([]*Swarm, nodes)
	for i, n := range ns {
		swarms[i] = n.open(tb, doc.id())
	}
	ctx := testContext(tb)
	for _, s := range swarms[1:] {
		if _, err := s.Join(ctx, []endpoint.NodeAddr{ns[0].ep.Addr()}); err != nil {
			tb.Fatalf("Join: %v", err)
		}
	}
	// Receivers take ops from anyone; only the publisher needs to know
	// every receiver to push to it.
	eventually(tb, "the publisher to see every node", func() bool { return len(swarms[0].Members()) == nodes-1 })

	// One reader per receiver stamps each put as it arrives.
	var mu sync.Mutex
	received := make(map[string][]time.Time, puts)
	all := make(chan struct{})
	total := 0
	var readers sync.WaitGroup
	for _, s := range swarms[1:] {
		readers.Go(func() {
			for ev := range s.Events() {
				p, ok := ev.(OpPut)
				if !ok {
					continue
				}
				now := time.Now()
				mu.Lock()
				received[string(p.Entry.Key)] = append(received[string(p.Entry.Key)], now)
				if total++; total == puts*(nodes-1) {
					close(all)
				}
				mu.Unlock()
			}
		})
	}

	sent := make(map[string]time.Time, puts)
	tick := time.NewTicker(interval)
	for i := range puts {
		e := doc.entry(fmt.Sprintf("lat-%05d", i), "v")
		sent[string(e.Key)] = time.Now()
		if err := swarms[0].Put(e); err != nil {
			tb.Fatalf("Put: %v", err)
		}
		<-tick.C
	}
	tick.Stop()
	published := time.Since(sent[fmt.Sprintf("lat-%05d", 0)])
	deadline := time.NewTimer(testTimeout)
	select {
	case <-all:
	case <-deadline.C:
	}
	deadline.Stop()
	var limited, dropped uint64
	for _, s := range swarms {
		st := s.Stats()
		limited += st.OpsPeerLimited + st.OpsNodeLimited
		dropped += st.InboxDropped + st.EventsDropped + st.PacketsDropped
		s.Close()
	}
	readers.Wait()

	var lat []time.Duration
	for key, at := range sent {
		for _, got := range received[key] {
			lat = append(lat, got.Sub(at))
		}
	}
	slices.Sort(lat)
	res := latency{nodes: nodes, puts: puts, delivered: len(lat), limited: limited, dropped: dropped,
		rate: float64(puts) / published.Seconds()}
	if len(lat) > 0 {
		res.p50 = lat[len(lat)/2]
		res.p99 = lat[(len(lat)*99)/100]
		res.max = lat[len(lat)-1]
	}
	return res
}

// TestPutLatency turns memberlist's gossip off in effect (one round an
// hour), so every put that arrives was pushed. It logs the latencies; it
// does not bound them, as they measure the machine's load as much as this
// package.
func TestPutLatency(t *testing.T) {
	noGossip := func(c *Config) { c.GossipInterval = time.Hour }
	res := measurePutLatency(t, 5, 100, 5*time.Millisecond, noGossip)
	t.Log(res)
	if res.delivered != res.puts*(res.nodes-1) {
		t.Errorf("eager push delivered %.2f%% of puts, want all", res.deliveredPct())
	}
	if res.limited != 0 {
		t.Errorf("the receive budgets dropped %d ops of an honest publisher", res.limited)
	}
}

// BenchmarkPutLatency reports delivery latency percentiles with memberlist's
// LAN timings, 500 puts a second from one node. One iteration is one whole
// measurement, so run it once:
//
//	go test -run '^$' -bench PutLatency -benchtime 1x ./gossip
func BenchmarkPutLatency(b *testing.B) {
	lan := func(c *Config) { *c = DefaultConfig() }
	for _, nodes := range []int{5, 10} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			var res latency
			for b.Loop() {
				res = measurePutLatency(b, nodes, 500, 2*time.Millisecond, lan)
			}
			b.ReportMetric(float64(res.p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(res.p99.Microseconds()), "p99-µs")
			b.ReportMetric(res.deliveredPct(), "delivered-%")
			b.ReportMetric(float64(res.limited), "rate-limited")
			b.ReportMetric(0, "ns/op")
			b.Log(res)
		})
	} // A burst: 10000 puts from one node as fast as it can publish them
	// (a tick every 50µs at most), which the receivers' default budgets
	// must take whole.
	b.Run("nodes=10/burst", func(b *testing.B) {
		var res latency
		for b.Loop() {
			res = measurePutLatency(b, 10, 10000, 50*time.Microsecond, lan)
		}
		b.ReportMetric(res.deliveredPct(), "delivered-%")
		b.ReportMetric(float64(res.limited), "rate-limited")
		b.ReportMetric(res.rate, "puts/s")
		b.ReportMetric(0, "ns/op")
		b.Log(res)
	})
}
