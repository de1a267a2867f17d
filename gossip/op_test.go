package gossip

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

func TestOpRoundTrip(t *testing.T) {
	doc := newTestDoc(t)
	origin := endpoint.GenerateSecretKey().Public()
	heads := replica.Heads{}
	for i := range 5 {
		a, _ := replica.NewAuthor(nil)
		heads[a.ID()] = uint64(1000 * i)
	}
	for _, o := range []op{
		{kind: opPut, origin: origin, entry: doc.entry("a/b", "hello")},
		{kind: opPutContent, origin: origin, entry: doc.entry("a/c", "hello"), content: []byte("hello")},
		{kind: opPutContent, origin: origin, entry: doc.entry("a/d", ""), content: []byte{}},
		{kind: opContentReady, origin: origin, hash: replica.HashContent([]byte("x"))},
		{kind: opSyncReport, origin: origin, heads: heads},
		{kind: opSyncReport, origin: origin, heads: replica.Heads{}},
	} {
		raw, err := appendOp(nil, &o)
		if err != nil {
			t.Fatalf("appendOp(kind %d): %v", o.kind, err)
		}
		got, err := decodeOp(raw, 4096)
		if err != nil {
			t.Fatalf("decodeOp(kind %d): %v", o.kind, err)
		}
		if got.kind != o.kind || got.origin != o.origin || got.hash != o.hash ||
			!bytes.Equal(got.entry.Key, o.entry.Key) || got.entry.Record != o.entry.Record ||
			got.entry.AuthorSig != o.entry.AuthorSig || !maps.Equal(got.heads, o.heads) ||
			!bytes.Equal(got.content, o.content) {
			t.Errorf("kind %d: round trip changed the op", o.kind)
		}
		again, _ := appendOp(nil, &got)
		if !bytes.Equal(raw, again) {
			t.Errorf("kind %d: re-encoding differs", o.kind)
		}
	}
}

func TestDecodeOpRejects(t *testing.T) {
	doc := newTestDoc(t)
	origin := endpoint.GenerateSecretKey().Public()
	put, _ := appendOp(nil, &op{kind: opPut, origin: origin, entry: doc.entry("k", "v")})
	ready, _ := appendOp(nil, &op{kind: opContentReady, origin: origin})
	withContent := mustOp(t, &op{kind: opPutContent, origin: origin, entry: doc.entry("k", "value"), content: []byte("value")})
	otherContent := bytes.Clone(withContent)
	otherContent[len(otherContent)-1] ^= 1
	a1, a2 := replica.AuthorID{1}, replica.AuthorID{2}
	report, _ := appendOp(nil, &op{kind: opSyncReport, origin: origin, heads: replica.Heads{a1: 1, a2: 2}})
	// Swap the two heads: same value, not the canonical order.
	unsorted := bytes.Clone(report)
	body := unsorted[opHeaderLen+1:]
	copy(body, append(bytes.Clone(body[minHeadLen:2*minHeadLen]), body[:minHeadLen]...))

	tooMany := append(bytes.Clone(report[:opHeaderLen]), 0x81, 0x08) // 1025 authors
	tooMany = append(tooMany, make([]byte, 1025*minHeadLen)...)

	cases := map[string][]byte{
		"empty":                   nil,
		"short header":            put[:opHeaderLen-1],
		"version 2":               append([]byte{2}, put[1:]...),
		"unknown kind":            append([]byte{opVersion, 9}, put[2:]...),
		"put truncated":           put[:len(put)-1],
		"put trailing":            append(bytes.Clone(put), 0),
		"ready short":             ready[:len(ready)-1],
		"ready trailing":          append(bytes.Clone(ready), 0),
		"report truncated":        report[:len(report)-1],
		"report trailing":         append(bytes.Clone(report), 0),
		"report unsorted":         unsorted,
		"report too many":         tooMany,
		"report count lies":       append(bytes.Clone(report[:opHeaderLen]), 0x10),
		"put content short":       withContent[:len(withContent)-1],
		"put content long":        append(bytes.Clone(withContent), 'x'),
		"put content other bytes": otherContent,
		"put content no entry":    append(bytes.Clone(withContent[:opHeaderLen]), 0xff, 0x01),
		"put content cut entry":   withContent[:opHeaderLen+10],
		"put key too long":        mustOp(t, &op{kind: opPut, origin: origin, entry: doc.entry(string(make([]byte, 5000)), "v")}),
	}
	for name, b := range cases {
		if _, err := decodeOp(b, 4096); !errors.Is(err, ErrMalformedOp) {
			t.Errorf("%s: err = %v, want ErrMalformedOp", name, err)
		}
	}
}

