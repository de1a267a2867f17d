package live

import (
	"context"
	"sync"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// persister writes what the scheduler decided to keep, off the loop: the
// per-(document, peer) records (with the peer as a sync peer of the
// document and its address) and the wanted set's records. Writes queue by
// key, so a record written twice before its turn is written once, the
// latest; the queue is bounded by the number of keys, which the documents,
// their peers and MaxQueuedDownloads bound.
type persister struct {
	act     *actor.Actor
	ep      *endpoint.Endpoint // its address book knows where peers are now
	content *blobs.Store
	timeout time.Duration

	mu      sync.Mutex
	records map[recordID]peerRecord
	wants   map[replica.Hash][]byte // nil: delete
	wake    chan struct{}           // 1-buffered
	stop    chan struct{}
	once    sync.Once
}

type recordID struct {
	doc  replica.NamespaceID
	peer endpoint.NodeID
}

func newPersister(act *actor.Actor, ep *endpoint.Endpoint, content *blobs.Store, timeout time.Duration) *persister {
	return &persister{act: act, ep: ep, content: content, timeout: timeout,
		records: make(map[recordID]peerRecord), wants: make(map[replica.Hash][]byte),
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

func (p *persister) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// record queues rec of doc.
func (p *persister) record(doc replica.NamespaceID, rec peerRecord) {
	p.mu.Lock()
	p.records[recordID{doc, rec.Peer}] = rec
	p.mu.Unlock()
	p.signal()
}

// want queues a wanted-set record of h (data nil: delete it).
func (p *persister) want(h replica.Hash, data []byte) {
	if p.content == nil {
		return
	}
	p.mu.Lock()
	p.wants[h] = data
	p.mu.Unlock()
	p.signal()
}

// close makes run write what is queued and return.
func (p *persister) close() { p.once.Do(func() { close(p.stop) }) }

// run writes queued records until close, then writes what is left.
func (p *persister) run() {
	for {
		select {
		case <-p.wake:
			p.flush()
		case <-p.stop:
			p.flush()
			return
		}
	}
}

func (p *persister) flush() {
	p.mu.Lock()
	records, wants := p.records, p.wants
	if len(records) == 0 && len(wants) == 0 {
		p.mu.Unlock()
		return
	}
	p.records, p.wants = make(map[recordID]peerRecord), make(map[replica.Hash][]byte)
	p.mu.Unlock()
	for h, data := range wants {
		if data == nil {
			p.content.DeleteWant(h)
		} else {
			p.content.PutWant(h, data)
		}
	}
	for id, rec := range records {
		if known, ok := p.ep.KnownAddr(id.peer); ok {
			rec.Addr = known // where the peer is now, which the scheduler's may predate
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		p.act.AddSyncPeer(ctx, id.doc, replica.PeerID(id.peer))
		if len(rec.Addr.Addrs) > 0 {
			if b, err := rec.Addr.MarshalBinary(); err == nil {
				p.act.SetMeta(ctx, peerAddrKey(id.peer), b)
			}
		}
		if b, err := rec.marshal(); err == nil {
			p.act.SetMeta(ctx, recordKey(id.doc, id.peer), b)
		}
		cancel()
	}
}
