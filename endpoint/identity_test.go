package endpoint

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

func TestNodeIDText(t *testing.T) {
	id := GenerateSecretKey().Public()
	s := id.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("String = %q, want 64 lowercase hex characters", s)
	}
	if id.Short() != s[:10] {
		t.Errorf("Short = %q, want %q", id.Short(), s[:10])
	}
	for _, in := range []string{s, strings.ToUpper(s)} {
		parsed, err := ParseNodeID(in)
		if err != nil || parsed != id {
			t.Errorf("ParseNodeID(%q) = %s, %v", in, parsed, err)
		}
	}

	// Through encoding/json, as a value and as a map key.
	type doc struct {
		Peer  NodeID
		Peers map[NodeID]int
	}
	in := doc{Peer: id, Peers: map[NodeID]int{id: 1}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"`+s+`"`)) {
		t.Errorf("JSON %s does not hold the hex id", b)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Peer != id || out.Peers[id] != 1 {
		t.Errorf("JSON round trip = %+v", out)
	}

	for _, bad := range []string{"", s[:63], s + "0", "zz" + s[2:], " " + s[1:]} {
		if _, err := ParseNodeID(bad); !errors.Is(err, ErrBadNodeID) {
			t.Errorf("ParseNodeID(%q): err = %v, want ErrBadNodeID", bad, err)
		}
	}
	var z NodeID
	if err := z.UnmarshalText([]byte("nope")); !errors.Is(err, ErrBadNodeID) || !z.IsZero() {
		t.Errorf("UnmarshalText(bad) = %v, id %s", err, z)
	}
}

func TestSecretKey(t *testing.T) {
	k := GenerateSecretKey()
	again, err := SecretKeyFromSeed(k.SecretSeed())
	if err != nil {
		t.Fatal(err)
	}
	if again.Public() != k.Public() || k.Public().IsZero() {
		t.Error("seed round trip changed the key")
	}
	if GenerateSecretKey().Public() == k.Public() {
		t.Error("two generated keys are equal")
	}
	if _, err := SecretKeyFromSeed(make([]byte, 31)); !errors.Is(err, ErrBadSeed) {
		t.Errorf("short seed: err = %v", err)
	}
	seedHex := fmt.Sprintf("%x", k.SecretSeed())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, k); strings.Contains(out, seedHex) || strings.Contains(out, seedHex[:8]) {
			t.Errorf("%s prints key material: %s", verb, out)
		}
	}
	var zero SecretKey
	if !zero.IsZero() || zero.SecretSeed() != nil || !zero.Public().IsZero() {
		t.Error("zero SecretKey is not empty")
	}
}

func TestCertificateCarriesNodeID(t *testing.T) {
	k := GenerateSecretKey()
	cert, err := newCertificate(k)
	if err != nil {
		t.Fatal(err)
	}
	id, err := nodeIDFromCert(cert.Certificate)
	if err != nil || id != k.Public() {
		t.Fatalf("nodeIDFromCert = %s, %v; want %s", id.Short(), err, k.Public().Short())
	}

	broken := bytes.Clone(cert.Certificate[0])
	broken[len(broken)-1] ^= 1 // inside the signature
	tooMany := [][]byte{cert.Certificate[0], cert.Certificate[0]}
	for name, raw := range map[string][][]byte{
		"no certificate":    nil,
		"two certificates":  tooMany,
		"garbage":           {[]byte("not a certificate")},
		"broken signature":  {broken},
		"ECDSA key":         {ecdsaCert(t)},
		"signed by another": {crossSigned(t)},
	} {
		if _, err := nodeIDFromCert(raw); !errors.Is(err, ErrBadCertificate) {
			t.Errorf("%s: err = %v, want ErrBadCertificate", name, err)
		}
	}
}

func ecdsaCert(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// crossSigned is a certificate over one Ed25519 key signed by another, so
// its holder's key did not sign it.
func crossSigned(t *testing.T) []byte {
	t.Helper()
	subject, signer := GenerateSecretKey(), GenerateSecretKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, subject.signer().Public(), signer.signer())
	if err != nil {
		t.Fatal(err)
	}
	return der
}
