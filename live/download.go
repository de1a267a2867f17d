package live

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// ContentStatus says how much of an entry's content this node holds.
type ContentStatus = blobs.Status

// Content statuses.
const (
	// ContentMissing: none of the content is held.
	ContentMissing = blobs.Missing
	// ContentIncomplete: part of the content was fetched; the rest is
	// wanted or was given up.
	ContentIncomplete = blobs.Incomplete
	// ContentComplete: the whole content is held (always, for a tombstone).
	ContentComplete = blobs.Complete
)

// Bounds of the downloader's bookkeeping, per wanted blob.
const (
	// maxWantDocs bounds the documents one wanted blob is remembered for.
	maxWantDocs = 16
	// maxWantProviders bounds the peers remembered per document of a
	// wanted blob (the sender and those that announced the content).
	maxWantProviders = 8
	// maxCandidates bounds the peers one download attempt tries.
	maxCandidates = 12
)

// download is one wanted blob, de-duplicated by hash. It is owned by the
// loop.
type download struct {
	hash    replica.Hash
	size    uint64
	docs    []*wantDoc // in the order the documents wanted it
	fails   int        // failed attempts
	retryAt time.Time
	state   dlState
}

type dlState uint8

const (
	dlReady   dlState = iota // in the ready queue
	dlDelayed                // backing off until retryAt
	dlRunning
)

// wantDoc is one document's reason to want a blob: an entry that names it,
// and the peers that should hold it.
type wantDoc struct {
	ref       blobs.Ref
	providers []endpoint.NodeID // the sender first, then announcers
}

// downloads is the downloader's state, owned by the loop.
type downloads struct {
	byHash  map[replica.Hash]*download
	ready   []*download // FIFO; entries no longer dlReady are skipped
	delayed []*download // backing off; entries no longer dlDelayed are skipped
	nextDue time.Time   // the earliest retryAt in delayed; zero when none
	running int
	// pending counts, per document, the downloads queued for it that have
	// not finished or been given up.
	pending  map[replica.NamespaceID]int
	policies map[replica.NamespaceID]replica.DownloadPolicy
	dropped  uint64 // wants refused because the queue was full
}

// due notes that a delayed download is due at t.
func (q *downloads) due(t time.Time) {
	if q.nextDue.IsZero() || t.Before(q.nextDue) {
		q.nextDue = t
	}
}

func newDownloads() downloads {
	return downloads{
		byHash:   make(map[replica.Hash]*download),
		pending:  make(map[replica.NamespaceID]int),
		policies: make(map[replica.NamespaceID]replica.DownloadPolicy),
	}
}

// downloadResult is a download goroutine's report to the loop.
type downloadResult struct {
	dl   *download
	from endpoint.NodeID // the peer that served it, on success
	err  error
}

// contentWant asks the loop to queue a download regardless of the policy:
// a reader found the content missing.
type contentWant struct {
	doc   replica.NamespaceID
	entry replica.SignedEntry
}

// ContentStatus reports how much of the content of se this node holds.
// It is ContentMissing when the live actor has no content store.
func (la *Actor) ContentStatus(se *replica.SignedEntry) ContentStatus {
	if se.IsTombstone() {
		return ContentComplete
	}
	if la.content == nil {
		return ContentMissing
	}
	return la.content.Status(se.Hash, se.Len)
}

// WantContent queues a download of the content of se in doc, whatever the
// document's download policy, unless it is held or queued already. It
// does not wait: it reports false when the request could not be handed
// to the live actor at once (busy, closed, or no content store); try again
// later. An EventContentReady follows the download.
func (la *Actor) WantContent(doc replica.NamespaceID, se replica.SignedEntry) bool {
	if la.content == nil || se.IsTombstone() {
		return false
	}
	select {
	case la.wantC <- contentWant{doc, se}:
		return true
	default:
		return false
	}
}

