package sim

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ConsumerPackage is the consumer's main package, relative to the repository root.
const ConsumerPackage = "./src/consumer"

// BuildConsumer compiles the consumer from repoRoot into out with `go build`. It returns false,
// without error, when the repository has no consumer main package yet.
func BuildConsumer(ctx context.Context, repoRoot, out string) (bool, error) {
	matches, err := filepath.Glob(filepath.Join(repoRoot, ConsumerPackage, "*.go"))
	if err != nil || len(matches) == 0 {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return false, fmt.Errorf("build consumer: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ConsumerPackage)
	cmd.Dir = repoRoot
	output, err := cmd.CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("build consumer (go build %s): %w\n%s", ConsumerPackage, err, strings.TrimSpace(string(output)))
	}
	return true, nil
}
