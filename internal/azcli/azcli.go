// Package azcli runs the Azure CLI (az) as a child process and decodes its JSON output.
//
// Every call passes its arguments as a list, never through a shell, and adds --output json
// where the result is read. Errors carry the command, the exit status and
// the last lines az wrote to stderr. Nothing here handles secrets: no command reads keys,
// connection strings or tokens.
package azcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// DefaultBinary is the name of the Azure CLI executable, looked up on PATH.
const DefaultBinary = "az"

// ErrNotFound means the az executable is not on PATH.
var ErrNotFound = errors.New("the Azure CLI (az) is not on PATH")

// CLI runs az commands.
type CLI struct {
	binary string
	dir    string
	env    []string
	logger *slog.Logger
}

// Option configures a CLI.
type Option func(*CLI)

// WithBinary runs the az executable at path (or looked up on PATH by that name).
func WithBinary(path string) Option { return func(c *CLI) { c.binary = path } }

// WithDir runs az in dir, which matters for relative paths such as an `az acr build` context.
func WithDir(dir string) Option { return func(c *CLI) { c.dir = dir } }

// WithEnv adds KEY=VALUE entries to the environment of every az process.
func WithEnv(env ...string) Option { return func(c *CLI) { c.env = append(c.env, env...) } }

// WithLogger logs every command line at debug level and every failure at warn level.
func WithLogger(logger *slog.Logger) Option { return func(c *CLI) { c.logger = logger } }

// New returns a CLI. By default it runs `az` from PATH and discards its logs.
func New(opts ...Option) *CLI {
	c := &CLI{binary: DefaultBinary, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Error is an az command that exited with a non-zero status.
type Error struct {
	Args     []string
	ExitCode int
	// Stderr is the standard error output of az, trimmed.
	Stderr string
}

func (e *Error) Error() string {
	return fmt.Sprintf("az %s failed with exit status %d: %s", commandName(e.Args), e.ExitCode, e.Reason())
}

// Reason returns the lines of stderr that explain the failure: the ERROR lines az prints,
// or the last non-empty lines when there are none.
func (e *Error) Reason() string {
	var errorLines, lines []string
	for _, line := range strings.Split(e.Stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		lines = append(lines, line)
		if strings.HasPrefix(line, "ERROR:") || strings.HasPrefix(line, "(") || strings.HasPrefix(line, "Code:") || strings.HasPrefix(line, "Message:") {
			errorLines = append(errorLines, line)
		}
	}
	if len(errorLines) > 0 {
		lines = errorLines
	}
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	if len(lines) == 0 {
		return "no error output"
	}
	return strings.Join(lines, " | ")
}

// commandName returns the leading words of args up to the first flag, such as
// "deployment group create".
func commandName(args []string) string {
	var words []string
	for _, arg := range args {
		if strings.HasPrefix(arg, "-") {
			break
		}
		words = append(words, arg)
	}
	return strings.Join(words, " ")
}

// Path returns the absolute path of the az executable, or ErrNotFound.
func (c *CLI) Path() (string, error) {
	path, err := exec.LookPath(c.binary)
	if err != nil {
		return "", fmt.Errorf("%w (looked for %q): %v", ErrNotFound, c.binary, err)
	}
	return path, nil
}

// Run runs az with args and returns its stdout. A non-zero exit status returns an *Error.
func (c *CLI) Run(ctx context.Context, args ...string) ([]byte, error) {
	var stdout bytes.Buffer
	err := c.run(ctx, &stdout, nil, args)
	return stdout.Bytes(), err
}

// RunJSON runs az with args plus --output json and decodes stdout into out.
func (c *CLI) RunJSON(ctx context.Context, out any, args ...string) error {
	args = append(append([]string{}, args...), "--output", "json")
	stdout, err := c.Run(ctx, args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout), out); err != nil {
		return fmt.Errorf("az %s printed output that is not the expected JSON: %w", commandName(args), err)
	}
	return nil
}

// Stream runs az with args and copies its stdout and stderr to w as they arrive, for long
// commands whose progress the user should see (what-if, acr build). The *Error of a failure
// still carries stderr.
func (c *CLI) Stream(ctx context.Context, w io.Writer, args ...string) error {
	// stdout and stderr are copied by two goroutines, so writes to w are serialized.
	locked := &lockedWriter{w: w}
	return c.run(ctx, locked, locked, args)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (c *CLI) run(ctx context.Context, stdout, stderrCopy io.Writer, args []string) error {
	path, err := c.Path()
	if err != nil {
		return err
	}

	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = c.dir
	// AZURE_CORE_NO_COLOR keeps ANSI colour codes out of captured output, and
	// AZURE_CORE_ONLY_SHOW_ERRORS keeps warnings out of stderr so that failures are readable.
	cmd.Env = append(os.Environ(), "AZURE_CORE_NO_COLOR=true", "AZURE_CORE_ONLY_SHOW_ERRORS=true")
	cmd.Env = append(cmd.Env, c.env...)
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if stderrCopy != nil {
		cmd.Stderr = io.MultiWriter(&stderr, stderrCopy)
	}

	c.logger.Debug("running az", "command", commandName(args), "args", args)
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("az %s stopped: %w", commandName(args), ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		failure := &Error{Args: args, ExitCode: exitErr.ExitCode(), Stderr: strings.TrimSpace(stderr.String())}
		c.logger.Warn("az failed", "command", commandName(args), "exitCode", failure.ExitCode, "reason", failure.Reason())
		return failure
	}
	return fmt.Errorf("run az %s: %w", commandName(args), err)
}