// SetDownloadPolicy stores which entries' content doc downloads. It
// applies to entries that arrive from then on.
func (la *Actor) SetDownloadPolicy(ctx context.Context, doc replica.NamespaceID, p replica.DownloadPolicy) error {
	if err := la.act.SetDownloadPolicy(ctx, doc, p); err != nil {
		return fmt.Errorf("live: set the download policy of %s: %w", doc.Short(), err)
	}
	reply := make(chan struct{}, 1)
	_, err := call(ctx, la, policyChangedReq{doc: doc, reply: reply}, reply)
	return err
}

type policyChangedReq struct {
	doc   replica.NamespaceID
	reply chan struct{}
}

// DownloadStats reports the downloader's state.
type DownloadStats struct {
	Queued  int    // wanted blobs not yet fetched or given up
	Running int    // downloads in progress
	Dropped uint64 // wants refused because MaxQueuedDownloads were queued
}

type downloadStatsReq struct{ reply chan DownloadStats }

// DownloadStats returns the downloader's counters.
func (la *Actor) DownloadStats(ctx context.Context) (DownloadStats, error) {
	reply := make(chan DownloadStats, 1)
	return call(ctx, la, downloadStatsReq{reply: reply}, reply)
}

// loadWants queues the persisted wanted set; it runs before the loop
// starts.
func (la *Actor) loadWants() error {
	maxKey := la.act.Limits().MaxKeyLen
	var stale []replica.Hash
	err := la.content.Wants(la.cfg.MaxQueuedDownloads, func(h replica.Hash, b []byte) {
		rec, err := decodeWant(b, maxKey)
		if err != nil || la.content.Status(h, rec.size) == blobs.Complete {
			stale = append(stale, h)
			return
		}
		dl := &download{hash: h, size: rec.size, docs: rec.docs}
		for _, wd := range dl.docs {
			wd.ref.Hash, wd.ref.Len = h, rec.size
			la.dl.pending[wd.ref.Namespace]++
		}
		la.dl.byHash[h] = dl
		la.dl.ready = append(la.dl.ready, dl)
	})
	for _, h := range stale {
		la.content.DeleteWant(h)
	}
	return err
}

// policyAllows reports whether doc's download policy wants the content of
// an entry at key. The policy is cached until SetDownloadPolicy.
func (la *Actor) policyAllows(doc replica.NamespaceID, key []byte) bool {
	p, ok := la.dl.policies[doc]
	if !ok {
		ctx, cancel := la.storeCtx()
		defer cancel()
		var err error
		if p, err = la.act.DownloadPolicy(ctx, doc); err != nil {
			return false // not held any more, or the store is closing
		}
		la.dl.policies[doc] = p
	}
	return p.ShouldDownload(key)
}

// want queues the content of se for doc, learnt from peer from (zero when
// unknown). It runs on the loop.
func (la *Actor) wantContent(doc replica.NamespaceID, se *replica.SignedEntry, from endpoint.NodeID) {
	if la.content == nil || se.IsTombstone() || la.content.Status(se.Hash, se.Len) == blobs.Complete {
		return
	}
	if se.Len > uint64(la.content.MaxSize()) {
		return // never storable here
	}
	dl := la.dl.byHash[se.Hash]
	if dl == nil {
		if len(la.dl.byHash) >= la.cfg.MaxQueuedDownloads {
			la.dl.dropped++
			return
		}
		dl = &download{hash: se.Hash, size: se.Len}
		la.dl.byHash[se.Hash] = dl
		la.dl.ready = append(la.dl.ready, dl)
	} else if dl.size != se.Len {
		return // another entry claims another length: the first one stands
	}
	changed := false
	i := slices.IndexFunc(dl.docs, func(wd *wantDoc) bool { return wd.ref.Namespace == doc })
	if i < 0 && len(dl.docs) < maxWantDocs {
		dl.docs = append(dl.docs, &wantDoc{ref: blobs.RefOf(doc, se)})
		la.dl.pending[doc]++
		i, changed = len(dl.docs)-1, true
	}
	if i >= 0 && !from.IsZero() && from != la.self && addProvider(dl.docs[i], from) {
		changed = true
		if dl.state == dlDelayed {
			dl.state, dl.retryAt = dlReady, time.Time{}
			la.dl.ready = append(la.dl.ready, dl)
		}
	}
	if changed {
		// Written before the event that reports the entry, so that a
		// download is never wanted only in memory.
		la.content.PutWant(dl.hash, appendWant(nil, dl))
	}
}

