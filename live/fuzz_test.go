package live

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/docsnode/docsnode/actor"
)

// FuzzReadFrame reads a byte stream frame by frame, as a session's reader
// does: every failure must be a framing error, and every frame accepted
// must re-encode to the same bytes' worth.
func FuzzReadFrame(f *testing.F) {
	var stream []byte
	for _, m := range sampleMessages(f) {
		stream = appendFrame(stream, m)
		f.Add(appendFrame(nil, m))
	}
	f.Add(stream)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	padded := paddedEntriesFrame(f)
	f.Add(append(binary.AppendUvarint(nil, uint64(len(padded))), padded...))
	// A frame length as a padded varint.
	f.Add([]byte{0x81, 0x00, byte(MsgDone)})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		var buf []byte
		for {
			m, next, err := readFrame(r, 1<<16, 4096, buf)
			buf = next
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("error outside the framing errors: %v", err)
				}
				return
			}
			// Every frame has one encoding.
			if !bytes.Equal(appendFrame(nil, m)[uvarintLen(uint64(len(next))):], next) {
				t.Fatalf("%v: re-encodes to other bytes", m.Type)
			}
		}
	})
}

// FuzzMachine feeds decoded frames from arbitrary bytes to both roles'
// state machines, answering their actions as a shell would. Nothing may
// panic, every error must be a session error, and the counters must stay
// consistent. It drives a state machine rather than a decoder, so it has
// no round trip of its own; the frames it reads are FuzzReadFrame's.
func FuzzMachine(f *testing.F) {
	var stream []byte
	for _, m := range sampleMessages(f) {
		stream = appendFrame(stream, m)
	}
	f.Add(stream, true)
	f.Add(stream[1:], false)
	f.Fuzz(func(t *testing.T, b []byte, acceptor bool) {
		role := Initiator
		if acceptor {
			role = Acceptor
		}
		m := testMachine(role)
		pending := m.start()
		r := bufio.NewReader(bytes.NewReader(b))
		for step := 0; step < 1000; step++ {
			// Answer the actions the way the shell would.
			for len(pending) > 0 {
				a := pending[0]
				pending = pending[1:]
				var more []action
				var err error
				switch a.kind {
				case actInitiate:
					more = m.initiated([]byte{0x61})
				case actAccept:
					m.accepted()
				case actReconcile:
					// A round with no differences; the initiator is done
					// on odd-length messages.
					res := actor.RoundResult{Reply: []byte{0x61}}
					if role == Initiator && len(a.recon)%2 == 1 {
						res.Reply = nil
					}
					more, err = m.reconciled(res)
				case actWant, actSendEntries:
					more, err = m.produced(len(a.ids)/2, len(a.ids)-len(a.ids)/2)
				case actVerify:
					err = m.verified(Refused{BadSignature: len(a.entries) / 2})
					if err == nil {
						more = m.stored(1, len(a.entries)-len(a.entries)/2, 0)
					}
				case actSummarize:
					more = m.summarized(actor.SetSummary{Count: 1})
				case actClose:
					more = m.closedWrite()
				}
				if err != nil {
					checkSessionError(t, err)
					return
				}
				pending = append(pending, more...)
			}
			if m.finished || !m.canRead() {
				return
			}
			msg, _, err := readFrame(r, 1<<16, 4096, nil)
			if err == io.EOF {
				if _, err := m.endOfStream(); err != nil {
					checkSessionError(t, err)
				}
				return
			}
			if err != nil {
				return
			}
			pending, err = m.frame(msg, frameLen(msg))
			if err != nil {
				checkSessionError(t, err)
				return
			}
			if m.pipe < 0 || m.work < 0 || m.pipe > pipelineDepth || m.out.Received < 0 {
				t.Fatalf("counters out of range: pipe %d work %d", m.pipe, m.work)
			}
		}
	})
}

func checkSessionError(t *testing.T, err error) {
	t.Helper()
	if _, ok := errors.AsType[*AbortError](err); ok {
		return
	}
	for _, e := range []error{ErrProtocol, ErrVersion, ErrTooManyRounds, ErrTooManyBytes, ErrHostile} {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("unexpected error: %v", err)
}
