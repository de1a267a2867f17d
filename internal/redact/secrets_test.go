package redact_test

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/client"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/internal/redact"
	"github.com/docsnode/docsnode/replica"
	"github.com/docsnode/docsnode/ticket"
)

// secretCase is one value that holds a secret, and the secret's bytes.
type secretCase struct {
	name   string
	value  any
	secret []byte
	// wireJSON: the value is an HTTP API body whose JSON is the deliberate
	// export of the secret (it is sent to the one caller who asked), so
	// JSON encoding of a struct holding it is not checked.
	wireJSON bool
	// plain: the value keeps its secret in an exported string field, as
	// an API body or an options struct must, so a struct that holds it in
	// an unexported field (where fmt cannot call its methods) shows the
	// secret. Only the exported-field cases are checked.
	plain bool
}

func secretCases(t *testing.T) []secretCase {
	t.Helper()
	seed := func(b byte) [replica.SeedLen]byte {
		var s [replica.SeedLen]byte
		for i := range s {
			s[i] = b + byte(i)*7
		}
		return s
	}
	nsSeed, authorSeed, nodeSeed := seed(11), seed(101), seed(201)
	ns := replica.NamespaceFromSeed(nsSeed)
	author := replica.AuthorFromSeed(authorSeed)
	nodeKey, err := endpoint.SecretKeyFromSeed(nodeSeed[:])
	if err != nil {
		t.Fatal(err)
	}
	write := replica.WriteCapability(ns)
	node := endpoint.NodeAddr{ID: nodeKey.Public(), Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:4919")}}
	tk, err := ticket.New(write, node)
	if err != nil {
		t.Fatal(err)
	}
	tkText, err := tk.ExportText()
	if err != nil {
		t.Fatal(err)
	}
	token := "0123456789abcdef-api-token-fedcba9876543210"
	c, err := client.New(client.Options{BaseURL: "http://docsnode", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ecfg := engine.TestConfig()
	ecfg.Endpoint.SecretKey = nodeKey
	return []secretCase{
		{name: "replica.NamespaceSecret", value: ns, secret: nsSeed[:]},
		{name: "replica.Author", value: author, secret: authorSeed[:]},
		{name: "replica.Capability", value: write, secret: nsSeed[:]},
		{name: "replica.DocInfo", value: replica.DocInfo{Capability: write, Durability: replica.Durable}, secret: nsSeed[:]},
		{name: "endpoint.SecretKey", value: nodeKey, secret: nodeSeed[:]},
		{name: "endpoint.Config", value: endpoint.Config{SecretKey: nodeKey}, secret: nodeSeed[:]},
		{name: "engine.Config", value: ecfg, secret: nodeSeed[:]},
		{name: "ticket.DocTicket seed", value: tk, secret: nsSeed[:]},
		{name: "ticket.DocTicket text", value: tk, secret: []byte(tkText)},
		{name: "wire.AuthorSecret", value: wire.AuthorSecret{Secret: author.ExportSecret()}, secret: []byte(author.ExportSecret()), wireJSON: true, plain: true},
		{name: "wire.Ticket", value: wire.Ticket{Ticket: tkText, Mode: "write"}, secret: []byte(tkText), wireJSON: true, plain: true},
		{name: "wire.Import", value: wire.Import{Ticket: tkText}, secret: []byte(tkText), wireJSON: true, plain: true},
		{name: "client.Options", value: client.Options{Addr: "127.0.0.1:1", Token: token}, secret: []byte(token), plain: true},
		{name: "client.Client", value: c, secret: []byte(token)},
		{name: "redact.String", value: redact.NewString(token), secret: []byte(token)},
	}
}

// forms returns the ways secret bytes could show in text: raw, hex in
// both cases, base32 (the ticket alphabet and standard), base64 (standard
// and URL, padded or not) and fmt's list of decimal byte values.
func forms(secret []byte) map[string]string {
	lower32 := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	dec := fmt.Sprint(secret[:8])
	return map[string]string{
		"raw":           string(secret),
		"hex":           hex.EncodeToString(secret),
		"HEX":           strings.ToUpper(hex.EncodeToString(secret)),
		"base32":        base32.StdEncoding.EncodeToString(secret),
		"base32 lower":  lower32.EncodeToString(secret),
		"base32 nopad":  base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret),
		"base64":        base64.StdEncoding.EncodeToString(secret),
		"base64 raw":    base64.RawStdEncoding.EncodeToString(secret),
		"base64 url":    base64.URLEncoding.EncodeToString(secret),
		"base64 rawurl": base64.RawURLEncoding.EncodeToString(secret),
		"decimal":       dec[1 : len(dec)-1],
	}
}

// holder puts the value in an exported and an unexported field, where fmt
// cannot call its methods.
type holder struct {
	V any
	v any
}

func TestSecretsNeverPrint(t *testing.T) {
	for _, tc := range secretCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			hold := holder{V: tc.value, v: tc.value}
			if tc.plain {
				hold.v = nil
			}
			outputs := map[string]string{}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v", "%-x"} {
				outputs["Sprintf "+verb] = fmt.Sprintf(verb, tc.value)
				outputs["Sprintf "+verb+" of a pointer"] = fmt.Sprintf(verb, &tc.value)
				outputs["Sprintf "+verb+" in a struct"] = fmt.Sprintf(verb, hold)
				outputs["Sprintf "+verb+" in a slice"] = fmt.Sprintf(verb, []any{tc.value})
			}
			outputs["Sprint"] = fmt.Sprint(tc.value)
			outputs["Sprintln"] = fmt.Sprintln(tc.value)
			if s, ok := tc.value.(fmt.Stringer); ok {
				outputs["String"] = s.String()
			}
			wrapped := fmt.Errorf("open %v: %w", tc.value, io.EOF)
			outputs["Errorf %w"] = fmt.Errorf("engine: %w", wrapped).Error()
			outputs["errors.Join"] = errors.Join(errors.New("first"), fmt.Errorf("%+v", tc.value)).Error()

			for _, h := range []struct {
				name string
				new  func(io.Writer) slog.Handler
			}{
				{"TextHandler", func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }},
				{"JSONHandler", func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }},
			} {
				var buf bytes.Buffer
				log := slog.New(h.new(&buf))
				log.Info("attr", "value", tc.value)
				log.Info("group", slog.Group("g", slog.Any("value", tc.value)))
				log.With("with", tc.value).Info("with")
				log.Info("error", "err", wrapped)
				if !(tc.wireJSON && h.name == "JSONHandler") {
					log.Info("struct", "holder", hold)
				}
				outputs["slog "+h.name] = buf.String()
			}

			if !tc.wireJSON {
				b, err := json.Marshal(hold)
				outputs["json.Marshal"] = string(b)
				if err != nil {
					outputs["json.Marshal error"] = err.Error()
				}
			}

			for how, out := range outputs {
				for form, s := range forms(tc.secret) {
					if strings.Contains(out, s) || (form != "raw" && form != "decimal" && strings.Contains(strings.ToLower(out), strings.ToLower(s))) {
						t.Errorf("%s shows the secret (%s): %s", how, form, out)
					}
				}
			}
		})
	}
}

