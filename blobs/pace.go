package blobs

import (
	"sync"
	"time"
)

// pacer spreads writes so that their bytes average at most rate per
// second, with bursts of up to a tenth of a second's worth.
type pacer struct {
	mu   sync.Mutex
	rate float64   // bytes per second
	next time.Time // when the bytes granted so far are paid for
}

func newPacer(rate int64) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{rate: float64(rate)}
}

// wait blocks until n more bytes fit under the rate. A nil pacer never
// waits.
func (p *pacer) wait(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	now := time.Now()
	if burst := now.Add(-100 * time.Millisecond); p.next.Before(burst) {
		p.next = burst
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	d := p.next.Sub(now)
	p.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}
