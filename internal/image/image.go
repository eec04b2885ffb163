// Package image builds a container image for one static Go binary without a base image, a
// registry or a Docker engine, so that it works offline. The image has two layers: a small
// root file system (CA certificates, /etc/passwd and /etc/group with the nonroot user
// 65532, /tmp and the user's home directory) and the binary in /usr/local/bin. It runs as
// 65532:65532 and writes nothing to its root file system, so it runs with
// readOnlyRootFilesystem.
//
// The result is written as a `docker save` tarball, which `kind load image-archive` and
// `docker load` read. Files have fixed timestamps, so the same inputs give the same digest.
package image

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The user the image runs as: the same numeric IDs and name as the nonroot user of the
// distroless base images, so both kinds of image behave alike under Pod Security.
const (
	UID      = 65532
	GID      = 65532
	UserName = "nonroot"
)

// Paths inside the image.
const (
	BinaryDir  = "/usr/local/bin"
	CACertFile = "/etc/ssl/certs/ca-certificates.crt"
	HomeDir    = "/home/nonroot"
)

// DefaultCABundles are the CA bundle paths of common Linux distributions and macOS, tried in
// order when Config.CABundle is empty.
var DefaultCABundles = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/ca-bundle.pem",             // openSUSE
	"/etc/ssl/cert.pem",                  // macOS, Alpine
}

// Config describes one image.
type Config struct {
	// Binary is the path of a statically linked Linux executable.
	Binary string
	// Name is the file name of the binary in BinaryDir; the default is the base name of
	// Binary.
	Name string
	// CABundle is a PEM file of CA certificates, copied to CACertFile. Empty picks the first
	// of DefaultCABundles that exists.
	CABundle string
	// ExposedPorts are documentation for `docker inspect`, such as "8080/tcp".
	ExposedPorts []string
	// Env entries (KEY=VALUE) are added after PATH and SSL_CERT_FILE.
	Env []string
	// Labels are the image's OCI labels.
	Labels map[string]string
	// Created is the image creation time and the time stamp of every file. The zero value
	// means the Unix epoch, which keeps builds reproducible.
	Created time.Time
}

// Build returns the image for cfg. It rejects a binary that is not a statically linked ELF
// executable, because nothing in the image could run a dynamic loader or shared library.
func Build(cfg Config) (v1.Image, error) {
	binary, arch, err := readStaticBinary(cfg.Binary)
	if err != nil {
		return nil, err
	}
	caBundle, err := readCABundle(cfg.CABundle)
	if err != nil {
		return nil, err
	}
	name := cfg.Name
	if name == "" {
		name = filepath.Base(cfg.Binary)
	}
	created := cfg.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()

	base, err := layer(baseFiles(caBundle, created))
	if err != nil {
		return nil, fmt.Errorf("build the root file system layer: %w", err)
	}
	app, err := layer(appFiles(name, binary, created))
	if err != nil {
		return nil, fmt.Errorf("build the binary layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, base, app)
	if err != nil {
		return nil, fmt.Errorf("add the layers: %w", err)
	}

	configFile, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read the empty image config: %w", err)
	}
	configFile = configFile.DeepCopy()
	configFile.OS = "linux"
	configFile.Architecture = arch
	configFile.Created = v1.Time{Time: created}
	configFile.Author = "edwctl image"
	configFile.Config = v1.Config{
		User:       strconv.Itoa(UID) + ":" + strconv.Itoa(GID),
		Entrypoint: []string{path.Join(BinaryDir, name)},
		Env: append([]string{
			"PATH=/usr/local/bin:/usr/bin:/bin",
			"SSL_CERT_FILE=" + CACertFile,
			"HOME=" + HomeDir,
		}, cfg.Env...),
		WorkingDir: "/",
		Labels:     cfg.Labels,
	}
	if len(cfg.ExposedPorts) > 0 {
		configFile.Config.ExposedPorts = map[string]struct{}{}
		for _, port := range cfg.ExposedPorts {
			configFile.Config.ExposedPorts[port] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, configFile)
	if err != nil {
		return nil, fmt.Errorf("set the image config: %w", err)
	}
	return img, nil
}

// WriteTarball writes img as a `docker save` tarball to path, tagged with tag (such as
// "aks-edw-consumer:dev"), creating the directory of path.
func WriteTarball(path, tag string, img v1.Image) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("image tag %q is invalid: %w; write it as repository:tag, such as aks-edw-consumer:dev", tag, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create the directory of %s: %w", path, err)
	}
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		return fmt.Errorf("write image tarball %s: %w", path, err)
	}
	return nil
}

