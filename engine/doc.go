// Package engine is docsnode as a Go library: it wires the store actor,
// the content store, the QUIC endpoint, gossip and the live actor into one
// Engine, with the Docs, Doc and Authors APIs on top.
//
// Two engines share a document like this (the runnable version is
// Example):
//
//	a, _ := engine.Open(ctx, engine.TestConfig())
//	b, _ := engine.Open(ctx, engine.TestConfig())
//	doc, _ := a.Docs().Create(ctx)
//	author, _ := a.Authors().Default(ctx)
//	doc.Set(ctx, author, []byte("greeting"), []byte("hello"))
//	t, _ := doc.Share(ctx, engine.ShareRead)   // opens it for sync too
//
//	bdoc, sub, _ := b.Docs().ImportAndSubscribe(ctx, t)
//	for ev := range sub.C() {                  // the entry arrives
//		if ev.Kind == engine.EventInsertRemote { ... }
//	}
//
// Later writes on a reach b at once through gossip, and reconciliation
// catches up whatever gossip lost. Content that no entry names any more
// (an overwritten value, a deleted prefix, a dropped document) is removed
// by garbage collection after a grace period (Config.GC, CollectGarbage,
// PinContent). Close stops garbage collection, sync, then gossip and the
// endpoint, and closes the store last.
package engine
