package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"log"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docsnode/docsnode/engine"
)

// Two engines on loopback: a writes and shares, b imports the ticket and
// receives a's entries, first by sync and then live.
func Example() {
	ctx := context.Background()
	a, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	doc, err := a.Docs().Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	author, err := a.Authors().Default(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := doc.Set(ctx, author, []byte("greeting"), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	t, err := doc.Share(ctx, engine.ShareRead)
	if err != nil {
		log.Fatal(err)
	}

	_, sub, err := b.Docs().ImportAndSubscribe(ctx, t)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	ev, err := waitFor(sub, engine.EventInsertRemote)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("synced:", string(ev.Entry.Key))
	if _, err := doc.Set(ctx, author, []byte("news"), []byte("fresh")); err != nil {
		log.Fatal(err)
	}
	if ev, err = waitFor(sub, engine.EventInsertRemote); err != nil {
		log.Fatal(err)
	}
	fmt.Println("live:", string(ev.Entry.Key))
	// Output:
	// synced: greeting
	// live: news
}

// The README's library example: TestReadmeExample checks that the two
// stay the same code.
func Example_library() {
	ctx := context.Background()
	// Two nodes in one process, to keep the example whole. TestConfig
	// keeps a node in memory on loopback; a real node uses
	// engine.DefaultConfig(dataDir).
	a, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	// a creates a document, writes to it and shares it.
	doc, err := a.Docs().Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	me, err := a.Authors().Default(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := doc.Set(ctx, me, []byte("hello"), []byte("world")); err != nil {
		log.Fatal(err)
	}
	t, err := doc.Share(ctx, engine.ShareWrite) // opens it for sync too
	if err != nil {
		log.Fatal(err)
	}
	text, err := t.ExportText() // "doc…", to hand to b: it holds the document's secret
	if err != nil {
		log.Fatal(err)
	}

	// b joins by ticket, subscribed before its first sync starts.
	if t, err = engine.ParseTicket(text); err != nil {
		log.Fatal(err)
	}
	bdoc, sub, err := b.Docs().ImportAndSubscribe(ctx, t)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	ev, err := waitFor(sub, engine.EventInsertRemote)
	if err != nil {
		log.Fatal(err)
	}
	// The content follows the entry unless it came along.
	if ev.ContentStatus != engine.ContentComplete {
		if _, err := waitFor(sub, engine.EventContentReady); err != nil {
			log.Fatal(err)
		}
	}
	value, err := bdoc.Content(ev.Entry)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("b reads %s = %s\n", ev.Entry.Key, value)

	// b writes too (the ticket gave write), and a sees it live.
	asub, err := doc.Subscribe(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer asub.Close()
	them, err := b.Authors().Default(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := bdoc.Set(ctx, them, []byte("hello/reply"), []byte("hi")); err != nil {
		log.Fatal(err)
	}
	if ev, err = waitFor(asub, engine.EventInsertRemote); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("a received %s\n", ev.Entry.Key)

	// a lists the latest entry of each key under "hello".
	who := map[engine.AuthorID]string{me.ID(): "a", them.ID(): "b"}
	q := engine.Query{KeyPrefix: []byte("hello"), LatestPerKey: true}
	for e, err := range doc.Query(ctx, q) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s by %s\n", e.Key, who[e.Author])
	}
	// Output:
	// b reads hello = world
	// a received hello/reply
	// hello by a
	// hello/reply by b
}

// waitFor returns the next event of the given kind on sub.
func waitFor(sub *engine.Subscription, kind engine.EventKind) (engine.Event, error) {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				return ev, errors.New("subscription closed")
			}
			if ev.Kind == kind {
				return ev, nil
			}
		case <-timeout:
			return engine.Event{}, fmt.Errorf("no %v event within 30 s", kind)
		}
	}
}

// Queries select by author, key or prefix, and can keep only the latest
// entry of each key across authors.
func ExampleDoc_Query() {
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	alice, err := e.Authors().Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	bob, err := e.Authors().Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	who := map[engine.AuthorID]string{alice.ID(): "alice", bob.ID(): "bob"}
	for _, w := range []struct {
		by         engine.Author
		key, value string
	}{
		{alice, "fruit/apple", "red"},
		{alice, "fruit/pear", "yellow"},
		{bob, "fruit/apple", "green"}, // later than alice's
		{bob, "veg/leek", "white"},
	} {
		if _, err := doc.Set(ctx, w.by, []byte(w.key), []byte(w.value)); err != nil {
			log.Fatal(err)
		}
	}
	show := func(title string, q engine.Query) {
		fmt.Println(title)
		for e, err := range doc.Query(ctx, q) {
			if err != nil {
				log.Fatal(err)
			}
			value, err := doc.Content(e)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("  %s = %s by %s\n", e.Key, value, who[e.Author])
		}
	}
	bobID := bob.ID()
	show("bob's entries:", engine.Query{Author: &bobID})
	show("latest under fruit/:", engine.Query{KeyPrefix: []byte("fruit/"), LatestPerKey: true})
	show("last key:", engine.Query{LatestPerKey: true, Descending: true, Limit: 1})
	// Output:
	// bob's entries:
	//   fruit/apple = green by bob
	//   veg/leek = white by bob
	// latest under fruit/:
	//   fruit/apple = green by bob
	//   fruit/pear = yellow by alice
	// last key:
	//   veg/leek = white by bob
}

// A ticket's text form parses back into the capability and addresses
// that Share put in it; text that is not a ticket says what is wrong.
func ExampleParseTicket() {
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	shared, err := doc.Share(ctx, engine.ShareRead)
	if err != nil {
		log.Fatal(err)
	}

	text, err := shared.ExportText()
	if err != nil {
		log.Fatal(err)
	}
	t, err := engine.ParseTicket(text)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Capability.Kind() == engine.CapabilityRead, t.Capability.ID() == doc.ID(), t.Nodes[0].ID == e.NodeID())

	_, err = engine.ParseTicket("https://example.com")
	fmt.Println(err != nil)
	// Output:
	// true true true
	// true
}

