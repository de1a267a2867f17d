package api

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/engine"
)

// eventLog numbers one document's events and keeps the last few for
// clients that reconnect. A pump goroutine fills it from an engine
// subscription taken on the first stream request; streams read from it by
// id, each at its own pace, so a slow client never holds up the pump or
// another client: once what it has not read leaves the buffer, it gets a
// lagged event instead.
type eventLog struct {
	mu      sync.Mutex
	ring    []wire.Event // ring[(first+i)%cap] holds id oldest+i
	first   int
	base    uint64        // the first id this log gave
	next    uint64        // id of the next event
	changed chan struct{} // closed and replaced when the log changes
	sub     *engine.Subscription
	ended   bool // the subscription closed (the document was dropped)
}

// newEventLog returns a log whose ids start at base. The server takes the
// time in microseconds: the ids of a daemon that restarted are then above
// any id of its earlier runs, so that an id from an earlier run is told
// apart (it is below base) rather than taken for one of this run's.
func newEventLog(size int, base uint64) *eventLog {
	if base == 0 {
		base = 1
	}
	return &eventLog{ring: make([]wire.Event, 0, size), base: base, next: base, changed: make(chan struct{})}
}

// oldest is the id of the oldest event held. Under mu.
func (l *eventLog) oldest() uint64 { return l.next - uint64(len(l.ring)) }

func (l *eventLog) broadcast() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *eventLog) append(ev wire.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev.ID = l.next
	l.next++
	if len(l.ring) < cap(l.ring) {
		l.ring = append(l.ring, ev)
	} else {
		l.ring[l.first] = ev
		l.first = (l.first + 1) % cap(l.ring)
	}
	l.broadcast()
}

// read returns the events from id from on, or a lagged event first when
// some of them are gone, and the channel that says when there is more.
func (l *eventLog) read(doc string, from uint64) (evs []wire.Event, next uint64, changed <-chan struct{}, ended bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from < l.base || from > l.next {
		// An id this log never gave: one of an earlier run of the
		// daemon, or garbage. What happened since is unknown, so the
		// client hears that it lost events, without a count, and goes
		// on from the oldest event held.
		evs = append(evs, wire.Event{ID: l.oldest() - 1, Kind: wire.EventLagged, Doc: doc})
		from = l.oldest()
	}
	if o := l.oldest(); from < o {
		evs = append(evs, wire.Event{ID: o - 1, Kind: wire.EventLagged, Doc: doc, Missed: o - from})
		from = o
	}
	for id := from; id < l.next; id++ {
		evs = append(evs, l.ring[(l.first+int(id-l.oldest()))%cap(l.ring)])
	}
	return evs, l.next, l.changed, l.ended
}

func (l *eventLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sub != nil {
		l.sub.Close()
	}
}

// follow returns the document's log, subscribing to its events when no
// subscription feeds the log.
func (s *Server) follow(doc *engine.Doc) (*eventLog, error) {
	l, _, err := s.feed(doc.ID(), nil, func() (*engine.Subscription, error) { return doc.Subscribe(s.ctx) })
	return l, err
}

// adopt makes sub feed the document's log, unless a subscription already
// does (sub is then closed). It returns the id of the log's last event:
// the events sub brings come after it.
func (s *Server) adopt(id engine.NamespaceID, sub *engine.Subscription) (uint64, error) {
	_, after, err := s.feed(id, sub, nil)
	if err != nil {
		sub.Close()
		return 0, err
	}
	return after, nil
}

// feed returns the document's log, creating it, and makes adopted (or,
// when nil, a subscription from subscribe) feed it when none does. It
// also returns the id of the log's last event at that point.
func (s *Server) feed(id engine.NamespaceID, adopted *engine.Subscription, subscribe func() (*engine.Subscription, error)) (*eventLog, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ctx.Err(); err != nil {
		return nil, 0, &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Message: "the server is closing"}
	}
	l := s.logs[id]
	if l == nil {
		l = newEventLog(s.cfg.EventReplay, uint64(time.Now().UnixMicro()))
		s.logs[id] = l
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sub != nil {
		if adopted != nil {
			adopted.Close() // one subscription feeds the log already
		}
		return l, l.next - 1, nil
	}
	sub := adopted
	if sub == nil {
		var err error
		if sub, err = subscribe(); err != nil {
			delete(s.logs, id)
			return nil, 0, err
		}
	}
	l.sub = sub
	s.wg.Go(func() { s.pump(id, l, sub) })
	return l, l.next - 1, nil
}

