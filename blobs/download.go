package blobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// Provider is a peer that may hold a blob, and the entry to present to it:
// each peer may know the content through another document.
type Provider struct {
	Addr endpoint.NodeAddr
	Ref  Ref
}

// DownloadConfig tunes Download. A zero field takes its default.
type DownloadConfig struct {
	// MaxProviders bounds the peers one download fetches from at once.
	// Default 4.
	MaxProviders int
	// MinPiece and MaxPiece bound the bytes asked of a peer in one
	// request. A peer is asked for what it sends in about PieceTime at
	// the rate it has shown, within these bounds. Defaults 256 KiB and
	// 32 MiB.
	MinPiece, MaxPiece uint64
	// PieceTime is how long a request should take at the peer's rate.
	// Default 250 ms.
	PieceTime time.Duration
	// IdleTimeout fails a request that receives nothing for this long.
	// Default DefaultFetchIdleTimeout.
	IdleTimeout time.Duration
	// More, when set, is asked for providers learnt while the download
	// runs (peers that announced the content since it began, say): at most
	// every MoreInterval, while fewer than MaxProviders peers are fetching,
	// and once more before the download gives up. Peers already tried are
	// skipped. It is called from the download's goroutine.
	More func() []Provider
	// MoreInterval is the least time between two calls of More. Default
	// 1 s.
	MoreInterval time.Duration
}

func (c DownloadConfig) withDefaults() DownloadConfig {
	if c.MaxProviders <= 0 {
		c.MaxProviders = 4
	}
	if c.MinPiece == 0 {
		c.MinPiece = 256 << 10
	}
	if c.MaxPiece < c.MinPiece {
		c.MaxPiece = max(c.MinPiece, 32<<20)
	}
	if c.PieceTime <= 0 {
		c.PieceTime = 250 * time.Millisecond
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultFetchIdleTimeout
	}
	if c.MoreInterval <= 0 {
		c.MoreInterval = time.Second
	}
	return c
}

// ProviderResult is what one peer did for a download.
type ProviderResult struct {
	ID       endpoint.NodeID
	Received uint64 // bytes received, content and proofs
	Requests int
	// Err is why the peer was dropped: nil when it served until the end.
	// PeerFault(Err) marks a peer that sent what the content is not.
	Err error
}

// DownloadResult says how a download went.
type DownloadResult struct {
	Received  uint64 // bytes received from all peers
	Providers []ProviderResult
	// Stolen counts requests whose rest was handed from a slow peer to a
	// faster one.
	Stolen int
}

// Top is the provider that sent the most.
func (r *DownloadResult) Top() endpoint.NodeID {
	var top ProviderResult
	for _, p := range r.Providers {
		if p.Received > top.Received {
			top = p
		}
	}
	return top.ID
}

// Download fetches the blob with hash h and length size from providers
// into store, from up to MaxProviders of them at once, resuming with the
// chunk groups an earlier fetch left missing. The missing groups are cut
// into pieces sized to each peer's measured rate; a peer asks for the
// next piece when it has sent the last, so faster peers take more. When
// none is left, an idle peer takes over the second half of the piece of a
// peer that would take longer to finish it. A peer that fails is dropped
// and the groups it did not send return to the pool; one that sends a
// group or proof that does not match is caught within that group, and the
// next provider in the list takes its place. Every group is checked before
// it is written.
//
// It returns nil once the blob is stored (at once if it already was), and
// otherwise the errors of the providers it tried.
func Download(ctx context.Context, ep *endpoint.Endpoint, store *Store, h replica.Hash, size uint64, providers []Provider, cfg DownloadConfig) (DownloadResult, error) {
	cfg = cfg.withDefaults()
	var res DownloadResult
	fail := func(err error) (DownloadResult, error) {
		return res, fmt.Errorf("blobs: download %x…: %w", h[:5], err)
	}
	if size == 0 || h == replica.EmptyHash {
		return fail(fmt.Errorf("%w: a tombstone has no content", ErrMalformed))
	}
	if store.Status(h, size) == Complete {
		return res, nil
	}
	if len(providers) == 0 {
		return fail(ErrNoProviders)
	}
	p, err := store.BeginFetch(h, size)
	if err != nil {
		return fail(err)
	}
	defer p.Close() // keeps what is held unless finished
	d := &download{cfg: cfg, p: p, ep: ep, pool: p.Missing(), changed: make(chan struct{}), tried: make(map[endpoint.NodeID]bool)}
	d.results = make([]ProviderResult, 0, len(providers))
	d.run(ctx, providers)
	res.Providers, res.Stolen = d.results, d.stolen
	for _, r := range res.Providers {
		res.Received += r.Received
	}
	if !p.Complete() {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		var errs []error
		for _, r := range res.Providers {
			if r.Err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.ID.Short(), r.Err))
			}
		}
		if len(errs) == 0 {
			errs = append(errs, ErrNoProviders)
		}
		return fail(errors.Join(errs...))
	}
	if err := p.Finish(); err != nil {
		return fail(err)
	}
	return res, nil
}

