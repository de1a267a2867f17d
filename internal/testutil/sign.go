package testutil

import "github.com/docsnode/docsnode/replica"

// MustSign is replica.Sign for tests whose keys are real: it panics if
// signing fails, which only a zero key makes it do.
func MustSign(ns replica.NamespaceSecret, author replica.Author, e replica.Entry) replica.SignedEntry {
	se, err := replica.Sign(ns, author, e)
	if err != nil {
		panic(err)
	}
	return se
}