// addProvider adds a peer to wd's providers, first-come order, bounded.
func addProvider(wd *wantDoc, id endpoint.NodeID) bool {
	if slices.Contains(wd.providers, id) || len(wd.providers) >= maxWantProviders {
		return false
	}
	wd.providers = append(wd.providers, id)
	return true
}

// contentAnnounced records that from holds the blob h (a gossiped
// ContentReady in doc) and retries a backing-off download at once.
func (la *Actor) contentAnnounced(doc replica.NamespaceID, from endpoint.NodeID, h replica.Hash) {
	dl := la.dl.byHash[h]
	if dl == nil {
		return
	}
	for _, wd := range dl.docs {
		if wd.ref.Namespace == doc && addProvider(wd, from) && dl.state == dlDelayed {
			dl.state, dl.retryAt = dlReady, time.Time{}
			la.dl.ready = append(la.dl.ready, dl)
		}
	}
	la.pumpDownloads()
}

// pumpDownloads starts queued downloads while MaxDownloads allows, and
// moves delayed ones whose back-off has passed to the queue.
func (la *Actor) pumpDownloads() {
	if la.content == nil {
		return
	}
	if now := time.Now(); !la.dl.nextDue.IsZero() && !now.Before(la.dl.nextDue) {
		la.dl.nextDue = time.Time{}
		keep := la.dl.delayed[:0]
		for _, dl := range la.dl.delayed {
			switch {
			case dl.state != dlDelayed || la.dl.byHash[dl.hash] != dl:
			case now.Before(dl.retryAt):
				keep = append(keep, dl)
				la.dl.due(dl.retryAt)
			default:
				dl.state = dlReady
				la.dl.ready = append(la.dl.ready, dl)
			}
		}
		clear(la.dl.delayed[len(keep):])
		la.dl.delayed = keep
		if !la.dl.nextDue.IsZero() {
			la.schedule(la.dl.nextDue)
		}
	}
	for la.dl.running < la.cfg.MaxDownloads && len(la.dl.ready) > 0 {
		dl := la.dl.ready[0]
		la.dl.ready[0] = nil
		la.dl.ready = la.dl.ready[1:]
		if dl.state != dlReady || la.dl.byHash[dl.hash] != dl {
			continue // queued twice, or finished meanwhile
		}
		dl.state = dlRunning
		la.dl.running++
		cands := la.candidates(dl)
		refs := make([]blobs.Ref, len(dl.docs))
		for i, wd := range dl.docs {
			refs[i] = wd.ref
		}
		la.wg.Go(func() {
			from, err := la.runDownload(dl, cands, refs)
			select {
			case la.dlDone <- downloadResult{dl: dl, from: from, err: err}:
			case <-la.ctx.Done():
			}
		})
	}
}

// candidate is a peer to fetch from and the entry to present to it.
type candidate struct {
	addr endpoint.NodeAddr
	ref  blobs.Ref
}

// candidates lists whom to ask for dl, in order: each document's sender
// and announcers, then the document's other neighbours.
func (la *Actor) candidates(dl *download) []candidate {
	var out []candidate
	seen := make(map[endpoint.NodeID]bool)
	add := func(addr endpoint.NodeAddr, ref blobs.Ref) {
		if seen[addr.ID] || addr.ID == la.self || addr.ID.IsZero() || len(out) >= maxCandidates {
			return
		}
		seen[addr.ID] = true
		out = append(out, candidate{addr, ref})
	}
	for _, wd := range dl.docs {
		d := la.docs[wd.ref.Namespace]
		for _, id := range wd.providers {
			addr := endpoint.NodeAddr{ID: id}
			if d != nil {
				if p := d.peers[id]; p != nil {
					addr = p.addr
				}
			}
			add(addr, wd.ref)
		}
	}
	for _, wd := range dl.docs {
		d := la.docs[wd.ref.Namespace]
		if d == nil {
			continue
		}
		for _, m := range d.swarm.Members() {
			add(m, wd.ref)
		}
		for _, p := range d.peers {
			add(p.addr, wd.ref)
		}
	}
	return out
}

