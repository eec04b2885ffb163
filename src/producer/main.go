// Command producer sends JSON messages to an Azure Storage queue. Run it with --help for the
// flags and their environment variables.
package main

import (
	"os"

	"github.com/aks-edw/aks-edw/src/producer/producer"
)

func main() {
	os.Exit(producer.Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
