package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestSetReader: a value streamed from a reader reads back whole; an
// empty reader, a reader that fails, a value over the content limit and
// a read-only document are refused, and none of them writes an entry.
func TestSetReader(t *testing.T) {
	ctx := context.Background()
	cfg := TestConfig()
	cfg.Content.MaxSize = 1 << 20
	e, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	author, err := e.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 kB: a file, not a small blob
	se, err := doc.SetReader(ctx, author, []byte("big"), bytes.NewReader(big))
	if err != nil || se.Len != uint64(len(big)) {
		t.Fatalf("SetReader = %+v, %v", se, err)
	}
	if got, err := doc.Content(se); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("content of big: %d bytes, %v", len(got), err)
	}
	broken := io.MultiReader(strings.NewReader("part"), iotestErr{})
	for name, tc := range map[string]struct {
		r    io.Reader
		want error
	}{
		"empty":     {strings.NewReader(""), ErrEmptyValue},
		"broken":    {broken, errBroken},
		"too large": {bytes.NewReader(make([]byte, 1<<20+1)), ErrTooLarge},
	} {
		if _, err := doc.SetReader(ctx, author, []byte("k/"+name), tc.r); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	n := 0
	for _, err := range doc.Query(ctx, Query{IncludeTombstones: true}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d entries after the refused sets, want 1", n)
	}
	// A read-only copy refuses before storing the content.
	b, err := Open(ctx, TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tk, err := doc.Share(ctx, ShareRead)
	if err != nil {
		t.Fatal(err)
	}
	bdoc, err := b.Docs().Import(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	bauthor, err := b.Authors().Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bdoc.SetReader(ctx, bauthor, []byte("k"), strings.NewReader("v")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("SetReader on a read-only copy: %v", err)
	}
}

var errBroken = errors.New("broken reader")

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errBroken }
