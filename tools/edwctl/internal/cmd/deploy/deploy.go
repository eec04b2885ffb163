// Package deploy holds the Azure deploy and destroy commands, which drive the az CLI.
package deploy

import "github.com/spf13/cobra"

// NewCommands returns the deploy and destroy commands.
func NewCommands() []*cobra.Command { return nil }
