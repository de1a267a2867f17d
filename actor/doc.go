// Package actor runs the store actor: the one goroutine that owns a
// replica.Store. Callers talk to it through methods that take a context
// and never hang after Close.
//
// Writes queued while the actor works share one pebble batch. A document is
// Durable (a write returns only after it is fsynced; concurrent writers
// share the fsync) or Batched (a write returns once applied: every later
// call observes it, it is committed within Config.CommitDelay and the log
// is synced within Config.FlushInterval, unless the store fails first).
// If a commit or a log sync fails, the actor logs the failure and returns
// it, wrapping ErrStoreFailed, from every call after: no write is
// acknowledged on top of one that may be lost (Status, Err). Local writes
// are signed on the caller's goroutine with timestamps that never go
// backwards per author. Subscribers get every acknowledged insert through
// a buffered channel; one that falls behind gets a Lagged event instead of
// stalling the actor.
//
// The actor also keeps the reconciliation index of each document that a
// sync session has used, and runs Negentropy rounds against it
// (NewReconSession).
package actor