// Errors from every layer are checked with errors.Is against the engine's
// names; IsClosed recognises the closed error of any of them.
func ExampleIsClosed() {
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		log.Fatal(err)
	}
	doc, err := e.Docs().Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	author, err := e.Authors().Default(ctx)
	if err != nil {
		log.Fatal(err)
	}
	_, err = doc.Get(ctx, author.ID(), []byte("never written"))
	fmt.Println("not found:", errors.Is(err, engine.ErrNotFound))
	peer, err := engine.ParseNodeID(strings.Repeat("5e", 32))
	if err != nil {
		log.Fatal(err)
	}
	err = doc.WaitSynced(ctx, peer) // not shared yet
	fmt.Println("not syncing:", errors.Is(err, engine.ErrNotSyncing))

	e.Close()
	_, err = doc.Set(ctx, author, []byte("late"), []byte("too late"))
	fmt.Println("closed:", engine.IsClosed(err))
	_, err = doc.Subscribe(ctx)
	fmt.Println("closed:", engine.IsClosed(err))
	// Output:
	// not found: true
	// not syncing: true
	// closed: true
	// closed: true
}

// TestReadmeExample checks that the README's library example is the code
// of Example_library (its main) and of the functions this file shares with
// it, and that it imports engine and the standard library only, as this
// file does.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Library example")
	_, code, ok2 := strings.Cut(section, "```go\n")
	code, _, ok3 := strings.Cut(code, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no Go block under \"## Library example\"")
	}
	fset := token.NewFileSet()
	prog, err := parser.ParseFile(fset, "README.md", code, 0)
	if err != nil {
		t.Fatalf("the README's library example does not parse: %v", err)
	}
	examples, err := parser.ParseFile(fset, "example_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*ast.File{prog, examples} {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if path != "github.com/docsnode/docsnode/engine" && strings.Contains(first, ".") {
				t.Errorf("%s imports %s; an app should need engine and the standard library only", fset.File(f.Pos()).Name(), path)
			}
		}
	}
	funcs := map[string]*ast.FuncDecl{}
	for _, d := range examples.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok {
			funcs[fn.Name.Name] = fn
		}
	}
	source := func(n ast.Node) string {
		var b bytes.Buffer
		if err := printer.Fprint(&b, fset, n); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	sawMain := false
	for _, d := range prog.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		name := fn.Name.Name
		if name == "main" {
			name, sawMain = "Example_library", true
		}
		twin := funcs[name]
		switch {
		case twin == nil:
			t.Errorf("README's %s has no twin %s in example_test.go", fn.Name.Name, name)
		case source(fn.Type) != source(twin.Type) || source(fn.Body) != source(twin.Body):
			t.Errorf("README's %s differs from %s in example_test.go; keep them the same code", fn.Name.Name, name)
		}
	}
	if !sawMain {
		t.Error("the README's library example has no main")
	}
}
