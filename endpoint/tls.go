package endpoint

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// Node identity over TLS 1.3.
//
// Each endpoint makes a self-signed X.509 certificate over its Ed25519 key
// when it opens. There is no CA: the certificate only carries the public key,
// and TLS 1.3's CertificateVerify proves the peer holds the matching secret
// key. Both sides present a certificate. Go's chain verification cannot
// express "this self-signed key is the one I expected", so it is turned off
// (InsecureSkipVerify) and replaced by verifyPeerCert, which every config
// built here installs.
//
// Session tickets are off on both sides: a resumed session skips
// VerifyPeerCertificate, and the node id must be checked on every handshake.

// newCertificate returns a self-signed certificate over k. Validity dates are
// wide and not checked by peers, so clock skew cannot break a connection.
func newCertificate(k SecretKey) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "docsnode " + k.Public().String()},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(100 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.signer().Public(), k.signer())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k.signer()}, nil
}

// nodeIDFromCert checks that der is one self-signed certificate over an
// Ed25519 key and returns that key as a NodeID.
func nodeIDFromCert(rawCerts [][]byte) (NodeID, error) {
	if len(rawCerts) != 1 {
		return NodeID{}, fmt.Errorf("%w: got %d certificates, want 1", ErrBadCertificate, len(rawCerts))
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return NodeID{}, fmt.Errorf("%w: %v", ErrBadCertificate, err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || cert.PublicKeyAlgorithm != x509.Ed25519 {
		return NodeID{}, fmt.Errorf("%w: public key is %v", ErrBadCertificate, cert.PublicKeyAlgorithm)
	}
	// CheckSignatureFrom would demand CA flags; the check that matters is
	// that the key inside signed the certificate.
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return NodeID{}, fmt.Errorf("%w: self-signature: %v", ErrBadCertificate, err)
	}
	var id NodeID
	copy(id[:], pub)
	return id, nil
}

// serverTLSConfig is the listener's base config; nextProtos are the
// registered protocols at the time of the handshake.
func serverTLSConfig(cert tls.Certificate, nextProtos []string) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cert},
		ClientAuth:             tls.RequireAnyClientCert,
		InsecureSkipVerify:     true, // replaced by VerifyPeerCertificate
		VerifyPeerCertificate:  verifyAnyNode,
		SessionTicketsDisabled: true,
		NextProtos:             nextProtos,
	}
}

// clientTLSConfig is the config for one dial. verify sees the peer's node
// id and decides whether it is the one expected.
func clientTLSConfig(cert tls.Certificate, alpn string, verify func(NodeID) error) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			id, err := nodeIDFromCert(rawCerts)
			if err != nil {
				return err
			}
			return verify(id)
		},
		SessionTicketsDisabled: true,
		NextProtos:             []string{alpn},
	}
}

func verifyAnyNode(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	_, err := nodeIDFromCert(rawCerts)
	return err
}
