package live

import (
	"errors"
	"fmt"
	"time"

	"github.com/docsnode/docsnode/actor"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

// Role is the side a node plays in a session.
type Role uint8

const (
	// Initiator dialled, sent Init, and drives the rounds.
	Initiator Role = iota + 1
	// Acceptor was dialled and answers.
	Acceptor
)

func (r Role) String() string {
	switch r {
	case Initiator:
		return "initiator"
	case Acceptor:
		return "acceptor"
	}
	return "role(?)"
}

// Refused counts received entries that failed validation, by reason. They
// are never stored.
type Refused struct {
	WrongNamespace  int // replica.ErrWrongNamespace
	BadSignature    int // replica.ErrBadSignature
	FutureTimestamp int // replica.ErrFutureTimestamp
	Malformed       int // key too long, empty key, malformed tombstone
}

// Total is the number of refused entries.
func (r Refused) Total() int {
	return r.WrongNamespace + r.BadSignature + r.FutureTimestamp + r.Malformed
}

func (r *Refused) add(o Refused) {
	r.WrongNamespace += o.WrongNamespace
	r.BadSignature += o.BadSignature
	r.FutureTimestamp += o.FutureTimestamp
	r.Malformed += o.Malformed
}

// count records one validation failure.
func (r *Refused) count(err error) {
	switch {
	case errors.Is(err, replica.ErrWrongNamespace):
		r.WrongNamespace++
	case errors.Is(err, replica.ErrBadSignature):
		r.BadSignature++
	case errors.Is(err, replica.ErrFutureTimestamp):
		r.FutureTimestamp++
	default:
		r.Malformed++
	}
}

// Outcome is what one session did. Both sides return one; the counts are
// this side's.
type Outcome struct {
	Role      Role
	Peer      endpoint.NodeID
	Namespace replica.NamespaceID
	// Served is false on an acceptor that refused the session (unknown
	// document, the accept policy, the session limit) or that never got
	// a valid Init.
	Served bool

	Rounds int // reconciliation messages this side answered or sent

	Sent int // entries sent in Entries frames
	// SendSkipped counts ids this side had to send whose entries were no
	// longer stored when their turn came: an entry received meanwhile
	// superseded or deleted them. Sent + SendSkipped is the difference the
	// rounds found (or the ids the peer asked for).
	SendSkipped int
	Wanted      int     // ids the initiator asked for in Want frames (sent or received)
	Received    int     // entries received in Entries frames
	Inserted    int     // received entries stored
	Stale       int     // received valid entries the store already held or that lost to later ones
	Refused     Refused // received entries that failed validation

	BytesSent     int64 // frame bytes written
	BytesReceived int64 // frame bytes read

	Start time.Time
	End   time.Time
	// ReconcileTime runs from Start until the rounds ended (the acceptor
	// sees their end when it answers the last one).
	ReconcileTime time.Duration
	// TransferTime runs from the first Entries frame sent or received
	// until the last received entry was stored and the last Entries frame
	// was written. It overlaps ReconcileTime: entries flow while rounds
	// continue.
	TransferTime time.Duration

	// Local and Remote are the two sets' summaries after both sides
	// finished inserting; Equal reports that they match. They are set
	// only when the session completed.
	Local, Remote actor.SetSummary
	Equal         bool
}

// Duration is End - Start.
func (o Outcome) Duration() time.Duration { return o.End.Sub(o.Start) }

func (o Outcome) String() string {
	return fmt.Sprintf("%s %s with %s: %d rounds, sent %d, received %d (inserted %d, stale %d, refused %d), %d B out, %d B in, %v, equal=%v",
		o.Role, o.Namespace.Short(), o.Peer.Short(), o.Rounds, o.Sent, o.Received, o.Inserted, o.Stale,
		o.Refused.Total(), o.BytesSent, o.BytesReceived, o.Duration().Round(time.Millisecond), o.Equal)
}
