// Package readseek holds what the content readers share of io.Seeker.
package readseek

import (
	"errors"
	"io"
)

// Offset is the position io.Seeker.Seek(offset, whence) moves a reader at
// pos of a content of size bytes to. A position past the end is allowed
// (a read there finds io.EOF); a negative one is not.
func Offset(pos, size, offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += pos
	case io.SeekEnd:
		offset += size
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	return offset, nil
}
