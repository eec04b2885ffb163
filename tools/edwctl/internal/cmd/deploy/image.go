package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/image"
)

// components maps each program that the image command packages to the ports it serves.
var components = map[string][]string{
	"consumer": {"8080/tcp"},
	"producer": nil,
}

func newImageCommand() *cobra.Command {
	var (
		component  string
		pkg        string
		binary     string
		repository string
		tag        string
		output     string
		caBundle   string
		arch       string
		repoRoot   string
	)
	command := &cobra.Command{
		Use:   "image",
		Short: "Build the consumer or producer image as a tarball, offline and without Docker",
		Long: `Builds a static Linux binary with go build (CGO_ENABLED=0), unless --binary gives one, and
packs it with the host's CA certificates and a nonroot user (65532) into a two-layer image.
No base image is pulled and no Docker engine is needed. The tarball is in docker save format:

  kind load image-archive .work/images/consumer.tar --name <cluster>
  docker load -i .work/images/consumer.tar

The image is tagged <repository>:<tag>, by default aks-edw/consumer:dev, which is the chart's
default image repository, so a kind cluster runs it with --set image.tag=dev.`,
		Example: `  edwctl image --component consumer --tag dev
  edwctl image --component producer --binary ./bin/producer --output /tmp/producer.tar`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ports, known := components[component]
			if !known {
				return config.Invalid("--component %q is invalid: use consumer or producer", component)
			}
			if repository == "" {
				repository = "aks-edw/" + component
			}
			if output == "" {
				output = filepath.Join(".work", "images", component+".tar")
			}

			if binary == "" {
				if repoRoot == "" {
					root, err := findRepoRoot()
					if err != nil {
						return err
					}
					repoRoot = root
				}
				if pkg == "" {
					pkg = "./src/" + component
				}
				dir, err := os.MkdirTemp("", "edwctl-image-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				binary = filepath.Join(dir, component)
				fmt.Fprintf(cmd.ErrOrStderr(), "go build %s for linux/%s\n", pkg, arch)
				if err := goBuild(cmd, repoRoot, pkg, arch, binary); err != nil {
					return err
				}
			}

			img, err := image.Build(image.Config{
				Binary:       binary,
				Name:         component,
				CABundle:     caBundle,
				ExposedPorts: ports,
				Labels:       map[string]string{"org.opencontainers.image.title": "aks-edw-" + component},
			})
			if err != nil {
				return err
			}
			reference := repository + ":" + tag
			if err := image.WriteTarball(output, reference, img); err != nil {
				return err
			}
			digest, err := img.Digest()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s\n", output, reference, digest)
			return nil
		},
	}
	flags := command.Flags()
	flags.StringVar(&component, "component", "consumer", "program to package: consumer or producer")
	flags.StringVar(&pkg, "package", "", "Go package to build (default: ./src/<component>)")
	flags.StringVar(&binary, "binary", "", "prebuilt static Linux binary to package instead of running go build")
	flags.StringVar(&repository, "repository", "", "image repository in the tarball (default: aks-edw/<component>)")
	flags.StringVar(&tag, "tag", "dev", "image tag in the tarball")
	flags.StringVarP(&output, "output", "o", "", "tarball to write (default: .work/images/<component>.tar)")
	flags.StringVar(&caBundle, "ca-bundle", "", "PEM file of CA certificates to put in the image (default: the host's bundle)")
	flags.StringVar(&arch, "arch", runtime.GOARCH, "GOARCH to build for, such as amd64 or arm64")
	flags.StringVar(&repoRoot, "repo-root", "", "aks-edw checkout to build in (default: the nearest parent of the working directory that has bicep/main.bicep)")
	return command
}

// goBuild builds a static Linux binary of pkg into output.
func goBuild(cmd *cobra.Command, dir, pkg, arch, output string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go is not on PATH (%v): install Go, or pass --binary with a prebuilt static binary", err)
	}
	build := exec.CommandContext(cmd.Context(), goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", output, pkg)
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	build.Stdout = cmd.ErrOrStderr()
	var stderr strings.Builder
	build.Stderr = &stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build %s failed: %v\n%s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