func mustOp(t testing.TB, o *op) []byte {
	t.Helper()
	b, err := appendOp(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSyncReportAuthorLimit(t *testing.T) {
	heads := replica.Heads{}
	for i := range MaxReportAuthors {
		heads[replica.AuthorID{byte(i), byte(i >> 8)}] = uint64(i)
	}
	raw, err := appendOp(nil, &op{kind: opSyncReport, heads: heads})
	if err != nil {
		t.Fatalf("%d authors: %v", MaxReportAuthors, err)
	}
	if len(raw) > DefaultConfig().MaxOpSize() {
		t.Errorf("a full sync report takes %d bytes, over the default budget %d", len(raw), DefaultConfig().MaxOpSize())
	}
	if got, err := decodeOp(raw, 0); err != nil || len(got.heads) != MaxReportAuthors {
		t.Fatalf("decode full report: %d heads, %v", len(got.heads), err)
	}
	heads[replica.AuthorID{0xff, 0xff}] = 1
	if _, err := appendOp(nil, &op{kind: opSyncReport, heads: heads}); !errors.Is(err, ErrTooManyAuthors) {
		t.Errorf("%d authors: err = %v, want ErrTooManyAuthors", len(heads), err)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	topic := topicOf(replica.NamespaceID{7})
	for _, k := range []streamKind{kindPacket, kindStream, kindOp} {
		gotTopic, gotKind, err := decodeHeader(appendHeader(nil, topic, k))
		if err != nil || gotTopic != topic || gotKind != k {
			t.Errorf("kind %d: got %x %d %v", k, gotTopic[:4], gotKind, err)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, headerLen-1), make([]byte, headerLen+1), appendHeader(nil, topic, 0), appendHeader(nil, topic, 4)} {
		if _, _, err := decodeHeader(b); !errors.Is(err, ErrBadHeader) {
			t.Errorf("decodeHeader(%x) err = %v, want ErrBadHeader", b, err)
		}
	}
	if topicOf(replica.NamespaceID{7}) == topicOf(replica.NamespaceID{8}) {
		t.Error("two documents share a topic")
	}
	if doc := (replica.NamespaceID{7}); bytes.Equal(topic[:], doc[:]) {
		t.Error("the topic is the document id, which would reveal the read capability")
	}
}

func FuzzDecodeOp(f *testing.F) {
	doc := newTestDoc(f)
	origin := endpoint.GenerateSecretKey().Public()
	f.Add(mustOp(f, &op{kind: opPut, origin: origin, entry: doc.entry("k", "v")}))
	f.Add(mustOp(f, &op{kind: opContentReady, origin: origin}))
	f.Add(mustOp(f, &op{kind: opPutContent, origin: origin, entry: doc.entry("k", "v"), content: []byte("v")}))
	f.Add(mustOp(f, &op{kind: opSyncReport, origin: origin, heads: replica.Heads{{1}: 1, {2}: 1 << 40}}))
	f.Add([]byte{opVersion, byte(opSyncReport)})
	// A report of no authors whose count is a padded varint (0x80 0x00).
	f.Add(append(append([]byte{opVersion, byte(opSyncReport)}, bytes.Repeat([]byte{'0'}, 32)...), 0x80, 0x00))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeOp(b, 64)
		if err != nil {
			if !errors.Is(err, ErrMalformedOp) {
				t.Fatalf("error does not wrap ErrMalformedOp: %v", err)
			}
			return
		}
		if len(o.entry.Key) > 64 || len(o.heads) > MaxReportAuthors {
			t.Fatalf("decoded past a bound: key %d bytes, %d heads", len(o.entry.Key), len(o.heads))
		}
		if o.kind == opPutContent && replica.HashContent(o.content) != o.entry.Hash {
			t.Fatal("a put's content that does not match its entry decoded")
		}
		raw, err := appendOp(nil, &o)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := decodeOp(raw, 64)
		if err != nil {
			t.Fatalf("decode of re-encoding: %v", err)
		}
		if raw2, _ := appendOp(nil, &again); !bytes.Equal(raw, raw2) {
			t.Fatal("encoding is not stable")
		}
		// Every op has one encoding per value.
		if !bytes.Equal(raw, b) {
			t.Fatalf("non-canonical input decoded: %x re-encodes as %x", b, raw)
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(appendHeader(nil, topicOf(replica.NamespaceID{1}), kindPacket))
	f.Add(appendHeader(nil, topicOf(replica.NamespaceID{1}), kindStream))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		topic, kind, err := decodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error does not wrap ErrBadHeader: %v", err)
			}
			return
		}
		if !bytes.Equal(appendHeader(nil, topic, kind), b) {
			t.Fatalf("header %x does not round-trip", b)
		}
	})
}
