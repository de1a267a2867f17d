package live

import (
	"math/rand/v2"
	"testing"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/replica/recon"
)

// TestRoundBudgetHonestLarge: honest reconciliations of large sets, with
// the default frame size, stay within both sides' round and byte budgets
// at every round: 100k entries each side, disjoint and half shared, and a
// bootstrap of half a million entries into an empty set (a million take
// 123 rounds, within a budget of 224; left out to keep the test short
// under the race detector). The rounds run on
// bare reconciliation sessions (no store, no signatures), the budgets on
// the machines the sessions would run, fed what a session feeds them. The
// entries received, which raise the budgets further, are left out.
func TestRoundBudgetHonestLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	items := func(n int) []recon.Item {
		out := make([]recon.Item, n)
		for i := range out {
			out[i].Timestamp = r.Uint64N(1 << 50)
			for j := range 4 {
				v := r.Uint64()
				for k := range 8 {
					out[i].ID[8*j+k] = byte(v >> (8 * k))
				}
			}
		}
		return out
	}
	shared := items(50_000)
	for _, tc := range []struct {
		name           string
		initiator, acc []recon.Item
	}{
		{"100k each, disjoint", items(100_000), items(100_000)},
		{"100k each, half shared", append(items(50_000), shared...), append(items(50_000), shared...)},
		{"bootstrap of 500k", nil, items(500_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultSessionConfig().withDefaults(replica.DefaultLimits())
			ini, err := recon.NewSession(recon.BuildIndex(tc.initiator), cfg.reconConfig())
			if err != nil {
				t.Fatal(err)
			}
			acc, err := recon.NewSession(recon.BuildIndex(tc.acc), cfg.reconConfig())
			if err != nil {
				t.Fatal(err)
			}
			mi, ma := newMachine(Initiator, replica.NamespaceID{1}, cfg), newMachine(Acceptor, replica.NamespaceID{1}, cfg)
			msg, err := ini.Initiate()
			if err != nil {
				t.Fatal(err)
			}
			check := func(m *machine, n int) {
				t.Helper()
				m.out.BytesReceived += int64(n + frameOverhead)
				if err := m.countRound(n); err != nil {
					t.Fatalf("%v: %v", m.role, err)
				}
				if err := m.checkBytes(); err != nil {
					t.Fatalf("%v: %v", m.role, err)
				}
			}
			for {
				check(ma, len(msg))
				reply, _, _, err := acc.Reconcile(msg)
				if err != nil {
					t.Fatal(err)
				}
				ma.reconciled(actor.RoundResult{Reply: reply, Local: acc.Len(), PeerListed: acc.PeerListed()})
				check(mi, len(reply))
				if msg, _, _, err = ini.Reconcile(reply); err != nil {
					t.Fatal(err)
				}
				mi.awaiting = true
				mi.reconciled(actor.RoundResult{Reply: msg, Local: ini.Len(), PeerListed: ini.PeerListed()})
				if msg == nil {
					break
				}
			}
			t.Logf("%d rounds; budgets: initiator %d, acceptor %d", mi.rounds, mi.roundBudget(), ma.roundBudget())
		})
	}
}
