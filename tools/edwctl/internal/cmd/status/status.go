// Package status holds the status and watch commands.
package status

import "github.com/spf13/cobra"

// NewCommands returns the status and watch commands.
func NewCommands() []*cobra.Command { return nil }
