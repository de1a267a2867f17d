// Package interop checks docsnode's reconciliation core against an
// independent implementation of Negentropy protocol v1, the one in
// github.com/nbd-wtf/go-nostr (nip77/negentropy). It is a module of its own
// so that docsnode itself does not depend on go-nostr.
//
// Run it with: cd interop && go test ./...
package interop
