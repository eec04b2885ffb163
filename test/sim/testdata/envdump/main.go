// Command envdump replaces the consumer in the simulated cluster's smoke test. It writes
// the variables the test checks to $ENVDUMP_DIR/$POD_NAME.env when it starts, and writes
// $POD_NAME.terminated when SIGTERM arrives, so the test can see that the pod runner passed the
// pod's environment and stopped the process when the pod went away.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// checkedVariables are the variables written to the .env file, one NAME=value per line.
var checkedVariables = []string{"POD_NAME", "SMOKE_SECRET", "SMOKE_CONFIG", "SMOKE_EXPANDED", "EDW_HTTP_ADDR"}

func main() {
	dir := os.Getenv("ENVDUMP_DIR")
	pod := os.Getenv("POD_NAME")
	if dir == "" || pod == "" {
		fmt.Fprintln(os.Stderr, "envdump: ENVDUMP_DIR and POD_NAME must be set")
		os.Exit(2)
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM)

	var lines []string
	for _, name := range checkedVariables {
		lines = append(lines, name+"="+os.Getenv(name))
	}
	if err := os.WriteFile(filepath.Join(dir, pod+".env"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "envdump:", err)
		os.Exit(1)
	}
	fmt.Println("envdump: started for pod", pod)

	<-signals
	if err := os.WriteFile(filepath.Join(dir, pod+".terminated"), nil, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "envdump:", err)
		os.Exit(1)
	}
	fmt.Println("envdump: SIGTERM received; exiting")
}
