// Package install holds the chart lifecycle commands: preflight, install, upgrade, uninstall.
package install

import "github.com/spf13/cobra"

// NewCommands returns the preflight, install, upgrade and uninstall commands.
func NewCommands() []*cobra.Command { return nil }