// readStaticBinary returns the binary's content and its GOARCH, or an error when it is not
// a statically linked Linux ELF executable.
func readStaticBinary(path string) ([]byte, string, error) {
	if path == "" {
		return nil, "", errors.New("no binary given: build one with CGO_ENABLED=0 GOOS=linux go build")
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read the binary: %w", err)
	}
	file, err := elf.NewFile(bytes.NewReader(content))
	if err != nil {
		return nil, "", fmt.Errorf("%s is not an ELF executable (%v); build it with GOOS=linux", path, err)
	}
	defer file.Close()

	if file.Type != elf.ET_EXEC && file.Type != elf.ET_DYN {
		return nil, "", fmt.Errorf("%s is an ELF %s, not an executable", path, file.Type)
	}
	for _, prog := range file.Progs {
		if prog.Type == elf.PT_INTERP {
			interpreter, _ := io.ReadAll(prog.Open())
			return nil, "", fmt.Errorf("%s is dynamically linked (interpreter %s); build it with CGO_ENABLED=0 so that it runs without a C library", path, bytes.TrimRight(interpreter, "\x00"))
		}
	}
	if libraries, err := file.ImportedLibraries(); err == nil && len(libraries) > 0 {
		return nil, "", fmt.Errorf("%s needs shared libraries %v; build it with CGO_ENABLED=0", path, libraries)
	}

	arch, ok := map[elf.Machine]string{
		elf.EM_X86_64:  "amd64",
		elf.EM_AARCH64: "arm64",
		elf.EM_386:     "386",
		elf.EM_ARM:     "arm",
		elf.EM_PPC64:   "ppc64le",
		elf.EM_S390:    "s390x",
		elf.EM_RISCV:   "riscv64",
	}[file.Machine]
	if !ok {
		return nil, "", fmt.Errorf("%s is built for %s, which this builder does not map to a GOARCH", path, file.Machine)
	}
	return content, arch, nil
}

// readCABundle returns the PEM bundle at path, or at the first of DefaultCABundles, after
// checking that it holds at least one certificate.
func readCABundle(path string) ([]byte, error) {
	candidates := DefaultCABundles
	if path != "" {
		candidates = []string{path}
	}
	for _, candidate := range candidates {
		content, err := os.ReadFile(candidate)
		if os.IsNotExist(err) && path == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the CA bundle: %w", err)
		}
		if certificates := countCertificates(content); certificates == 0 {
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate; pass --ca-bundle with a PEM file of CA certificates", candidate)
		}
		return content, nil
	}
	return nil, fmt.Errorf("no CA bundle found at %v; install the ca-certificates package or pass --ca-bundle with a PEM file", DefaultCABundles)
}

func countCertificates(content []byte) int {
	count := 0
	for {
		var block *pem.Block
		block, content = pem.Decode(content)
		if block == nil {
			return count
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err == nil {
			count++
		}
	}
}

// file is one entry of a layer.
type file struct {
	header  tar.Header
	content []byte
}

func directory(name string, mode int64, uid, gid int, modTime time.Time) file {
	return file{header: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: gid, ModTime: modTime}}
}

func regular(name string, mode int64, uid, gid int, modTime time.Time, content []byte) file {
	return file{header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: uid, Gid: gid, ModTime: modTime, Size: int64(len(content))}, content: content}
}

func baseFiles(caBundle []byte, modTime time.Time) []file {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", UserName, UID, GID, UserName, HomeDir)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", UserName, GID)
	return []file{
		directory("etc", 0o755, 0, 0, modTime),
		regular("etc/passwd", 0o644, 0, 0, modTime, []byte(passwd)),
		regular("etc/group", 0o644, 0, 0, modTime, []byte(group)),
		directory("etc/ssl", 0o755, 0, 0, modTime),
		directory("etc/ssl/certs", 0o755, 0, 0, modTime),
		regular(CACertFile[1:], 0o644, 0, 0, modTime, caBundle),
		directory("home", 0o755, 0, 0, modTime),
		directory(HomeDir[1:], 0o700, UID, GID, modTime),
		directory("root", 0o700, 0, 0, modTime),
		// /tmp exists for programs that expect it. With readOnlyRootFilesystem it is writable
		// only when a volume is mounted there.
		directory("tmp", 0o1777, 0, 0, modTime),
	}
}

func appFiles(name string, binary []byte, modTime time.Time) []file {
	return []file{
		directory("usr", 0o755, 0, 0, modTime),
		directory("usr/local", 0o755, 0, 0, modTime),
		directory(BinaryDir[1:], 0o755, 0, 0, modTime),
		regular(path.Join(BinaryDir[1:], name), 0o755, 0, 0, modTime, binary),
	}
}

// layer builds an uncompressed tar of files in memory and wraps it as a gzip-compressed
// layer.
func layer(files []file) (v1.Layer, error) {
	var buffer bytes.Buffer
	writer := tar.NewWriter(&buffer)
	for _, f := range files {
		header := f.header
		header.Format = tar.FormatPAX
		if err := writer.WriteHeader(&header); err != nil {
			return nil, fmt.Errorf("write tar header of %s: %w", header.Name, err)
		}
		if _, err := writer.Write(f.content); err != nil {
			return nil, fmt.Errorf("write %s: %w", header.Name, err)
		}
	}
	if err := writer.Close(); err != nil {
		return nil, err
	}
	content := buffer.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	})
}
