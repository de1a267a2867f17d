package engine

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/docsnode/docsnode/replica"
)

// simConverge: n nodes share a document; writers on several nodes write
// at once; every node ends with the same entries.
func simConverge(t *testing.T, n, writers, per int) {
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, n, 5*time.Millisecond, nil)
		defer c.close()
		docs := c.shareDoc()
		var wg sync.WaitGroup
		for w := range writers {
			node := c.nodes[w*n/writers]
			wg.Go(func() {
				au, err := node.e.Authors().Default(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				simWrite(t, docs[node.i], au, fmt.Sprintf("w%d", node.i), per)
			})
		}
		wg.Wait()
		converged(t, docs, writers*per, 2*time.Minute)
		t.Logf("converged at virtual %v", time.Now())
	})
}

func TestSimThreeNodesConverge(t *testing.T) { simConverge(t, 3, 3, 20) }

func TestSimTenNodesConverge(t *testing.T) { simConverge(t, 10, 4, 25) }

// TestSimPartitionHeals: a five-node swarm is split {0,1} | {2,3,4}; both
// sides keep writing and converge among themselves, nothing crosses the
// cut; once it heals, all five converge.
func TestSimPartitionHeals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newSimCluster(t, 5, 5*time.Millisecond, nil)
		defer c.close()
		docs := c.shareDoc()
		authors := make([]replica.Author, len(docs))
		for i, n := range c.nodes {
			au, err := n.e.Authors().Default(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			authors[i] = au
		}
		simWrite(t, docs[0], authors[0], "before", 10)
		converged(t, docs, 10, time.Minute)

		left, right := c.nodes[:2], c.nodes[2:]
		c.net.router.partition(c.addrs(left...), c.addrs(right...))
		// Long enough for memberlist to declare the other side dead.
		time.Sleep(20 * time.Second)
		simWrite(t, docs[1], authors[1], "left", 10)
		simWrite(t, docs[3], authors[3], "right", 10)
		simWrite(t, docs[4], authors[4], "right2", 5)
		converged(t, docs[:2], 20, time.Minute)
		converged(t, docs[2:], 25, time.Minute)
		time.Sleep(10 * time.Second)
		if got := len(snapshot(t, docs[0])); got != 20 {
			t.Fatalf("node 0 holds %d entries across the partition, want 20", got)
		}
		if c.net.router.dropped() == 0 {
			t.Fatal("the partition dropped no packets")
		}

		c.net.router.heal()
		t.Logf("healed at %v", time.Now())
		converged(t, docs, 35, 2*time.Minute)
		t.Logf("converged at %v", time.Now())
		// Writes after the heal reach everyone.
		simWrite(t, docs[0], authors[0], "after", 3)
		converged(t, docs, 38, time.Minute)
	})
}