// runDownload fetches dl from the first candidate that serves it whole,
// and then, failing that, from the peers each document last synced with
// (a document not open for sync has no neighbours). It runs on its own
// goroutine and touches only what it was given (refs is a copy of dl's
// documents) and the stores.
func (la *Actor) runDownload(dl *download, cands []candidate, refs []blobs.Ref) (endpoint.NodeID, error) {
	tried := make(map[endpoint.NodeID]bool, len(cands))
	for _, c := range cands {
		tried[c.addr.ID] = true
	}
	for _, ref := range refs {
		ctx, cancel := la.storeCtx()
		peers, _ := la.act.SyncPeers(ctx, ref.Namespace)
		cancel()
		for _, id := range peers {
			nid := endpoint.NodeID(id)
			if !tried[nid] && nid != la.self && len(cands) < 2*maxCandidates {
				tried[nid] = true
				cands = append(cands, candidate{endpoint.NodeAddr{ID: nid}, ref})
			}
		}
	}
	if len(cands) == 0 {
		return endpoint.NodeID{}, fmt.Errorf("live: download %x…: %w", dl.hash[:5], ErrNoProviders)
	}
	var errs []error
	for _, c := range cands {
		if la.ctx.Err() != nil {
			break
		}
		addr := c.addr
		if len(addr.Addrs) == 0 {
			addr = la.storedAddr(addr.ID)
		}
		ctx, cancel := context.WithTimeout(la.ctx, la.cfg.DownloadTimeout)
		_, err := blobs.Fetch(ctx, la.ep, addr, la.content, c.ref, la.cfg.DownloadIdleTimeout)
		cancel()
		if err == nil {
			if err := la.content.DeleteWant(dl.hash); err != nil {
				return c.addr.ID, err
			}
			return c.addr.ID, nil
		}
		errs = append(errs, err)
	}
	if la.ctx.Err() != nil {
		return endpoint.NodeID{}, la.ctx.Err()
	}
	return endpoint.NodeID{}, errors.Join(errs...)
}

// storedAddr returns the address a peer was last reached on, as the
// sessions remember it; only the id when none is known.
func (la *Actor) storedAddr(id endpoint.NodeID) endpoint.NodeAddr {
	ctx, cancel := la.storeCtx()
	defer cancel()
	if b, err := la.act.Meta(ctx, peerAddrKey(id)); err == nil {
		var stored endpoint.NodeAddr
		if stored.UnmarshalBinary(b) == nil && stored.ID == id {
			return stored
		}
	}
	return endpoint.NodeAddr{ID: id}
}

// downloadFinished handles a download goroutine's report on the loop.
func (la *Actor) downloadFinished(r downloadResult) {
	dl := r.dl
	la.dl.running--
	if la.dl.byHash[dl.hash] != dl {
		la.pumpDownloads()
		return
	}
	switch {
	case r.err == nil:
		la.downloadDone(dl)
		for _, wd := range dl.docs {
			doc := wd.ref.Namespace
			if d := la.docs[doc]; d != nil {
				d.swarm.ContentReady(dl.hash) // best effort
			}
			la.emit(Event{Kind: EventContentReady, Doc: doc, Hash: dl.hash, Peer: r.from})
		}
		la.settle(dl)
	case dl.fails+1 < la.cfg.DownloadRetries && la.ctx.Err() == nil:
		dl.fails++
		dl.state = dlDelayed
		dl.retryAt = time.Now().Add(Backoff(dl.fails, la.cfg.RetryBase, la.cfg.RetryMax, rand.Float64()))
		la.dl.delayed = append(la.dl.delayed, dl)
		la.dl.due(dl.retryAt)
		la.schedule(dl.retryAt)
	case la.ctx.Err() == nil:
		// Given up: the content stays missing (or incomplete) until a
		// reader asks for it again (WantContent) or a new entry names it.
		la.downloadDone(dl)
		la.content.DeleteWant(dl.hash)
		for _, wd := range dl.docs {
			la.emit(Event{Kind: EventContentFailed, Doc: wd.ref.Namespace, Hash: dl.hash, Err: r.err})
		}
		la.settle(dl)
	}
	la.pumpDownloads()
}

