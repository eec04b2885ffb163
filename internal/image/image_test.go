package image_test

// This file tests the offline image builder. It builds a real static Go binary, packs it into
// an image tarball and loads the tarball back with go-containerregistry. Then it checks the
// config (user, entrypoint, environment), the layers and their files, and that the binary
// taken out of the image still runs.

import (
	"archive/tar"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/image"
)

// staticBinary is a program that prints a fixed line, built once with cgo off by TestMain.
var staticBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "image-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	staticBinary, err = buildStaticBinary(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildStaticBinary(dir string) (string, error) {
	source := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from the image\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(source), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	binary := filepath.Join(dir, "consumer")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-o", binary, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the test binary failed: %v\n%s", err, output)
	}
	return binary, nil
}

// writeCABundle writes a PEM file with one self-signed CA certificate.
func writeCABundle(t *testing.T) (string, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "aks-edw test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	require.NoError(t, err)
	content := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, content, 0o644))
	return path, content
}

// layerFiles reads every entry of an uncompressed layer.
func layerFiles(t *testing.T, reader io.ReadCloser) map[string]*tar.Header {
	t.Helper()
	defer reader.Close()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(reader)
	for {
		header, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return headers
		}
		require.NoError(t, err)
		headers[header.Name] = header
	}
}

func readLayerFile(t *testing.T, reader io.ReadCloser, name string) []byte {
	t.Helper()
	defer reader.Close()
	tr := tar.NewReader(reader)
	for {
		header, err := tr.Next()
		require.NoError(t, err, "%s not in the layer", name)
		if header.Name == name {
			content, err := io.ReadAll(tr)
			require.NoError(t, err)
			return content
		}
	}
}

func TestTarballLoadsAsImageWithNonrootConfig(t *testing.T) {
	binary := staticBinary
	caPath, caContent := writeCABundle(t)
	output := filepath.Join(t.TempDir(), "images", "consumer.tar")

	t.Log("Building the image and writing the tarball")
	img, err := image.Build(image.Config{
		Binary:       binary,
		CABundle:     caPath,
		ExposedPorts: []string{"8080/tcp"},
		Labels:       map[string]string{"org.opencontainers.image.title": "aks-edw-consumer"},
	})
	require.NoError(t, err)
	require.NoError(t, image.WriteTarball(output, "aks-edw-consumer:dev", img))

	t.Log("Loading the tarball back as an image")
	tag, err := name.NewTag("aks-edw-consumer:dev")
	require.NoError(t, err)
	loaded, err := tarball.ImageFromPath(output, &tag)
	require.NoError(t, err)

	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(output) })
	require.NoError(t, err)
	require.Len(t, manifest, 1)
	assert.Equal(t, []string{"aks-edw-consumer:dev"}, manifest[0].RepoTags)

	t.Log("Checking the image config")
	config, err := loaded.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "65532:65532", config.Config.User)
	assert.Equal(t, []string{"/usr/local/bin/consumer"}, config.Config.Entrypoint)
	assert.Empty(t, config.Config.Cmd)
	assert.Contains(t, config.Config.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
	assert.Equal(t, "linux", config.OS)
	assert.Equal(t, runtime.GOARCH, config.Architecture)
	assert.Contains(t, config.Config.ExposedPorts, "8080/tcp")
	assert.Equal(t, "aks-edw-consumer", config.Config.Labels["org.opencontainers.image.title"])
	assert.Equal(t, time.Unix(0, 0).UTC(), config.Created.UTC())

	t.Log("Checking the two layers and their files")
	layers, err := loaded.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 2)
	require.Len(t, config.RootFS.DiffIDs, 2)

	baseReader, err := layers[0].Uncompressed()
	require.NoError(t, err)
	base := layerFiles(t, baseReader)
	assert.Equal(t, int64(0o1777), base["tmp/"].Mode)
	assert.Equal(t, image.UID, base["home/nonroot/"].Uid)
	assert.Equal(t, int64(0o644), base["etc/ssl/certs/ca-certificates.crt"].Mode)

	passwdReader, err := layers[0].Uncompressed()
	require.NoError(t, err)
	assert.Contains(t, string(readLayerFile(t, passwdReader, "etc/passwd")), "nonroot:x:65532:65532:")
	caReader, err := layers[0].Uncompressed()
	require.NoError(t, err)
	assert.Equal(t, caContent, readLayerFile(t, caReader, "etc/ssl/certs/ca-certificates.crt"))

	appReader, err := layers[1].Uncompressed()
	require.NoError(t, err)
	app := layerFiles(t, appReader)
	entry := app["usr/local/bin/consumer"]
	require.NotNil(t, entry)
	assert.Equal(t, int64(0o755), entry.Mode)
	assert.Equal(t, 0, entry.Uid, "the binary belongs to root, so the nonroot user cannot change it")

	t.Log("Running the binary taken out of the image")
	binaryReader, err := layers[1].Uncompressed()
	require.NoError(t, err)
	extracted := filepath.Join(t.TempDir(), "consumer")
	require.NoError(t, os.WriteFile(extracted, readLayerFile(t, binaryReader, "usr/local/bin/consumer"), 0o755))
	if runtime.GOOS == "linux" {
		out, err := exec.Command(extracted).Output()
		require.NoError(t, err)
		assert.Equal(t, "hello from the image\n", string(out))
	}
}

