// Package blobs stores content by its BLAKE3 hash: the values behind
// document entries. This first version is a local store: one file per
// blob under a directory, written atomically and verified on every read.
// Fetching blobs from peers builds on it.
package blobs
