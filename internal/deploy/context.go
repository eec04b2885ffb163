package deploy

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// BuildContextPaths are the files and directories of the repository that the Dockerfiles in
// src/ copy. The image build uploads only these, not the whole checkout with its .work/
// state and build output.
var BuildContextPaths = []string{"go.mod", "go.sum", "internal", "src"}

// StageBuildContext copies BuildContextPaths from repoRoot into a new temporary directory
// and returns it with a function that removes it. Symbolic links are not followed.
func StageBuildContext(repoRoot string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "aks-edw-build-context-")
	if err != nil {
		return "", nil, fmt.Errorf("create the image build context: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	for _, path := range BuildContextPaths {
		if err := copyTree(filepath.Join(repoRoot, path), filepath.Join(dir, path)); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("copy %s into the image build context: %w", path, err)
		}
	}
	return dir, cleanup, nil
}

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		switch {
		case entry.IsDir():
			return os.MkdirAll(target, 0o755)
		case entry.Type().IsRegular():
			return copyFile(path, target)
		}
		return nil
	})
}

func copyFile(from, to string) error {
	source, err := os.Open(from)
	if err != nil {
		return err
	}
	defer source.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	target, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(target, source); err != nil {
		target.Close()
		return err
	}
	return target.Close()
}
