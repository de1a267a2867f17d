package live

import (
	"bytes"
	"errors"
	"testing"

	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/replica"
)

func sampleWant() *download {
	return &download{size: 1234, docs: []*wantDoc{
		{ref: blobs.Ref{Namespace: replica.NamespaceID{1}, Author: replica.AuthorID{2}, Key: []byte("a/b")},
			providers: []endpoint.NodeID{{3}, {4}}},
		{ref: blobs.Ref{Namespace: replica.NamespaceID{5}, Author: replica.AuthorID{6}, Key: []byte{}}},
	}}
}

func TestWantRecordCodec(t *testing.T) {
	dl := sampleWant()
	b := appendWant(nil, dl)
	rec, err := decodeWant(b, 16)
	if err != nil {
		t.Fatal(err)
	}
	if rec.size != dl.size || len(rec.docs) != 2 {
		t.Fatalf("decoded %+v", rec)
	}
	for i, wd := range rec.docs {
		w := dl.docs[i]
		if wd.ref.Namespace != w.ref.Namespace || wd.ref.Author != w.ref.Author || !bytes.Equal(wd.ref.Key, w.ref.Key) || len(wd.providers) != len(w.providers) {
			t.Fatalf("doc %d decoded as %+v", i, wd)
		}
		for j := range wd.providers {
			if wd.providers[j] != w.providers[j] {
				t.Fatalf("doc %d provider %d", i, j)
			}
		}
	}
	for i := range len(b) {
		if _, err := decodeWant(b[:i], 16); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("truncated to %d: %v", i, err)
		}
	}
	if _, err := decodeWant(append(b, 0), 16); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := decodeWant(b, 2); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("key over the limit: %v", err)
	}
}

// FuzzDecodeWant: a record read back from disk never panics, stays within
// its bounds, and one that decodes re-encodes to the same bytes.
func FuzzDecodeWant(f *testing.F) {
	f.Add(appendWant(nil, sampleWant()))
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeWant(b, 64)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error outside ErrBadRecord: %v", err)
			}
			return
		}
		if len(rec.docs) > maxWantDocs {
			t.Fatalf("%d docs", len(rec.docs))
		}
		for _, wd := range rec.docs {
			if len(wd.ref.Key) > 64 || len(wd.providers) > maxWantProviders {
				t.Fatal("bounds broken")
			}
		}
		if !bytes.Equal(appendWant(nil, &download{size: rec.size, docs: rec.docs}), b) {
			t.Fatal("re-encodes to other bytes")
		}
	})
}
