package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// alertNoApplicationProtocol is TLS alert 120. QUIC carries a TLS alert as
// transport error 0x100 + alert (RFC 9001, section 4.8).
const alertNoApplicationProtocol = 0x100 + 120

// dialAddrs connects to id over addrs, "happy eyeballs" style: addresses
// start in order, the next one when the previous fails or after
// Config.DialStagger, and the first handshake to succeed wins. The others
// are cancelled, and closed if they succeed anyway. Every attempt has
// returned when dialAddrs returns.
func (e *Endpoint) dialAddrs(ctx context.Context, id NodeID, addrs []netip.AddrPort, alpn string) (*quic.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.HandshakeTimeout)
	defer cancel()

	type result struct {
		qc   *quic.Conn
		addr netip.AddrPort
		err  error
	}
	results := make(chan result, len(addrs))
	started := 0
	startNext := func() {
		ap := addrs[started]
		started++
		go func() {
			qc, err := e.dialOne(ctx, id, ap, alpn)
			results <- result{qc: qc, addr: ap, err: err}
		}()
	}

	stagger := time.NewTimer(e.cfg.DialStagger)
	defer stagger.Stop()
	startNext()

	var winner *quic.Conn
	var errs []error
	for finished := 0; finished < started; {
		select {
		case r := <-results:
			finished++
			switch {
			case r.err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", r.addr, r.err))
				if winner == nil && started < len(addrs) && ctx.Err() == nil {
					startNext()
					stagger.Reset(e.cfg.DialStagger)
				}
			case winner == nil:
				winner = r.qc
				cancel()
			default:
				r.qc.CloseWithError(CodeNormal, "duplicate connection")
			}
		case <-stagger.C:
			if winner == nil && started < len(addrs) {
				startNext()
				stagger.Reset(e.cfg.DialStagger)
			}
		}
	}
	if winner != nil {
		return winner, nil
	}
	return nil, errors.Join(errs...)
}

// dialOne performs one handshake with the peer at ap and checks that it
// holds id's key.
func (e *Endpoint) dialOne(ctx context.Context, id NodeID, ap netip.AddrPort, alpn string) (*quic.Conn, error) {
	// The TLS callback records what it saw, so that a mismatch is
	// reported as such however quic-go wraps the handshake error.
	var seen atomic.Pointer[NodeID]
	tlsConf := clientTLSConfig(e.cert, alpn, func(peer NodeID) error {
		seen.Store(&peer)
		if peer != id {
			return ErrPeerIDMismatch
		}
		return nil
	})
	qc, err := e.tr.Dial(ctx, net.UDPAddrFromAddrPort(ap), tlsConf, e.qconf)
	if got := seen.Load(); got != nil && *got != id {
		if qc != nil {
			qc.CloseWithError(CodeNormal, "unexpected node id")
		}
		return nil, fmt.Errorf("%w: expected %s, got %s", ErrPeerIDMismatch, id.Short(), got.Short())
	}
	if err != nil {
		if tErr, ok := errors.AsType[*quic.TransportError](err); ok && tErr.Remote && tErr.ErrorCode == alertNoApplicationProtocol {
			return nil, fmt.Errorf("%w: %s (%v)", ErrProtocolRefused, alpn, err)
		}
		return nil, err
	}
	if seen.Load() == nil {
		// Unreachable while VerifyPeerCertificate runs on every
		// handshake; refuse rather than trust an unverified peer.
		qc.CloseWithError(CodeNormal, "peer not verified")
		return nil, fmt.Errorf("%w: peer certificate was not verified", ErrBadCertificate)
	}
	return qc, nil
}
