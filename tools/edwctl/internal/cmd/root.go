// Package cmd assembles the edwctl command tree. Each subcommand lives in a package of its own
// below this one and only parses flags; the work is done by libraries under internal/.
package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/tools/edwctl/internal/cmd/demo"
	"github.com/aks-edw/aks-edw/tools/edwctl/internal/cmd/deploy"
	"github.com/aks-edw/aks-edw/tools/edwctl/internal/cmd/install"
	"github.com/aks-edw/aks-edw/tools/edwctl/internal/cmd/local"
	"github.com/aks-edw/aks-edw/tools/edwctl/internal/cmd/sim"
	"github.com/aks-edw/aks-edw/tools/edwctl/internal/cmd/status"
)

// ExitUsage is the exit status for invalid flags or configuration, which subcommands report
// as a *config.UsageError.
const ExitUsage = 2

// NewRootCommand returns the edwctl command with every subcommand attached.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "edwctl",
		Short:         "Install, check and watch the aks-edw queue-driven workload",
		SilenceUsage:  true,
		SilenceErrors: true,
	}

	root.AddCommand(install.NewCommands()...)
	root.AddCommand(status.NewCommands()...)
	root.AddCommand(deploy.NewCommands()...)
	root.AddCommand(local.NewCommands()...)
	root.AddCommand(sim.NewCommands()...)
	root.AddCommand(demo.NewCommands()...)

	// Cobra reports bad flags and argument counts as plain errors, which would exit 1. Wrapping
	// them as usage errors makes them exit 2, like the programs' own usage errors.
	root.SetFlagErrorFunc(func(command *cobra.Command, err error) error {
		return usageError(command, err)
	})
	wrapArgs(root)

	return root
}

// usageError wraps err as a *config.UsageError that points to the command's help.
func usageError(command *cobra.Command, err error) error {
	return &config.UsageError{Err: fmt.Errorf("%w: run '%s --help'", err, command.CommandPath())}
}

// wrapArgs makes the argument validators of command and its subcommands return usage errors.
func wrapArgs(command *cobra.Command) {
	if validate := command.Args; validate != nil {
		command.Args = func(command *cobra.Command, args []string) error {
			if err := validate(command, args); err != nil {
				return usageError(command, err)
			}
			return nil
		}
	}
	for _, child := range command.Commands() {
		wrapArgs(child)
	}
}

// Main runs edwctl with args and returns the process exit status. SIGINT and SIGTERM cancel the
// command's context, so long steps stop and clean up.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root := NewRootCommand()
	root.SetArgs(args)
	command, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}

	// NOTE: cobra returns an unknown subcommand as a plain error whose only mark is this text
	// (cobra v1.10.2), and command is then the parent.
	if strings.HasPrefix(err.Error(), "unknown command ") && !config.IsUsage(err) {
		err = usageError(command, err)
	}

	fmt.Fprintf(os.Stderr, "edwctl: %v\n", err)
	if config.IsUsage(err) {
		return ExitUsage
	}
	return 1
}
