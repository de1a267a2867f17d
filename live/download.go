package live

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/uvarint"
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
	pending map[replica.NamespaceID]int
	dropped uint64 // wants refused because the queue was full
	// completed, failed and retried count finished downloads, those
	// given up, and failed attempts that were retried.
	completed, failed, retried uint64
}

// due notes that a delayed download is due at t.
func (q *downloads) due(t time.Time) {
	if q.nextDue.IsZero() || t.Before(q.nextDue) {
		q.nextDue = t
	}
}

func newDownloads() downloads {
	return downloads{
		byHash:  make(map[replica.Hash]*download),
		pending: make(map[replica.NamespaceID]int),
	}
}

// contentWant is content to queue a download for: of an entry the store
// reported (from its sender), or that a reader found missing.
type contentWant struct {
	doc   replica.NamespaceID
	entry replica.SignedEntry
	from  endpoint.NodeID
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
	if la.content.Status(se.Hash, se.Len) == blobs.Complete {
		return true
	}
	w := contentWant{doc: doc, entry: se}
	return la.tryDo(func(s *scheduler) {
		s.wantContent(time.Now(), w.doc, &w.entry, w.from)
		s.pumpDownloads(time.Now())
	})
}

// SetDownloadPolicy stores which entries' content doc downloads. It
// applies to entries that arrive from then on.
func (la *Actor) SetDownloadPolicy(ctx context.Context, doc replica.NamespaceID, p replica.DownloadPolicy) error {
	if err := la.act.SetDownloadPolicy(ctx, doc, p); err != nil {
		return fmt.Errorf("live: set the download policy of %s: %w", doc.Short(), err)
	}
	la.policies.forget(doc)
	return nil
}

// DownloadStats reports the downloader's state.
type DownloadStats struct {
	Queued  int    // wanted blobs not yet fetched or given up
	Running int    // downloads in progress
	Dropped uint64 // wants refused because MaxQueuedDownloads were queued
	// Completed counts blobs fetched and stored, Failed those given up
	// after DownloadRetries attempts (EventContentFailed), Retried the
	// failed attempts that were tried again.
	Completed, Failed, Retried uint64
	// PeerFaults counts providers dropped from a download for sending a
	// chunk group or proof that did not match, another length or more
	// bytes than asked (blobs.PeerFault); Takeovers the pieces a faster
	// provider took over from a slower one.
	PeerFaults, Takeovers uint64
}

// DownloadStats returns the downloader's counters.
func (la *Actor) DownloadStats(ctx context.Context) (DownloadStats, error) {
	return call(ctx, la, func(s *scheduler) DownloadStats {
		return DownloadStats{Queued: len(s.dl.byHash), Running: s.dl.running, Dropped: s.dl.dropped,
			Completed: s.dl.completed, Failed: s.dl.failed, Retried: s.dl.retried,
			PeerFaults: la.peerFaults.Load(), Takeovers: la.takeovers.Load()}
	})
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
			la.sched.dl.pending[wd.ref.Namespace]++
			la.sched.progressWanted(wd.ref.Namespace, dl)
		}
		la.sched.dl.byHash[h] = dl
		la.sched.dl.ready = append(la.sched.dl.ready, dl)
	})
	for _, h := range stale {
		la.content.DeleteWant(h)
	}
	return err
}

