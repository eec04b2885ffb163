// Package cmd assembles the edwctl command tree. Each subcommand lives in a package of its own
// below this one and only parses flags; the work is done by libraries under internal/.
package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
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

	return root
}

// Main runs edwctl with args and returns the process exit status. SIGINT and SIGTERM cancel the
// command's context, so long steps stop and clean up.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root := NewRootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}

	fmt.Fprintf(os.Stderr, "edwctl: %v\n", err)
	if config.IsUsage(err) {
		return ExitUsage
	}
	return 1
}
