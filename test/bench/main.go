// Command bench measures the data path on Azurite and prints a Markdown table. Its rows are
// the raw SDK ceiling (receive, upsert and delete at the best of several concurrencies), the
// consumer binary at its default settings with its peak RSS, a one-message-at-a-time loop,
// and the producer next to the raw enqueue ceiling. Each measurement gets a fresh in-memory
// Azurite, so no run inherits another's data. Run it with `make bench`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		count       = flag.Int("count", 2000, "messages per consumer-side and producer-side measurement")
		singleCount = flag.Int("single-count", 300, "messages for the one-message-at-a-time loop")
		levels      = flag.String("concurrency-levels", "8,16,32,64", "concurrencies tried for the raw SDK ceilings")
		repeat      = flag.Int("repeat", 3, "runs of each measurement; the table keeps the fastest")
		latency     = flag.Duration("latency", 0, "delay added to every measured request through a loopback proxy, to model a network round trip (for example 10ms)")
	)
	flag.Parse()

	concurrencies, err := parseLevels(*levels)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	if *count < 100 || *singleCount < 10 || *repeat < 1 || *latency < 0 {
		fmt.Fprintln(os.Stderr, "bench: --count must be at least 100, --single-count at least 10, --repeat at least 1 and --latency 0 or more")
		os.Exit(2)
	}

	b := &bench{count: *count, singleCount: *singleCount, concurrencies: concurrencies, repeat: *repeat, latency: *latency}
	report, err := b.run(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	fmt.Print(report)
}

func parseLevels(value string) ([]int, error) {
	var levels []int
	for _, field := range strings.Split(value, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("invalid --concurrency-levels %q: use positive whole numbers separated by commas", value)
		}
		levels = append(levels, n)
	}
	return levels, nil
}