// wantContent queues the content of se for doc, learnt from peer from
// (zero when unknown). The shell checked that the content is not held.
func (s *scheduler) wantContent(now time.Time, doc replica.NamespaceID, se *replica.SignedEntry, from endpoint.NodeID) {
	if !s.content || se.IsTombstone() {
		return
	}
	if se.Len > s.maxBlob {
		return // never storable here
	}
	dl := s.dl.byHash[se.Hash]
	if dl == nil {
		if len(s.dl.byHash) >= s.cfg.MaxQueuedDownloads {
			s.dl.dropped++
			return
		}
		dl = &download{hash: se.Hash, size: se.Len}
		s.dl.byHash[se.Hash] = dl
		s.dl.ready = append(s.dl.ready, dl)
	} else if dl.size != se.Len {
		return // another entry claims another length: the first one stands
	}
	changed := false
	i := slices.IndexFunc(dl.docs, func(wd *wantDoc) bool { return wd.ref.Namespace == doc })
	if i < 0 && len(dl.docs) < maxWantDocs {
		dl.docs = append(dl.docs, &wantDoc{ref: blobs.RefOf(doc, se)})
		s.dl.pending[doc]++
		s.progressWanted(doc, dl)
		i, changed = len(dl.docs)-1, true
	}
	if i >= 0 && !from.IsZero() && from != s.self && addProvider(dl.docs[i], from) {
		changed = true
		if dl.state == dlDelayed {
			dl.state, dl.retryAt = dlReady, time.Time{}
			s.dl.ready = append(s.dl.ready, dl)
		}
	}
	if changed {
		s.out = append(s.out, effect{kind: effWant, hash: dl.hash, data: appendWant(nil, dl)})
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
func (s *scheduler) contentAnnounced(now time.Time, doc replica.NamespaceID, from endpoint.NodeID, h replica.Hash) {
	dl := s.dl.byHash[h]
	if dl == nil {
		return
	}
	for _, wd := range dl.docs {
		if wd.ref.Namespace == doc && addProvider(wd, from) && dl.state == dlDelayed {
			dl.state, dl.retryAt = dlReady, time.Time{}
			s.dl.ready = append(s.dl.ready, dl)
		}
	}
	s.pumpDownloads(now)
}

// pumpDownloads starts queued downloads while MaxDownloads allows, and
// moves delayed ones whose back-off has passed to the queue.
func (s *scheduler) pumpDownloads(now time.Time) {
	if !s.content {
		return
	}
	if !s.dl.nextDue.IsZero() && now.Before(s.dl.nextDue) {
		s.schedule(s.dl.nextDue) // the timer may have fired for something else
	} else if !s.dl.nextDue.IsZero() {
		s.dl.nextDue = time.Time{}
		keep := s.dl.delayed[:0]
		for _, dl := range s.dl.delayed {
			switch {
			case dl.state != dlDelayed || s.dl.byHash[dl.hash] != dl:
			case now.Before(dl.retryAt):
				keep = append(keep, dl)
				s.dl.due(dl.retryAt)
			default:
				dl.state = dlReady
				s.dl.ready = append(s.dl.ready, dl)
			}
		}
		clear(s.dl.delayed[len(keep):])
		s.dl.delayed = keep
		if !s.dl.nextDue.IsZero() {
			s.schedule(s.dl.nextDue)
		}
	}
	for s.dl.running < s.cfg.MaxDownloads && len(s.dl.ready) > 0 {
		dl := s.dl.ready[0]
		s.dl.ready[0] = nil
		s.dl.ready = s.dl.ready[1:]
		if dl.state != dlReady || s.dl.byHash[dl.hash] != dl {
			continue // queued twice, or finished meanwhile
		}
		dl.state = dlRunning
		s.dl.running++
		s.progressStarted(dl)
		s.out = append(s.out, effect{kind: effFetch, dl: dl, cands: s.candidates(dl), refs: refsOf(dl)})
	}
}

func refsOf(dl *download) []blobs.Ref {
	refs := make([]blobs.Ref, len(dl.docs))
	for i, wd := range dl.docs {
		refs[i] = wd.ref
	}
	return refs
}

// candidate is a peer to fetch from and the entry to present to it.
type candidate struct {
	addr endpoint.NodeAddr
	ref  blobs.Ref
}

// candidates lists whom to ask for dl, in order: each document's sender
// and announcers, then the document's other neighbours.
func (s *scheduler) candidates(dl *download) []candidate {
	var out []candidate
	seen := make(map[endpoint.NodeID]bool)
	add := func(addr endpoint.NodeAddr, ref blobs.Ref) {
		if seen[addr.ID] || addr.ID == s.self || addr.ID.IsZero() || len(out) >= maxCandidates {
			return
		}
		seen[addr.ID] = true
		out = append(out, candidate{addr, ref})
	}
	for _, wd := range dl.docs {
		d := s.docs[wd.ref.Namespace]
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
		d := s.docs[wd.ref.Namespace]
		if d == nil {
			continue
		}
		for _, m := range d.members {
			add(m, wd.ref)
		}
		for _, p := range d.peers {
			add(p.addr, wd.ref)
		}
	}
	return out
}

// runDownload fetches dl from its candidates, several at once
// (blobs.Download), and the peers each document last synced with (a
// document not open for sync has no neighbours). It runs on its own
// goroutine and touches only what it was given (refs is a copy of dl's
// documents) and the stores.
func (la *Actor) runDownload(dl *download, cands []candidate, refs []blobs.Ref) (endpoint.NodeID, error) {
	provs := la.providers(cands, refs)
	if len(provs) == 0 {
		return endpoint.NodeID{}, fmt.Errorf("live: download %x…: %w", dl.hash[:5], ErrNoProviders)
	}
	ctx, cancel := context.WithTimeout(la.ctx, la.cfg.DownloadTimeout)
	defer cancel()
	// Peers that announce the content, join the swarm or sync while the
	// download runs join it too.
	more := func() []blobs.Provider {
		cands, err := call(ctx, la, func(s *scheduler) []candidate {
			if cur := s.dl.byHash[dl.hash]; cur != nil {
				return s.candidates(cur)
			}
			return nil
		})
		if err != nil {
			return nil
		}
		return la.providers(cands, refs)
	}
	res, err := blobs.Download(ctx, la.ep, la.content, dl.hash, dl.size, provs, blobs.DownloadConfig{
		MaxProviders: la.cfg.DownloadProviders, IdleTimeout: la.cfg.DownloadIdleTimeout, More: more})
	for _, p := range res.Providers {
		if blobs.PeerFault(p.Err) {
			la.peerFaults.Add(1)
		}
	}
	la.takeovers.Add(uint64(res.Stolen))
	if err != nil {
		if la.ctx.Err() != nil {
			return endpoint.NodeID{}, la.ctx.Err()
		}
		return endpoint.NodeID{}, err
	}
	if err := la.content.DeleteWant(dl.hash); err != nil {
		return res.Top(), err
	}
	return res.Top(), nil
}

// providers turns the scheduler's candidates into providers to fetch
// from: the candidates, then the peers each document of refs last synced
// with, each with the address its last session recorded when the
// candidate came without one. It touches only the store actor.
func (la *Actor) providers(cands []candidate, refs []blobs.Ref) []blobs.Provider {
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
	provs := make([]blobs.Provider, 0, len(cands))
	for _, c := range cands {
		addr := c.addr
		if len(addr.Addrs) == 0 {
			ctx, cancel := la.storeCtx()
			if a, ok := la.storedAddr(ctx, addr.ID); ok {
				addr = a
			}
			cancel()
		}
		provs = append(provs, blobs.Provider{Addr: addr, Ref: c.ref})
	}
	return provs
}

// ContentProviders lists the peers to ask for the content of se in doc,
// in the order a download of it would ask them: the peers remembered for
// its download if one is queued (the entry's sender, announcers of the
// content), the document's neighbours, and the peers it last synced with.
// The list may name peers that do not hold the content.
func (la *Actor) ContentProviders(ctx context.Context, doc replica.NamespaceID, se replica.SignedEntry) ([]blobs.Provider, error) {
	if se.IsTombstone() {
		return nil, nil
	}
	cands, err := call(ctx, la, func(s *scheduler) []candidate {
		if dl := s.dl.byHash[se.Hash]; dl != nil {
			return s.candidates(dl)
		}
		return s.candidates(&download{hash: se.Hash, size: se.Len, docs: []*wantDoc{{ref: blobs.RefOf(doc, &se)}}})
	})
	if err != nil {
		return nil, err
	}
	return la.providers(cands, []blobs.Ref{blobs.RefOf(doc, &se)}), nil
}

// storedAddr returns the address a peer was last reached on, as the
// sessions remember it.
func (la *Actor) storedAddr(ctx context.Context, id endpoint.NodeID) (endpoint.NodeAddr, bool) {
	if b, err := la.act.Meta(ctx, peerAddrKey(id)); err == nil {
		var stored endpoint.NodeAddr
		if stored.UnmarshalBinary(b) == nil && stored.ID == id {
			return stored, true
		}
	}
	return endpoint.NodeAddr{}, false
}

// downloaded takes the end of a download attempt: served by from, or
// failed with err (cancelled: the actor is closing).
func (s *scheduler) downloaded(now time.Time, dl *download, from endpoint.NodeID, err error, cancelled bool) {
	s.dl.running--
	s.progressStopped(dl)
	if s.dl.byHash[dl.hash] != dl {
		s.pumpDownloads(now)
		return
	}
	switch {
	case err == nil:
		s.dl.completed++
		s.progressSettled(dl, true)
		delete(s.dl.byHash, dl.hash)
		for _, wd := range dl.docs {
			doc := wd.ref.Namespace
			if s.docs[doc] != nil {
				s.out = append(s.out, effect{kind: effContentReady, doc: doc, hash: dl.hash})
			}
			s.emit(Event{Kind: EventContentReady, Doc: doc, Hash: dl.hash, Peer: from})
		}
		s.settle(dl)
	case cancelled:
	case dl.fails+1 < s.cfg.DownloadRetries:
		s.dl.retried++
		dl.fails++
		dl.state = dlDelayed
		dl.retryAt = now.Add(Backoff(dl.fails, s.cfg.RetryBase, s.cfg.RetryMax, s.jitter()))
		s.dl.delayed = append(s.dl.delayed, dl)
		s.dl.due(dl.retryAt)
		s.schedule(dl.retryAt)
	default:
		// Given up: the content stays missing (or incomplete) until a
		// reader asks for it again (WantContent) or a new entry names it.
		s.dl.failed++
		s.progressSettled(dl, false)
		delete(s.dl.byHash, dl.hash)
		s.out = append(s.out, effect{kind: effWant, hash: dl.hash})
		for _, wd := range dl.docs {
			s.emit(Event{Kind: EventContentFailed, Doc: wd.ref.Namespace, Hash: dl.hash, Err: err})
		}
		s.settle(dl)
	}
	s.pumpDownloads(now)
}

// settle counts dl as done for each of its documents, and tells those
// with nothing left to download.
func (s *scheduler) settle(dl *download) {
	for _, wd := range dl.docs {
		doc := wd.ref.Namespace
		s.dl.pending[doc]--
		if s.dl.pending[doc] <= 0 {
			delete(s.dl.pending, doc)
			s.emit(Event{Kind: EventPendingContentReady, Doc: doc})
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
		n, k, err := uvarint.Decode(b)
		if err != nil {
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
