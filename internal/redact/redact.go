// Package redact helps types that hold a secret print themselves without
// it. Such a type implements fmt.Stringer, fmt.GoStringer, fmt.Formatter
// and slog.LogValuer by handing its safe description to the functions
// here, so that no verb, handler or error wrapping can reach the secret
// bytes; it exports the secret only through a method whose name says so.
//
//	func (k Key) String() string                     { return "Key(" + k.ID().Short() + ", " + redact.Marker + ")" }
//	func (k Key) GoString() string                   { return k.String() }
//	func (k Key) Format(f fmt.State, verb rune)      { redact.Format(f, verb, k.String()) }
//	func (k Key) LogValue() slog.Value               { return slog.StringValue(k.String()) }
package redact

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
)

// Marker says, in a description, that a secret was left out.
const Marker = "secret redacted"

// Format writes desc for every verb: %q quotes it and every other verb
// (%v %+v %#v %s %x %X %d …) writes it as it is, so that no verb turns the
// secret into hex or a list of byte values. Width and flags are ignored.
func Format(f fmt.State, verb rune, desc string) {
	if verb == 'q' {
		desc = strconv.Quote(desc)
	}
	_, _ = io.WriteString(f, desc)
}

// String is a string that is a secret, such as a bearer token. It prints
// as Marker whatever the verb, and logs and marshals as Marker too; Reveal
// returns it.
type String struct {
	// Sealed in a closure: fmt prints a func as an address whatever the
	// verb and depth, so a struct that holds a String in an unexported
	// field (where fmt cannot call Format) does not print the text.
	s func() string
}

// NewString wraps s.
func NewString(s string) String {
	if s == "" {
		return String{}
	}
	return String{s: func() string { return s }}
}

// Reveal returns the secret.
func (s String) Reveal() string {
	if s.s == nil {
		return ""
	}
	return s.s()
}

// IsZero reports whether the secret is empty.
func (s String) IsZero() bool { return s.s == nil }

// String returns Marker, or "" for the empty secret.
func (s String) String() string {
	if s.s == nil {
		return ""
	}
	return Marker
}

// GoString returns the same as String.
func (s String) GoString() string { return s.String() }

// Format writes the same as String for every verb.
func (s String) Format(f fmt.State, verb rune) { Format(f, verb, s.String()) }

// MarshalText writes the same as String.
func (s String) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue logs the same as String.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }
