package live

import (
	"context"
	"sync"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/replica"
)

// policyCache keeps each document's download policy, read from the store
// on first use and dropped by SetDownloadPolicy. The store's event pump
// and the gossip forwarders read it; the loop never does.
type policyCache struct {
	act *actor.Actor
	mu  sync.Mutex
	m   map[replica.NamespaceID]replica.DownloadPolicy
}

// allows reports whether doc's download policy wants the content of an
// entry at key. A document whose policy cannot be read (not held any
// more, the store closing) wants nothing.
func (c *policyCache) allows(ctx context.Context, doc replica.NamespaceID, key []byte) bool {
	c.mu.Lock()
	p, ok := c.m[doc]
	c.mu.Unlock()
	if !ok {
		var err error
		if p, err = c.act.DownloadPolicy(ctx, doc); err != nil {
			return false
		}
		c.mu.Lock()
		c.m[doc] = p
		c.mu.Unlock()
	}
	return p.ShouldDownload(key)
}

func (c *policyCache) forget(doc replica.NamespaceID) {
	c.mu.Lock()
	delete(c.m, doc)
	c.mu.Unlock()
}