// run starts workers for providers and for those More adds, up to
// MaxProviders at once, and returns once every worker has stopped and
// More has nothing new.
func (d *download) run(ctx context.Context, providers []Provider) {
	var wg sync.WaitGroup
	defer wg.Wait()
	// add queues the providers not tried yet and starts workers for them,
	// MaxProviders at most in all.
	add := func(provs []Provider) {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, p := range provs {
			if !d.tried[p.Addr.ID] {
				d.tried[p.Addr.ID] = true
				d.pending = append(d.pending, p)
			}
		}
		// A worker busy with its provider takes a pending one only once
		// that one fails: one new worker per pending provider.
		for d.workers < d.cfg.MaxProviders && d.starting < len(d.pending) {
			d.workers++
			d.starting++
			wg.Go(func() { d.work(ctx) })
		}
	}
	add(providers)
	var next time.Time
	timer := time.NewTimer(d.cfg.MoreInterval)
	defer timer.Stop()
	for {
		d.mu.Lock()
		workers, changed := d.workers, d.changed
		d.mu.Unlock()
		done := d.p.Complete() || ctx.Err() != nil
		if done && workers == 0 {
			return
		}
		// With nobody fetching, More is asked at once: it is the last
		// chance before the download gives up.
		if !done && workers < d.cfg.MaxProviders && d.cfg.More != nil && (workers == 0 || !time.Now().Before(next)) {
			next = time.Now().Add(d.cfg.MoreInterval)
			add(d.cfg.More())
			d.mu.Lock()
			workers = d.workers
			d.mu.Unlock()
		}
		if workers == 0 {
			return // nobody left to ask
		}
		timer.Reset(d.cfg.MoreInterval)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
		}
	}
}

// ErrNoProviders: no peer was left to ask for the content.
var ErrNoProviders = errors.New("blobs: no peer to fetch from")

// download is the state the workers of one Download share.
type download struct {
	cfg DownloadConfig
	p   *Partial
	ep  *endpoint.Endpoint

	mu       sync.Mutex
	pool     []Range // groups no one is fetching, in order
	pending  []Provider
	tried    map[endpoint.NodeID]bool // every provider queued
	workers  int                      // workers running
	starting int                      // workers that have not taken a provider yet
	inflight []*piece
	results  []ProviderResult
	stolen   int
	changed  chan struct{} // closed and replaced when a piece ends
}

// piece is a range one worker is fetching. The worker reads groups from
// start on; next is the group it reads now, and stop where it must stop:
// lowered when another worker takes over the rest.
type piece struct {
	start, end uint64
	next, stop atomic.Uint64
	rate       float64 // of its worker, bytes per second; 0 before its first piece
}

// work fetches pieces from one provider after another until no group is
// left to fetch or no provider is left.
func (d *download) work(ctx context.Context) {
	defer func() {
		d.mu.Lock()
		d.workers--
		close(d.changed)
		d.changed = make(chan struct{})
		d.mu.Unlock()
	}()
	d.mu.Lock()
	d.starting--
	d.mu.Unlock()
	for ctx.Err() == nil {
		d.mu.Lock()
		if len(d.pending) == 0 || d.p.Complete() {
			d.mu.Unlock()
			return
		}
		prov := d.pending[0]
		d.pending = d.pending[1:]
		d.results = append(d.results, ProviderResult{ID: prov.Addr.ID})
		idx := len(d.results) - 1
		d.mu.Unlock()
		if err := d.serveFrom(ctx, prov, idx); err == nil {
			return // nothing left to fetch
		}
	}
}

