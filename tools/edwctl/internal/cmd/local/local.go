// Package local holds the local command: producer and consumer against Azurite on this machine.
package local

import "github.com/spf13/cobra"

// NewCommands returns the local command.
func NewCommands() []*cobra.Command { return nil }
