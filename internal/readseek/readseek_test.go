package readseek

import (
	"io"
	"testing"
)

func TestOffset(t *testing.T) {
	for _, c := range []struct {
		pos, size, off int64
		whence         int
		want           int64
		ok             bool
	}{
		{5, 10, 3, io.SeekStart, 3, true},
		{5, 10, 3, io.SeekCurrent, 8, true},
		{5, 10, -3, io.SeekEnd, 7, true},
		{5, 10, 4, io.SeekEnd, 14, true},
		{5, 10, -6, io.SeekCurrent, 0, false},
		{5, 10, 0, 7, 0, false},
	} {
		got, err := Offset(c.pos, c.size, c.off, c.whence)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Offset(%d, %d, %d, %d) = %d, %v", c.pos, c.size, c.off, c.whence, got, err)
		}
	}
}
