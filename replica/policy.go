package replica

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/docsnode/docsnode/internal/uvarint"
)

// Bounds on a download policy, checked when encoding and decoding.
const (
	MaxPolicyFilters   = 1024
	MaxPolicyFilterKey = 4096
)

// Matches reports whether key matches the filter.
func (f KeyFilter) Matches(key []byte) bool {
	if f.Prefix {
		return bytes.HasPrefix(key, f.Key)
	}
	return bytes.Equal(key, f.Key)
}

// ShouldDownload reports whether the content of an entry at key should be
// fetched under the policy.
func (p DownloadPolicy) ShouldDownload(key []byte) bool {
	matched := false
	for _, f := range p.Filters {
		if f.Matches(key) {
			matched = true
			break
		}
	}
	if p.Mode == DownloadNothingExcept {
		return matched
	}
	return !matched
}

func (p DownloadPolicy) validate() error {
	if p.Mode != DownloadEverythingExcept && p.Mode != DownloadNothingExcept {
		return fmt.Errorf("%w: download mode %d", ErrMalformed, p.Mode)
	}
	if len(p.Filters) > MaxPolicyFilters {
		return fmt.Errorf("%w: download policy has %d filters, limit %d", ErrMalformed, len(p.Filters), MaxPolicyFilters)
	}
	for i, f := range p.Filters {
		if len(f.Key) > MaxPolicyFilterKey {
			return fmt.Errorf("%w: download policy filter %d key is %d bytes, limit %d", ErrMalformed, i, len(f.Key), MaxPolicyFilterKey)
		}
	}
	return nil
}

// MarshalBinary encodes the policy:
//
//	mode(1) uvarint(n) n × { kind(1: 0 exact, 1 prefix) uvarint(len) key }
func (p DownloadPolicy) MarshalBinary() ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("encode download policy: %w", err)
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64)
	out = append(out, byte(p.Mode))
	out = binary.AppendUvarint(out, uint64(len(p.Filters)))
	for _, f := range p.Filters {
		kind := byte(0)
		if f.Prefix {
			kind = 1
		}
		out = append(out, kind)
		out = binary.AppendUvarint(out, uint64(len(f.Key)))
		out = append(out, f.Key...)
	}
	return out, nil
}

// UnmarshalDownloadPolicy decodes a policy written by MarshalBinary. It
// refuses more than MaxPolicyFilters filters and keys longer than
// MaxPolicyFilterKey before allocating for them.
func UnmarshalDownloadPolicy(b []byte) (DownloadPolicy, error) {
	var p DownloadPolicy
	fail := func(format string, args ...any) (DownloadPolicy, error) {
		return DownloadPolicy{}, fmt.Errorf("decode download policy: %w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if len(b) < 2 {
		return fail("%d bytes", len(b))
	}
	p.Mode = DownloadMode(b[0])
	if p.Mode != DownloadEverythingExcept && p.Mode != DownloadNothingExcept {
		return fail("unknown mode %d", b[0])
	}
	n, k, err := uvarint.Decode(b[1:])
	if err != nil {
		return fail("filter count: %v", err)
	}
	if n > MaxPolicyFilters {
		return fail("%d filters, limit %d", n, MaxPolicyFilters)
	}
	b = b[1+k:]
	if n > 0 {
		p.Filters = make([]KeyFilter, 0, n)
	}
	for i := range n {
		if len(b) < 1 {
			return fail("truncated at filter %d", i)
		}
		var f KeyFilter
		switch b[0] {
		case 0:
		case 1:
			f.Prefix = true
		default:
			return fail("filter %d has unknown kind %d", i, b[0])
		}
		l, k, err := uvarint.Decode(b[1:])
		if err != nil {
			return fail("filter %d length: %v", i, err)
		}
		if l > MaxPolicyFilterKey {
			return fail("filter %d key is %d bytes, limit %d", i, l, MaxPolicyFilterKey)
		}
		b = b[1+k:]
		if uint64(len(b)) < l {
			return fail("filter %d key truncated", i)
		}
		f.Key = bytes.Clone(b[:l])
		if f.Key == nil {
			f.Key = []byte{}
		}
		b = b[l:]
		p.Filters = append(p.Filters, f)
	}
	if len(b) != 0 {
		return fail("%d trailing bytes", len(b))
	}
	return p, nil
}
