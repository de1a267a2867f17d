package fanout

import "testing"

func TestOfferDropsCountsAndReportsLag(t *testing.T) {
	c := make(chan int, 2)
	var missed uint64
	lagged := func(n uint64) int { return -int(n) }
	for i := 1; i <= 5; i++ {
		// 1 and 2 fit; 3, 4, 5 are dropped
		if dropped := Offer(c, &missed, i, lagged); dropped != (i > 2) {
			t.Fatalf("Offer(%d) reported dropped = %v", i, dropped)
		}
	}
	if missed != 3 {
		t.Fatalf("missed = %d, want 3", missed)
	}
	if a, b := <-c, <-c; a != 1 || b != 2 {
		t.Fatalf("buffered %d, %d; want 1, 2", a, b)
	}
	if Offer(c, &missed, 6, lagged) {
		t.Fatal("Offer(6) into an empty channel reported a drop")
	}
	if got := <-c; got != -3 {
		t.Fatalf("first event after the gap = %d, want the lag marker -3", got)
	}
	if got := <-c; got != 6 {
		t.Fatalf("then %d, want 6", got)
	}
	if missed != 0 {
		t.Fatalf("missed = %d after the marker went out, want 0", missed)
	}
	// A full channel also drops the lag marker itself, and keeps counting.
	Offer(c, &missed, 7, lagged)
	Offer(c, &missed, 8, lagged)
	Offer(c, &missed, 9, lagged)
	if missed != 1 {
		t.Fatalf("missed = %d, want 1", missed)
	}
}
