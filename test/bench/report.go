package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/aks-edw/aks-edw/internal/azurite"
)

// Targets the numbers are held to.
const (
	consumerShareOfCeiling = 0.5
	consumerOverSingle     = 20.0
	producerShareOfRaw     = 0.9
	consumerMaxRSSMiB      = 40.0
)

func report(b *bench, results []result, rawCeiling, consumer, single, rawEnqueue, producer result) string {
	var out strings.Builder
	fmt.Fprintf(&out, "%s\n\n", environmentLine(b))
	fmt.Fprintln(&out, "| loop | concurrency | messages | seconds | messages/s | consumer peak RSS |")
	fmt.Fprintln(&out, "|---|---:|---:|---:|---:|---:|")
	for _, r := range results {
		rss := "–"
		if r.peakRSSKiB > 0 {
			rss = fmt.Sprintf("%.1f MiB", float64(r.peakRSSKiB)/1024)
		}
		fmt.Fprintf(&out, "| %s | %s | %d | %.2f | %.0f | %s |\n", r.name, r.concurrency, r.messages, r.elapsed.Seconds(), r.rate(), rss)
	}

	consumerRSSMiB := float64(consumer.peakRSSKiB) / 1024
	fmt.Fprintln(&out)
	fmt.Fprintln(&out, "| target | measured | met |")
	fmt.Fprintln(&out, "|---|---:|---|")
	target(&out, fmt.Sprintf("consumer ≥ %.0f%% of the raw ceiling", consumerShareOfCeiling*100),
		fmt.Sprintf("%.0f%%", 100*consumer.rate()/rawCeiling.rate()), consumer.rate() >= consumerShareOfCeiling*rawCeiling.rate())
	target(&out, fmt.Sprintf("consumer ≥ %.0fx one-at-a-time", consumerOverSingle),
		fmt.Sprintf("%.1fx", consumer.rate()/single.rate()), consumer.rate() >= consumerOverSingle*single.rate())
	target(&out, fmt.Sprintf("producer ≥ %.0f%% of raw enqueue", producerShareOfRaw*100),
		fmt.Sprintf("%.0f%%", 100*producer.rate()/rawEnqueue.rate()), producer.rate() >= producerShareOfRaw*rawEnqueue.rate())
	target(&out, fmt.Sprintf("consumer peak RSS ≤ %.0f MiB", consumerMaxRSSMiB),
		fmt.Sprintf("%.1f MiB", consumerRSSMiB), consumer.peakRSSKiB > 0 && consumerRSSMiB <= consumerMaxRSSMiB)
	return out.String()
}

func target(out *strings.Builder, name, measured string, met bool) {
	verdict := "no"
	if met {
		verdict = "yes"
	}
	fmt.Fprintf(out, "| %s | %s | %s |\n", name, measured, verdict)
}

// environmentLine describes the software and hardware the numbers come from.
func environmentLine(b *bench) string {
	link := "loopback, no added latency"
	if b.latency > 0 {
		link = fmt.Sprintf("every measured request delayed %s by a loopback proxy", b.latency)
	}
	return fmt.Sprintf("Azurite %s (in-memory, a fresh instance per run) on Node %s; %s %s/%s; %d CPUs: %s; %s RAM; %s. "+
		"Consumer-side rows drain %d preloaded messages (one-at-a-time: %d); producer-side rows send %d. "+
		"Each figure is the fastest of %d rounds; load average %s at the end.",
		azuriteVersion(), nodeVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), memTotal(), link,
		b.count, b.singleCount, b.count, b.repeat, loadAverage())
}

func azuriteVersion() string {
	root, err := azurite.RepoRoot()
	if err != nil {
		return "unknown"
	}
	data, err := os.ReadFile(filepath.Join(root, "tools/azurite/node_modules/azurite/package.json"))
	if err != nil {
		return "unknown"
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(data, &pkg) != nil {
		return "unknown"
	}
	return pkg.Version
}

func nodeVersion() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
}

func procField(path, key string) string {
	file, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		name, value, ok := strings.Cut(scanner.Text(), ":")
		if ok && strings.TrimSpace(name) == key {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

func cpuModel() string { return procField("/proc/cpuinfo", "model name") }

func memTotal() string {
	value := procField("/proc/meminfo", "MemTotal")
	var kib int64
	if _, err := fmt.Sscanf(value, "%d kB", &kib); err != nil {
		return value
	}
	return fmt.Sprintf("%.0f GiB", float64(kib)/1024/1024)
}