func TestBuildIsReproducible(t *testing.T) {
	binary := staticBinary
	caPath, _ := writeCABundle(t)

	first, err := image.Build(image.Config{Binary: binary, CABundle: caPath})
	require.NoError(t, err)
	second, err := image.Build(image.Config{Binary: binary, CABundle: caPath})
	require.NoError(t, err)

	firstDigest, err := first.Digest()
	require.NoError(t, err)
	secondDigest, err := second.Digest()
	require.NoError(t, err)
	assert.Equal(t, firstDigest, secondDigest)
}

func TestBuildRejectsUnusableInputs(t *testing.T) {
	caPath, _ := writeCABundle(t)
	script := filepath.Join(t.TempDir(), "run.sh")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755))
	notPEM := filepath.Join(t.TempDir(), "bundle.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644))
	binary := staticBinary

	tests := []struct {
		name    string
		cfg     image.Config
		wantErr string
	}{
		{"no binary", image.Config{CABundle: caPath}, "no binary given"},
		{"missing binary", image.Config{Binary: filepath.Join(t.TempDir(), "absent"), CABundle: caPath}, "read the binary"},
		{"shell script", image.Config{Binary: script, CABundle: caPath}, "is not an ELF executable"},
		{"bundle without certificates", image.Config{Binary: binary, CABundle: notPEM}, "holds no PEM certificate"},
		{"missing bundle", image.Config{Binary: binary, CABundle: filepath.Join(t.TempDir(), "absent.pem")}, "read the CA bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := image.Build(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestBuildRejectsDynamicBinary(t *testing.T) {
	// Any dynamically linked system program serves. /bin/sh is one on most Linux systems.
	resolved, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil || runtime.GOOS != "linux" {
		t.Skip("no /bin/sh on this system")
	}
	if !hasInterpreter(t, resolved) {
		t.Skipf("%s is statically linked here", resolved)
	}
	caPath, _ := writeCABundle(t)

	_, err = image.Build(image.Config{Binary: resolved, CABundle: caPath})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is dynamically linked")
	assert.Contains(t, err.Error(), "CGO_ENABLED=0")
}

func TestWriteTarballRejectsInvalidTag(t *testing.T) {
	binary := staticBinary
	caPath, _ := writeCABundle(t)
	img, err := image.Build(image.Config{Binary: binary, CABundle: caPath})
	require.NoError(t, err)

	err = image.WriteTarball(filepath.Join(t.TempDir(), "out.tar"), "Not A Tag", img)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `image tag "Not A Tag" is invalid`)
}

func TestDefaultCABundleComesFromHost(t *testing.T) {
	found := false
	for _, path := range image.DefaultCABundles {
		if _, err := os.Stat(path); err == nil {
			found = true
		}
	}
	if !found {
		t.Skip("no CA bundle at any default path on this host")
	}
	_, err := image.Build(image.Config{Binary: staticBinary})
	require.NoError(t, err)
}

func hasInterpreter(t *testing.T, path string) bool {
	t.Helper()
	file, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer file.Close()
	for _, prog := range file.Progs {
		if prog.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}
