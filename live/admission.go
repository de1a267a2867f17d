package live

import (
	"context"
	"time"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/internal/admission"
)

// slot is one stream a Server handles, and its session once served.
type slot struct {
	peer   endpoint.NodeID
	cancel context.CancelCauseFunc
	// activity hears of every frame the session reads or writes and every
	// batch it stores; the admission reads it to find the stalest slot.
	activity admission.Activity
	key      sessionKey // once served; guarded by Server.mu
}

func newSlot(peer endpoint.NodeID, cancel context.CancelCauseFunc) *slot {
	sl := &slot{peer: peer, cancel: cancel}
	sl.activity.Begin(time.Now())
	return sl
}

func (sl *slot) SlotPeer() endpoint.NodeID         { return sl.peer }
func (sl *slot) SlotActivity() *admission.Activity { return &sl.activity }
