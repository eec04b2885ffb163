package image_test

// This file checks the Dockerfiles in src/, which cannot be built here (no Docker engine),
// against the same rules as the offline builder: a multi-stage build of a static binary
// (CGO_ENABLED=0), a final stage without a shell or C library, a numeric non-root user and
// an exec-form entrypoint. It also checks that the Go version of the build stage matches
// go.mod and that every path the build copies exists and is in the build context that
// edwctl deploy uploads.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aks-edw/aks-edw/internal/deploy"
	"github.com/aks-edw/aks-edw/internal/image"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	keyword string
	args    string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	content, err := os.ReadFile(path)
	require.NoError(t, err)

	var instructions []instruction
	var pending string
	for _, line := range strings.Split(string(content), "\n") {
		trimmed := strings.TrimSpace(line)
		if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			pending += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		full := pending + trimmed
		pending = ""
		keyword, args, _ := strings.Cut(full, " ")
		instructions = append(instructions, instruction{keyword: strings.ToUpper(keyword), args: strings.TrimSpace(args)})
	}
	return instructions
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		require.NotEqual(t, dir, filepath.Dir(dir), "no go.mod above the test directory")
		dir = filepath.Dir(dir)
	}
}

func TestDockerfilesBuildStaticNonrootImages(t *testing.T) {
	root := moduleRoot(t)
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(goMod)
	require.NotNil(t, goVersion, "go.mod has no go directive")

	for _, component := range []string{"consumer", "producer"} {
		t.Run(component, func(t *testing.T) {
			instructions := parseDockerfile(t, filepath.Join(root, "src", component, "Dockerfile"))

			var froms, runs, copies []string
			var user, entrypoint, goVersionArg string
			for _, in := range instructions {
				switch in.keyword {
				case "FROM":
					froms = append(froms, in.args)
				case "RUN":
					runs = append(runs, in.args)
				case "COPY":
					copies = append(copies, in.args)
				case "USER":
					user = in.args
				case "ENTRYPOINT":
					entrypoint = in.args
				case "ARG":
					if value, ok := strings.CutPrefix(in.args, "GO_VERSION="); ok {
						goVersionArg = value
					}
				}
			}

			t.Log("Checking the stages")
			require.GreaterOrEqual(t, len(froms), 2, "the build is multi-stage")
			assert.Equal(t, "golang:${GO_VERSION} AS build", froms[0])
			assert.Equal(t, string(goVersion[1]), goVersionArg, "the build stage's Go version matches go.mod")
			final := froms[len(froms)-1]
			assert.Regexp(t, `^(gcr\.io/distroless/static(-debian\d+)?:nonroot|scratch)$`, final, "the final stage has no shell and no C library")

			t.Log("Checking the build")
			build := strings.Join(runs, "\n")
			assert.Contains(t, build, "CGO_ENABLED=0")
			assert.Contains(t, build, "GOOS=linux")
			assert.Contains(t, build, "./src/"+component)

			t.Log("Checking the runtime user and the entrypoint")
			assert.Equal(t, "65532:65532", user)
			assert.Equal(t, image.UID, 65532, "the offline builder uses the same user")
			var command []string
			require.NoError(t, json.Unmarshal([]byte(entrypoint), &command), "ENTRYPOINT is in exec form (a JSON array), so no shell is needed")
			assert.Equal(t, []string{image.BinaryDir + "/" + component}, command)

			t.Log("Checking that every copied path exists in the build context")
			for _, copy := range copies {
				if strings.HasPrefix(copy, "--from=") {
					continue
				}
				fields := strings.Fields(copy)
				for _, source := range fields[:len(fields)-1] {
					_, err := os.Stat(filepath.Join(root, source))
					assert.NoError(t, err, "COPY source %s", source)
					top := strings.SplitN(strings.Trim(source, "/"), "/", 2)[0]
					assert.Contains(t, deploy.BuildContextPaths, top, "COPY source %s is outside the context that edwctl deploy uploads", source)
				}
			}
		})
	}
}
