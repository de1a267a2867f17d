package recon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

func TestVarint(t *testing.T) {
	cases := []struct {
		v   uint64
		hex string
	}{
		{0, "00"},
		{1, "01"},
		{127, "7f"},
		{128, "8100"},
		{300, "822c"},
		{16383, "ff7f"},
		{16384, "818000"},
		{math.MaxUint32, "8fffffff7f"},
		{math.MaxUint64, "81ffffffffffffffff7f"},
	}
	for _, c := range cases {
		enc := appendVarint(nil, c.v)
		if got := hex.EncodeToString(enc); got != c.hex {
			t.Errorf("appendVarint(%d) = %s, want %s", c.v, got, c.hex)
		}
		if varintLen(c.v) != len(enc) {
			t.Errorf("varintLen(%d) = %d, want %d", c.v, varintLen(c.v), len(enc))
		}
		v, n, err := decodeVarint(append(enc, 0xaa))
		if err != nil || v != c.v || n != len(enc) {
			t.Errorf("decodeVarint(%s) = %d, %d, %v", c.hex, v, n, err)
		}
	}
	bad := []struct {
		hex  string
		want error
	}{
		{"", ErrTruncated},
		{"81", ErrTruncated},
		{"ffff", ErrTruncated},
		{"8000", ErrVarint},                 // leading zero digit
		{"82ffffffffffffffff7f", ErrVarint}, // 2^64
		{"ffffffffffffffffffff7f", ErrVarint},
	}
	for _, c := range bad {
		b, _ := hex.DecodeString(c.hex)
		if _, _, err := decodeVarint(b); !errors.Is(err, c.want) {
			t.Errorf("decodeVarint(%s) = %v, want %v", c.hex, err, c.want)
		}
	}
}

func TestBoundEncoding(t *testing.T) {
	var id [32]byte
	id[0], id[1] = 0xab, 0xcd
	seq := []bound{
		{key: Item{Timestamp: 5}},
		{key: Item{Timestamp: 5, ID: id}, prefixLen: 2},
		{key: Item{Timestamp: 1000}},
		infinityBound,
	}
	e := newEncoder(0)
	for _, b := range seq {
		e.bound(b)
	}
	// 5 -> 6; same ts -> 1, prefix abcd; +995 -> 996 = 87 64; infinity -> 0.
	if got, want := hex.EncodeToString(e.buf[1:]), "0600"+"0102abcd"+"876400"+"0000"; got != want {
		t.Fatalf("encoded %s, want %s", got, want)
	}
	d := decoder{buf: e.buf[1:]}
	for i, want := range seq {
		got, err := d.bound()
		if err != nil || got != want {
			t.Fatalf("bound %d: got %+v, %v; want %+v", i, got, err, want)
		}
	}
	if d.off != len(d.buf) {
		t.Fatalf("%d bytes left over", len(d.buf)-d.off)
	}

	bad := []struct {
		hex  string
		want error
	}{
		{"0121", ErrMalformed}, // prefix of 33 bytes
		{"0102ab", ErrTruncated},
		{"01", ErrTruncated},
		{"81ffffffffffffffff7f00", ErrMalformed}, // 1 + 2^64-2: infinity's timestamp
	}
	for _, c := range bad {
		b, _ := hex.DecodeString(c.hex)
		d := decoder{buf: b, lastTS: 1}
		if _, err := d.bound(); !errors.Is(err, c.want) {
			t.Errorf("bound %s: %v, want %v", c.hex, err, c.want)
		}
	}
	// A delta that wraps past 2^64 after an earlier bound.
	d = decoder{buf: []byte{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00}, lastTS: 2}
	if _, err := d.bound(); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrapping delta: %v, want ErrMalformed", err)
	}
}

func TestMinimalBound(t *testing.T) {
	var a, b Item
	a.Timestamp, b.Timestamp = 7, 9
	if mb := minimalBound(a, b); mb.prefixLen != 0 || mb.key != (Item{Timestamp: 9}) {
		t.Fatalf("different timestamps: %+v", mb)
	}
	b.Timestamp = 7
	a.ID[0], a.ID[1], a.ID[2] = 1, 2, 3
	b.ID[0], b.ID[1], b.ID[2] = 1, 2, 4
	mb := minimalBound(a, b)
	if mb.prefixLen != 3 || !a.Less(mb.key) || b.Less(mb.key) {
		t.Fatalf("shared prefix: %+v", mb)
	}
	b.ID[31] = 1
	a.ID = b.ID
	a.ID[31] = 0
	if mb := minimalBound(a, b); mb.prefixLen != 32 || mb.key != b {
		t.Fatalf("ids differing in the last byte: %+v", mb)
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		want error
	}{
		{"unknown mode", "000003", ErrMalformed},
		{"truncated fingerprint", "000001" + "00112233", ErrTruncated},
		{"id list longer than the message", "000002" + "05" + "00", ErrTruncated},
		{"huge id list count", "000002" + "8fffffff7f", ErrTruncated},
		{"range after infinity", "000000" + "000000", ErrBoundOrder},
		{"decreasing bound", "0a02ff0000" + "0100" + "00", ErrBoundOrder},
		{"mode missing", "0a00", ErrTruncated},
	}
	for _, c := range cases {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeMessage(b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Equal consecutive bounds describe an empty range and are accepted.
	if _, err := decodeMessage([]byte{0x05, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00}); err != nil {
		t.Errorf("empty range: %v", err)
	}
}

func TestFingerprintAlgorithm(t *testing.T) {
	var acc Accumulator
	want := sha256.Sum256(append(make([]byte, 32), 0x00))
	if fp := acc.Fingerprint(0); !bytes.Equal(fp[:], want[:16]) {
		t.Fatalf("empty fingerprint %x, want %x", fp, want[:16])
	}
	// 2^256-1 + 2 wraps to 1: the sum is taken modulo 2^256.
	var ones, two [32]byte
	for i := range ones {
		ones[i] = 0xff
	}
	two[0] = 2
	acc.Add(ones)
	acc.Add(two)
	sum := acc.Bytes()
	if sum[0] != 1 || !bytes.Equal(sum[1:], make([]byte, 31)) {
		t.Fatalf("sum %x, want 01 and zeros", sum)
	}
	buf := append(sum[:], 0x02)
	want = sha256.Sum256(buf)
	if fp := acc.Fingerprint(2); !bytes.Equal(fp[:], want[:16]) {
		t.Fatalf("fingerprint %x, want %x", fp, want[:16])
	}
	// Counts use the protocol varint.
	want = sha256.Sum256(append(sum[:], 0x81, 0x00))
	if fp := acc.Fingerprint(128); !bytes.Equal(fp[:], want[:16]) {
		t.Fatalf("fingerprint with count 128 %x, want %x", fp, want[:16])
	}
	acc.Sub(two)
	acc.Sub(ones)
	if acc != (Accumulator{}) {
		t.Fatalf("Sub did not undo Add: %x", acc.Bytes())
	}
}
