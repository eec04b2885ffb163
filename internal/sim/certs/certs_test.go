// Tests for the generated KEDA certificates. The leaf must verify against the CA for every
// name the operator and adapter are reached by. A mutual-TLS handshake on loopback must
// succeed with the same leaf on both sides, as KEDA's gRPC metrics service uses it.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenerateVerifiesForEveryName(t *testing.T) {
	names := append([]string{"localhost"}, ServiceNames("keda-operator", "keda")...)
	bundle, err := Generate(names, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour)
	require.NoError(t, err)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(bundle.CA))
	block, _ := pem.Decode(bundle.Cert)
	require.NotNil(t, block)
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)

	for _, name := range append(names, "127.0.0.1") {
		t.Run(name, func(t *testing.T) {
			_, err := leaf.Verify(x509.VerifyOptions{
				DNSName:   name,
				Roots:     pool,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			})
			assert.NoError(t, err)
		})
	}

	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool})
	assert.Error(t, err, "a name outside the SANs must not verify")
}

func TestWriteThenMutualTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	bundle, err := Generate([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour)
	require.NoError(t, err)
	require.NoError(t, bundle.Write(dir))

	info, err := os.Stat(filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the private key must be readable by the owner only")

	// Load the files back as KEDA does and handshake over loopback, both sides presenting the leaf.
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))

	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	require.NoError(t, err)
	defer listener.Close()
	serverErr := make(chan error, 1)
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		_, err = conn.Write([]byte("ok"))
		serverErr <- err
	}()

	conn, err := tls.Dial("tcp", listener.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS12,
	})
	require.NoError(t, err)
	defer conn.Close()
	got, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(got))
	assert.NoError(t, <-serverErr)
}