func (la *Actor) downloadDone(dl *download) {
	delete(la.dl.byHash, dl.hash)
}

// settle counts dl as done for each of its documents, and tells those
// with nothing left to download.
func (la *Actor) settle(dl *download) {
	for _, wd := range dl.docs {
		doc := wd.ref.Namespace
		la.dl.pending[doc]--
		if la.dl.pending[doc] <= 0 {
			delete(la.dl.pending, doc)
			la.emit(Event{Kind: EventPendingContentReady, Doc: doc})
		}
	}
}

// wantRecord is what the wanted set keeps for one blob (the hash is the
// record's name). The encoding is
//
//	version(1)=1 uvarint(size) uvarint(n <= 16) n × doc
//	doc: namespace(32) author(32) uvarint(len(key)) key uvarint(m <= 8) m × node id(32)
//
// with varints in their shortest form and nothing after the last doc.
type wantRecord struct {
	size uint64
	docs []*wantDoc
}

const wantVersion = 1

func appendWant(b []byte, dl *download) []byte {
	b = append(b, wantVersion)
	b = binary.AppendUvarint(b, dl.size)
	b = binary.AppendUvarint(b, uint64(len(dl.docs)))
	for _, wd := range dl.docs {
		b = append(b, wd.ref.Namespace[:]...)
		b = append(b, wd.ref.Author[:]...)
		b = binary.AppendUvarint(b, uint64(len(wd.ref.Key)))
		b = append(b, wd.ref.Key...)
		b = binary.AppendUvarint(b, uint64(len(wd.providers)))
		for _, id := range wd.providers {
			b = append(b, id[:]...)
		}
	}
	return b
}

// decodeWant decodes a record that must fill b, refusing counts and keys
// beyond their bounds before allocating for them.
func decodeWant(b []byte, maxKeyLen int) (wantRecord, error) {
	var rec wantRecord
	fail := func(what string) (wantRecord, error) {
		return wantRecord{}, fmt.Errorf("%w: wanted-set record: %s", ErrBadRecord, what)
	}
	uv := func() (uint64, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || k != len(binary.AppendUvarint(nil, n)) {
			return 0, false
		}
		b = b[k:]
		return n, true
	}
	if len(b) < 1 || b[0] != wantVersion {
		return fail("unknown version")
	}
	b = b[1:]
	var ok bool
	if rec.size, ok = uv(); !ok || rec.size == 0 {
		return fail("bad size")
	}
	n, ok := uv()
	if !ok || n > maxWantDocs {
		return fail("bad document count")
	}
	for range n {
		if len(b) < 64 {
			return fail("truncated")
		}
		wd := &wantDoc{}
		copy(wd.ref.Namespace[:], b[:32])
		copy(wd.ref.Author[:], b[32:64])
		b = b[64:]
		kl, ok := uv()
		if !ok || kl > uint64(maxKeyLen) || kl > uint64(len(b)) {
			return fail("bad key length")
		}
		wd.ref.Key = append([]byte{}, b[:kl]...)
		b = b[kl:]
		m, ok := uv()
		if !ok || m > maxWantProviders || m*32 > uint64(len(b)) {
			return fail("bad provider count")
		}
		for range m {
			wd.providers = append(wd.providers, endpoint.NodeID(b[:32]))
			b = b[32:]
		}
		rec.docs = append(rec.docs, wd)
	}
	if len(b) != 0 {
		return fail("trailing bytes")
	}
	return rec, nil
}