// serveFrom fetches pieces from one provider until nothing is left (nil)
// or the provider fails (its error, recorded in results[idx]).
func (d *download) serveFrom(ctx context.Context, prov Provider, idx int) error {
	var rate float64
	for {
		pc, changed := d.take(rate)
		if pc == nil && changed == nil {
			return nil
		}
		if pc == nil {
			// Others are still fetching: wait for groups to come back to
			// the pool, or for a piece worth taking over.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-changed:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		start := time.Now()
		rs := d.p.MissingIn(pc.start, pc.end)
		var n uint64
		var err error
		if len(rs) > 0 {
			n, err = fetchRanges(ctx, d.ep, prov.Addr, d.p, prov.Ref, rs[:min(len(rs), DefaultMaxRanges)], d.cfg.IdleTimeout, &pc.stop, &pc.next)
		}
		if errors.Is(err, errStopped) {
			err = nil
		}
		if el := time.Since(start); n > 0 && el > 0 {
			r := float64(n) / el.Seconds()
			if rate == 0 {
				rate = r
			} else {
				rate = 0.5*rate + 0.5*r
			}
		}
		d.mu.Lock()
		d.results[idx].Received += n
		d.results[idx].Requests++
		d.drop(pc)
		if err != nil || len(rs) > DefaultMaxRanges {
			// What the piece did not get goes back to the pool.
			d.pool = mergeRanges(append(d.pool, d.p.MissingIn(pc.start, pc.stop.Load())...))
		}
		close(d.changed)
		d.changed = make(chan struct{})
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			d.results[idx].Err = err
		}
		d.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// take hands a worker fetching at rate (0: not known yet) its next piece:
// from the pool, or else the second half of the piece of the worker that
// would take longest to finish it. With nothing to take it returns a
// channel closed at the next change, or nil when no piece is in flight
// either: the download is over.
func (d *download) take(rate float64) (*piece, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	gs := d.p.tree.groupSize()
	want := d.cfg.MinPiece
	if rate > 0 {
		want = uint64(rate * d.cfg.PieceTime.Seconds())
	}
	groups := max(1, min(max(want, d.cfg.MinPiece), d.cfg.MaxPiece)/gs)
	if len(d.pool) > 0 {
		rg := &d.pool[0]
		end := min(rg.End, rg.Start+groups)
		pc := d.newPiece(rg.Start, end, rate)
		rg.Start = end
		if rg.Start == rg.End {
			d.pool = d.pool[1:]
		}
		return pc, nil
	}
	if len(d.inflight) == 0 {
		return nil, nil
	}
	// Endgame: take over half of the slowest remainder.
	var victim *piece
	var worst float64
	for _, pc := range d.inflight {
		next, stop := pc.next.Load(), pc.stop.Load()
		if next < pc.start {
			next = pc.start
		}
		if stop <= next+1 {
			continue
		}
		left := float64((stop - next) * gs)
		eta := left / max(pc.rate, 1)
		if pc.rate == 0 {
			eta = left // unknown rate: assume slow
		}
		if eta > worst {
			victim, worst = pc, eta
		}
	}
	// Worth it only if the victim would still be busy for a while.
	if victim == nil || worst < 0.05 || (rate > 0 && worst < 2*float64(gs)/rate) {
		return nil, d.changed
	}
	next, stop := max(victim.next.Load(), victim.start), victim.stop.Load()
	mid := next + (stop-next+1)/2
	victim.stop.Store(mid)
	d.stolen++
	return d.newPiece(mid, stop, rate), nil
}

func (d *download) newPiece(start, end uint64, rate float64) *piece {
	pc := &piece{start: start, end: end, rate: rate}
	pc.next.Store(start)
	pc.stop.Store(end)
	d.inflight = append(d.inflight, pc)
	return pc
}

// drop removes a finished piece from the ones in flight. Called with mu
// held.
func (d *download) drop(pc *piece) {
	for i, q := range d.inflight {
		if q == pc {
			d.inflight = append(d.inflight[:i], d.inflight[i+1:]...)
			return
		}
	}
}

// mergeRanges sorts ranges and merges those that meet.
func mergeRanges(rs []Range) []Range {
	if len(rs) < 2 {
		return rs
	}
	for i := 1; i < len(rs); i++ { // insertion sort: the pool is short
		for j := i; j > 0 && rs[j].Start < rs[j-1].Start; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.Start <= last.End {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}
