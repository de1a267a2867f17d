package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/live"
)

// Two engines on loopback: a writes and shares, b imports the ticket and
// receives a's entries, first by sync and then live.
func Example() {
	ctx := context.Background()
	a, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		panic(err)
	}
	defer b.Close()

	doc, _ := a.Docs().Create(ctx)
	author, _ := a.Authors().Default(ctx)
	doc.Set(ctx, author, []byte("greeting"), []byte("hello"))
	t, err := doc.Share(ctx, engine.ShareRead)
	if err != nil {
		panic(err)
	}

	_, sub, err := b.Docs().ImportAndSubscribe(ctx, t)
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	next := func() string {
		timeout := time.After(30 * time.Second)
		for {
			select {
			case ev := <-sub.C():
				if ev.Kind == live.EventInsertRemote {
					return string(ev.Entry.Key)
				}
			case <-timeout:
				return "timed out"
			}
		}
	}
	fmt.Println("synced:", next())
	doc.Set(ctx, author, []byte("news"), []byte("fresh"))
	fmt.Println("live:", next())
	// Output:
	// synced: greeting
	// live: news
}
