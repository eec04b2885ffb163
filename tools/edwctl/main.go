// Command edwctl checks, installs and watches the aks-edw workload: preflight, chart
// install/upgrade/uninstall through the Helm SDK, status and live watch, Azure deploy/destroy,
// the local Azurite run and the simulated cluster.
package main

import (
	"os"

	"github.com/aks-edw/aks-edw/tools/edwctl/internal/cmd"
)

func main() {
	os.Exit(cmd.Main(os.Args[1:]))
}
