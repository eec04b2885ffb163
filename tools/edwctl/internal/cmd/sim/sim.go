// Package sim holds the simulated cluster commands: sim build, up, down and status.
package sim

import "github.com/spf13/cobra"

// NewCommands returns the sim command and its subcommands.
func NewCommands() []*cobra.Command { return nil }