// TestSecretsExportExplicitly checks that each explicit export gives the
// secret back, so that the redaction above is not vacuous.
func TestSecretsExportExplicitly(t *testing.T) {
	ns, err := replica.NewNamespace(nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := ns.SecretSeed()
	if got, err := replica.ParseNamespaceSecret(ns.ExportSecret()); err != nil || got.SecretSeed() != seed {
		t.Fatalf("namespace ExportSecret round trip: %v", err)
	}
	if !strings.Contains(ns.ExportSecret(), hex.EncodeToString(seed[:])) {
		t.Fatal("ExportSecret is not the seed in hex")
	}
	b, err := replica.WriteCapability(ns).ExportBinary()
	if err != nil || !bytes.Contains(b, seed[:]) {
		t.Fatalf("Capability.ExportBinary: %x, %v", b, err)
	}
	a, err := replica.NewAuthor(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := replica.ParseAuthor(a.ExportSecret()); err != nil || got.SecretSeed() != a.SecretSeed() {
		t.Fatalf("author ExportSecret round trip: %v", err)
	}
	k := endpoint.GenerateSecretKey()
	if got, err := endpoint.SecretKeyFromSeed(k.SecretSeed()); err != nil || got.Public() != k.Public() {
		t.Fatalf("SecretKey.SecretSeed round trip: %v", err)
	}
	if redact.NewString("tok").Reveal() != "tok" {
		t.Fatal("Reveal")
	}
}
