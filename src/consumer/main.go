// Command consumer turns Azure Storage queue messages into Azure Table rows. Run it with
// --help for the flags and their environment variables.
package main

import (
	"os"

	"github.com/aks-edw/aks-edw/src/consumer/consumer"
)

func main() {
	os.Exit(consumer.Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
