//go:build unix

package gossip

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/testutil"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkForgedPutFlood: a member sends the victim forged puts (good
// shape, bad signature, each with a key of its own) as fast as streams
// carry them. The victim's inbox holds the whole flood, so that what it
// checks is up to the budget alone, which it charges as its goroutine
// takes each op: with the budgets off every put is checked; with a budget,
// its burst and then its rate while the flood lasts. On a busy machine
// the goroutine may check more slowly than the default budget's 5000/s,
// which then drops nothing; the run with 1000/s shows the budget at work.
// It reports the puts the victim checked, those the budget dropped, and
// the process's CPU per forged put (both nodes; the sender's share is the
// same in every run).
func BenchmarkForgedPutFlood(b *testing.B) {
	const perPacket, packets = 200, 200
	for _, tc := range []struct {
		name   string
		budget func(*Config)
	}{
		{"budget=default", func(*Config) {}},
		{"budget=1000/s", func(c *Config) { c.PeerOpRate, c.PeerOpBurst = 1000, 4000 }},
		{"budget=off", func(c *Config) { c.PeerOpRate, c.PeerOpBurst, c.NodeOpRate, c.NodeOpBurst = 1e9, 1e9, 1e9, 1e9 }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				attacker := newTestNode(b, func(c *Config) { c.MaxDatagramPacket = -1 })
				victim := newTestNode(b, tc.budget, func(c *Config) { c.InboxSize = perPacket * packets })
				doc := newTestDoc(b)
				swarms, _ := joinAll(b, []*testNode{attacker, victim}, doc.id())
				forged := doc.entry("forged", "v")
				forged.AuthorSig[0] ^= 1
				var pkts [][]byte
				for p := range packets {
					raws := make([][]byte, perPacket)
					for i := range raws {
						e := forged
						e.Key = fmt.Appendf(nil, "forged-%d-%d", p, i)
						raws[i] = mustOp(b, &op{kind: opPut, origin: attacker.id(), entry: e})
					}
					pkts = append(pkts, appendHeader(nil, swarms[0].topic, kindPacket), appendCompound(nil, raws))
				}
				to := endpoint.NodeAddr{ID: victim.id(), Addrs: victim.ep.Addr().Addrs}
				cpu0, start := processCPU(), time.Now()
				for i := 0; i < len(pkts); i += 2 {
					if err := swarms[0].t.sendPacket(to, append(pkts[i], pkts[i+1]...)); err != nil {
						b.Fatal(err)
					}
				}
				const sent = perPacket * packets
				sendRate := float64(sent) / time.Since(start).Seconds()
				// Checking signatures on a busy machine can take longer than
				// testTimeout.
				testutil.Eventually(b, 5*time.Minute, func() bool {
					st := swarms[1].Stats()
					return st.OpsInvalid+st.OpsPeerLimited+st.OpsNodeLimited+st.InboxDropped >= sent
				}, "every forged put to be handled")
				cpu, took := processCPU()-cpu0, time.Since(start)
				st := swarms[1].Stats()
				b.ReportMetric(float64(st.OpsInvalid), "checked")
				b.ReportMetric(float64(st.OpsPeerLimited+st.OpsNodeLimited), "dropped")
				b.ReportMetric(float64(cpu.Microseconds())/sent, "cpu-µs/put")
				b.ReportMetric(took.Seconds(), "s")
				b.ReportMetric(sendRate, "sent/s")
			}
		})
	}
}
