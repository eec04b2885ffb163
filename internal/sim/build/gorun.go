package build

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// goEnv returns the environment for go commands: the caller's, with workspaces off so a go.work
// above the cache cannot change the build.
func goEnv(extra ...string) []string {
	return append(os.Environ(), append([]string{"GOWORK=off"}, extra...)...)
}

// goOutput runs a short go command and returns its standard output.
func (b *Builder) goOutput(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, b.goTool, args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", b.goTool, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// moduleDownload is the part of `go mod download -json` output that the recipes read.
type moduleDownload struct {
	Path    string
	Version string
	Dir     string
	GoMod   string
	Error   string
}

// downloadModule fetches module@version into the module cache and returns where it lives.
func (b *Builder) downloadModule(ctx context.Context, module, version string) (*moduleDownload, error) {
	dir := b.workDir("")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	fmt.Fprintf(b.progress, "download %s@%s\n", module, version)
	out, err := b.goOutput(ctx, dir, "mod", "download", "-json", module+"@"+version)
	if err != nil {
		return nil, fmt.Errorf("download %s@%s: %w", module, version, err)
	}
	var m moduleDownload
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("download %s@%s: parse go output: %w", module, version, err)
	}
	if m.Error != "" {
		return nil, fmt.Errorf("download %s@%s: %s", module, version, m.Error)
	}
	return &m, nil
}

// runGoBuild runs a long go command in dir, writes its full output to logPath and reports the
// number of packages compiled and the elapsed time every tick. label names the build in the
// progress lines.
func (b *Builder) runGoBuild(ctx context.Context, label, dir, logPath string, env []string, args ...string) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create build log: %w", err)
	}
	defer logFile.Close()

	cmd := exec.CommandContext(ctx, b.goTool, args...)
	cmd.Dir = dir
	cmd.Env = goEnv(env...)
	cmd.Stdout = logFile
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	// NOTE: go build -v prints each package path as it compiles it, one per line, so counting
	// lines without spaces counts compiled packages. Cached packages are not printed.
	var compiled atomic.Int64
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		scanner := bufio.NewScanner(pipe)
		scanner.Buffer(make([]byte, 0, 64*1024), 1024*1024)
		for scanner.Scan() {
			line := scanner.Text()
			fmt.Fprintln(logFile, line)
			if line != "" && !strings.ContainsAny(line, " \t") {
				compiled.Add(1)
			}
		}
		_, _ = io.Copy(logFile, pipe)
	}()

	start := time.Now()
	fmt.Fprintf(b.progress, "building %s (log: %s)\n", label, logPath)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", label, b.goTool, err)
	}
	waitDone := make(chan error, 1)
	go func() {
		<-scanDone
		waitDone <- cmd.Wait()
	}()

	ticker := time.NewTicker(b.tick)
	defer ticker.Stop()
	for {
		select {
		case err := <-waitDone:
			elapsed := time.Since(start).Round(time.Second)
			if err != nil {
				return fmt.Errorf("%s failed after %s: %w\n%s", label, elapsed, err, tailFile(logPath, 20))
			}
			fmt.Fprintf(b.progress, "built    %s: %d packages compiled in %s\n", label, compiled.Load(), elapsed)
			b.logger.Info("build finished", "build", label, "packages", compiled.Load(), "elapsed", elapsed)
			return nil
		case <-ticker.C:
			fmt.Fprintf(b.progress, "building %s: %d packages compiled, %s elapsed\n",
				label, compiled.Load(), time.Since(start).Round(time.Second))
		}
	}
}

// tailFile returns the last n lines of a file, for error messages.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// buildLogPath returns the log file path for a recipe's build inside its work directory.
func buildLogPath(workDir string) string { return filepath.Join(workDir, "build.log") }
