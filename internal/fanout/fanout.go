// Package fanout delivers events to subscribers without ever blocking the
// sender: the store actor and the live actor must not wait on a consumer.
package fanout

// Offer sends ev on c if there is room and never blocks. When c is full, ev
// is dropped and counted in *missed; the next event that finds room is
// preceded by lagged(*missed), which tells the consumer how many it lost,
// and the count starts again. It reports whether ev was dropped, for
// callers that keep a total. Calls for one channel must come from one
// goroutine.
func Offer[T any](c chan<- T, missed *uint64, ev T, lagged func(missed uint64) T) (dropped bool) {
	if *missed > 0 {
		select {
		case c <- lagged(*missed):
			*missed = 0
		default:
			*missed++
			return true
		}
	}
	select {
	case c <- ev:
		return false
	default:
		*missed++
		return true
	}
}