// pump feeds the log from the subscription until it closes (the document
// was dropped or left with its subscriptions closed, or the engine or
// the server closed). The log is then forgotten: the streams on it end,
// and a later stream of the document starts a new log, whose ids, taken
// from the clock, are above this one's.
func (s *Server) pump(id engine.NamespaceID, l *eventLog, sub *engine.Subscription) {
	for ev := range sub.C() {
		l.append(eventJSON(&ev))
	}
	s.mu.Lock()
	if s.logs[id] == l {
		delete(s.logs, id)
	}
	s.mu.Unlock()
	l.mu.Lock()
	l.sub, l.ended = nil, true
	l.broadcast()
	l.mu.Unlock()
}

func eventJSON(ev *engine.Event) wire.Event {
	out := wire.Event{Kind: ev.Kind.String(), Doc: ev.Doc.String()}
	switch ev.Kind {
	case engine.EventInsertLocal, engine.EventInsertRemote:
		e := entryJSON(&ev.Entry)
		out.Entry = &e
		if ev.Kind == engine.EventInsertRemote {
			out.Peer = ev.Peer.String()
			out.Content = contentStatus(ev.ContentStatus)
		}
	case engine.EventNeighborUp, engine.EventNeighborDown:
		out.Peer = ev.Peer.String()
	case engine.EventSyncFinished:
		out.Peer = ev.Peer.String()
		if ev.Err != nil {
			out.Error = ev.Err.Error()
		}
	case engine.EventSyncProgress:
		out.Peer = ev.Peer.String()
		out.Expected, out.Received = ev.Outcome.Wanted, ev.Outcome.Received
	case engine.EventLagged:
		out.Missed = ev.Missed
	case engine.EventContentProgress:
		d := downloadsJSON(ev.Downloads)
		out.Downloads = &d
	case engine.EventContentReady, engine.EventContentFailed:
		out.Hash = hex.EncodeToString(ev.Hash[:])
		if !ev.Peer.IsZero() {
			out.Peer = ev.Peer.String()
		}
		if ev.Err != nil {
			out.Error = ev.Err.Error()
		}
	}
	return out
}

func contentStatus(c engine.ContentStatus) string {
	switch c {
	case engine.ContentComplete:
		return "complete"
	case engine.ContentIncomplete:
		return "incomplete"
	}
	return "missing"
}

// events streams the document's events as Server-Sent Events. Without
// Last-Event-ID (header, or last_event_id= for clients that cannot set
// headers) the stream starts with the next event.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	lastID, resume := r.Header.Get("Last-Event-ID"), false
	if lastID == "" {
		lastID = r.URL.Query().Get("last_event_id")
	}
	var from uint64
	if lastID != "" {
		n, err := strconv.ParseUint(lastID, 10, 64)
		if err != nil {
			return badRequest(wire.CodeBadRequest, "Last-Event-ID %q is not an event id", lastID)
		}
		from, resume = n+1, true
	}
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	l, err := s.follow(d)
	if err != nil {
		return err
	}
	if !resume {
		l.mu.Lock()
		from = l.next
		l.mu.Unlock()
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	doc := d.ID().String()
	for {
		evs, next, changed, ended := l.read(doc, from)
		from = next
		for _, ev := range evs {
			b, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Kind, b); err != nil {
				return nil // the client went away
			}
		}
		if len(evs) > 0 {
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
		if ended {
			return nil
		}
		select {
		case <-changed:
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		case <-r.Context().Done():
			return nil
		case <-s.ctx.Done():
			return nil
		}
	}
}
