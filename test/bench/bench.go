package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/google/uuid"

	"github.com/aks-edw/aks-edw/internal/azurite"
	"github.com/aks-edw/aks-edw/internal/config"
	"github.com/aks-edw/aks-edw/internal/faultproxy"
	"github.com/aks-edw/aks-edw/internal/message"
	"github.com/aks-edw/aks-edw/internal/retry"
	"github.com/aks-edw/aks-edw/internal/storage"
	"github.com/aks-edw/aks-edw/src/producer/producer"
)

type bench struct {
	count         int
	singleCount   int
	concurrencies []int
	repeat        int
	// latency delays every request of the measured loops, through a proxy, to model the
	// network round trip to a real storage account. Zero sends them to Azurite directly.
	latency     time.Duration
	consumerBin string
}

// result is one row of the table.
type result struct {
	name        string
	concurrency string
	messages    int64
	elapsed     time.Duration
	// peakRSSKiB is the process's maximum resident set size, or 0 when not measured.
	peakRSSKiB int64
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.messages) / r.elapsed.Seconds()
}

// environment is a fresh Azurite with a queue, poison queue and table. The measured loops
// use names and clients, which go through the delaying proxies when there is a latency;
// preloading and checks use direct.
type environment struct {
	emulator *azurite.Server
	proxies  []*faultproxy.Proxy
	names    config.Storage
	clients  *storage.Clients
	direct   *storage.Clients
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func (b *bench) run(ctx context.Context) (string, error) {
	binDir, err := os.MkdirTemp("", "bench-bin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(binDir)
	progress("building the consumer")
	if b.consumerBin, err = buildConsumer(binDir); err != nil {
		return "", err
	}

	// Every round measures every loop once, so load from other work on a shared machine is
	// spread over all rows instead of falling on whichever ran at the wrong moment.
	drainBest := map[int]result{}
	enqueueBest := map[int]result{}
	var consumerResult, single, producerResult result
	for round := 1; round <= b.repeat; round++ {
		for _, concurrency := range b.concurrencies {
			progress("round %d/%d: raw receive + upsert + delete at concurrency %d", round, b.repeat, concurrency)
			if err := keepBest(drainBest, concurrency, func() (result, error) { return b.rawDrain(ctx, concurrency) }); err != nil {
				return "", err
			}
		}
		progress("round %d/%d: consumer binary at its defaults", round, b.repeat)
		if err := keepFastest(&consumerResult, func() (result, error) { return b.consumerDefaults(ctx) }); err != nil {
			return "", err
		}
		progress("round %d/%d: one message at a time", round, b.repeat)
		if err := keepFastest(&single, func() (result, error) { return b.singleLoop(ctx) }); err != nil {
			return "", err
		}
		for _, concurrency := range b.concurrencies {
			progress("round %d/%d: raw enqueue at concurrency %d", round, b.repeat, concurrency)
			if err := keepBest(enqueueBest, concurrency, func() (result, error) { return b.rawEnqueue(ctx, concurrency) }); err != nil {
				return "", err
			}
		}
		progress("round %d/%d: producer at its defaults", round, b.repeat)
		if err := keepFastest(&producerResult, func() (result, error) { return b.producerDefaults(ctx) }); err != nil {
			return "", err
		}
	}

	rawCeiling := ceiling("raw SDK receive(32) + upsert + delete", b.concurrencies, drainBest)
	rawEnqueue := ceiling("raw SDK enqueue", b.concurrencies, enqueueBest)
	results := []result{rawCeiling, consumerResult, single, rawEnqueue, producerResult}
	return report(b, results, rawCeiling, consumerResult, single, rawEnqueue, producerResult), nil
}

// keepFastest runs measure and stores its result in best if it is faster.
func keepFastest(best *result, measure func() (result, error)) error {
	r, err := measure()
	if err != nil {
		return err
	}
	if r.rate() > best.rate() {
		*best = r
	}
	return nil
}

// keepBest is keepFastest for the entry of best at concurrency.
func keepBest(best map[int]result, concurrency int, measure func() (result, error)) error {
	current := best[concurrency]
	if err := keepFastest(&current, measure); err != nil {
		return err
	}
	best[concurrency] = current
	return nil
}

// ceiling returns the fastest of results, named with every concurrency's rate.
func ceiling(name string, concurrencies []int, results map[int]result) result {
	var best result
	var tried []string
	for _, concurrency := range concurrencies {
		r := results[concurrency]
		tried = append(tried, fmt.Sprintf("%d: %.0f/s", concurrency, r.rate()))
		if r.rate() > best.rate() {
			best = r
		}
	}
	best.name = fmt.Sprintf("%s, best of %s", name, strings.Join(tried, ", "))
	return best
}

// newEnvironment starts an in-memory Azurite and creates the resources.
func (b *bench) newEnvironment(ctx context.Context) (*environment, error) {
	emulator, err := azurite.Start(ctx, azurite.WithInMemory())
	if err != nil {
		return nil, err
	}
	env := &environment{emulator: emulator}
	if err := env.connect(ctx, b.latency); err != nil {
		env.close()
		return nil, err
	}
	return env, nil
}

func (e *environment) connect(ctx context.Context, latency time.Duration) error {
	names := config.Storage{
		ConnectionString: e.emulator.ConnectionString(),
		EndpointSuffix:   config.DefaultEndpointSuffix,
		AuthMode:         config.AuthAuto,
		QueueName:        "bench",
		PoisonQueueName:  "bench-poison",
		TableName:        "bench",
	}
	var err error
	if e.direct, err = storage.New(names); err != nil {
		return err
	}
	if err := e.direct.CreateResources(ctx, retry.DefaultPolicy(30*time.Second, slog.New(slog.DiscardHandler))); err != nil {
		return err
	}
	if latency <= 0 {
		e.names, e.clients = names, e.direct
		return nil
	}

	var endpoints []string
	for _, endpoint := range []string{e.emulator.QueueEndpoint, e.emulator.TableEndpoint} {
		proxy, err := faultproxy.Start(strings.TrimSuffix(endpoint, "/"+azurite.AccountName))
		if err != nil {
			return err
		}
		proxy.SetDelay(latency)
		e.proxies = append(e.proxies, proxy)
		endpoints = append(endpoints, proxy.URL+"/"+azurite.AccountName)
	}
	names.ConnectionString = fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;QueueEndpoint=%s;TableEndpoint=%s;",
		azurite.AccountName, azurite.AccountKey, endpoints[0], endpoints[1])
	e.names = names
	e.clients, err = storage.New(names)
	return err
}

func (e *environment) close() {
	for _, proxy := range e.proxies {
		_ = proxy.Close()
	}
	_ = e.emulator.Stop()
}

// messageTexts returns n producer-style message texts with unique ids.
func messageTexts(n int) ([]string, error) {
	texts := make([]string, n)
	for i := range texts {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		body := message.Body{ID: id.String(), Msg: fmt.Sprintf("message %d", i), SrcStamp: message.FormatStamp(time.Now())}
		if texts[i], err = message.Encode(body, message.Text); err != nil {
			return nil, err
		}
	}
	return texts, nil
}

// enqueueAll sends texts on concurrency workers and returns the elapsed time.
func enqueueAll(ctx context.Context, queue *azqueue.QueueClient, texts []string, concurrency int) (time.Duration, error) {
	var next atomic.Int64
	var failure error
	var once sync.Once
	var workers sync.WaitGroup
	start := time.Now()
	for range concurrency {
		workers.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(texts)) || ctx.Err() != nil {
					return
				}
				if _, err := queue.EnqueueMessage(ctx, texts[i], nil); err != nil {
					once.Do(func() { failure = fmt.Errorf("enqueue: %s", retry.Describe(err)) })
					return
				}
			}
		})
	}
	workers.Wait()
	return time.Since(start), failure
}

// preloaded returns a fresh environment whose queue holds n messages.
func (b *bench) preloaded(ctx context.Context, n int) (*environment, error) {
	env, err := b.newEnvironment(ctx)
	if err != nil {
		return nil, err
	}
	texts, err := messageTexts(n)
	if err == nil {
		_, err = enqueueAll(ctx, env.direct.Queue, texts, 32)
	}
	if err != nil {
		env.close()
		return nil, err
	}
	return env, nil
}

// rawRow is the smallest row the raw loops write: keys and the message text.
type rawRow struct {
	PartitionKey string `json:"PartitionKey"`
	RowKey       string `json:"RowKey"`
	Data         string `json:"data"`
}

// upsertAndDelete is the raw loops' work for one message: no decoding or validation.
func upsertAndDelete(ctx context.Context, clients *storage.Clients, m *azqueue.DequeuedMessage) error {
	partitionKey, rowKey, err := message.RowKeys(*m.MessageID)
	if err != nil {
		return err
	}
	entity, err := json.Marshal(rawRow{PartitionKey: partitionKey, RowKey: rowKey, Data: *m.MessageText})
	if err != nil {
		return err
	}
	if _, err := clients.Table.UpsertEntity(ctx, entity, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		return fmt.Errorf("upsert: %s", retry.Describe(err))
	}
	if _, err := clients.Queue.DeleteMessage(ctx, *m.MessageID, *m.PopReceipt, nil); err != nil {
		return fmt.Errorf("delete: %s", retry.Describe(err))
	}
	return nil
}

// drain runs workers that receive up to batch messages and handle them one after another,
// until total messages are done.
func drain(ctx context.Context, clients *storage.Clients, workers, batch int, total int64) (time.Duration, error) {
	var done atomic.Int64
	var failure error
	var once sync.Once
	var group sync.WaitGroup
	count := int32(batch)
	visibility := int32(120)

	start := time.Now()
	for range workers {
		group.Go(func() {
			for done.Load() < total && ctx.Err() == nil {
				response, err := clients.Queue.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: &count, VisibilityTimeout: &visibility})
				if err != nil {
					once.Do(func() { failure = fmt.Errorf("receive: %s", retry.Describe(err)) })
					return
				}
				if len(response.Messages) == 0 {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				for _, m := range response.Messages {
					if err := upsertAndDelete(ctx, clients, m); err != nil {
						once.Do(func() { failure = err })
						return
					}
					done.Add(1)
				}
			}
		})
	}
	group.Wait()
	if failure == nil && ctx.Err() != nil {
		failure = ctx.Err()
	}
	return time.Since(start), failure
}

func (b *bench) rawDrain(ctx context.Context, concurrency int) (result, error) {
	env, err := b.preloaded(ctx, b.count)
	if err != nil {
		return result{}, err
	}
	defer env.close()

	elapsed, err := drain(ctx, env.clients, concurrency, 32, int64(b.count))
	if err != nil {
		return result{}, err
	}
	return result{concurrency: strconv.Itoa(concurrency), messages: int64(b.count), elapsed: elapsed}, nil
}

func (b *bench) singleLoop(ctx context.Context) (result, error) {
	env, err := b.preloaded(ctx, b.singleCount)
	if err != nil {
		return result{}, err
	}
	defer env.close()

	elapsed, err := drain(ctx, env.clients, 1, 1, int64(b.singleCount))
	if err != nil {
		return result{}, err
	}
	return result{name: "one message at a time: receive(1) + upsert + delete", concurrency: "1",
		messages: int64(b.singleCount), elapsed: elapsed}, nil
}

// busyRate matches the rate in the consumer's summary line.
var busyRate = regexp.MustCompile(`processed (\d+) messages in \S+ \(([0-9.]+) messages/s while busy\)`)

func (b *bench) consumerDefaults(ctx context.Context) (result, error) {
	env, err := b.preloaded(ctx, b.count)
	if err != nil {
		return result{}, err
	}
	defer env.close()

	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, b.consumerBin)
	cmd.Env = []string{
		"AZURE_STORAGE_CONNECTION_STRING=" + env.names.ConnectionString,
		"AZURE_QUEUE_NAME=" + env.names.QueueName,
		"AZURE_TABLE_NAME=" + env.names.TableName,
		"EDW_UNTIL_EMPTY=true",
		"EDW_IDLE_TIMEOUT=1s",
		"EDW_HTTP_ADDR=127.0.0.1:0",
		"EDW_LOG_LEVEL=warn",
	}
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("consumer: %v: %s", err, stderr.String())
	}

	match := busyRate.FindStringSubmatch(stdout.String())
	if match == nil {
		return result{}, fmt.Errorf("consumer printed no summary: %q", stdout.String())
	}
	processed, _ := strconv.ParseInt(match[1], 10, 64)
	rate, _ := strconv.ParseFloat(match[2], 64)
	if processed != int64(b.count) {
		return result{}, fmt.Errorf("consumer processed %d of %d messages", processed, b.count)
	}

	var peakRSS int64
	if usage, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		peakRSS = usage.Maxrss // KiB on Linux
	}
	cfg := config.DefaultConsumer()
	return result{
		name:        fmt.Sprintf("consumer binary, defaults (batch %d, concurrency %d)", cfg.BatchSize, cfg.Concurrency),
		concurrency: strconv.Itoa(cfg.Concurrency),
		messages:    processed,
		elapsed:     time.Duration(float64(processed) / rate * float64(time.Second)),
		peakRSSKiB:  peakRSS,
	}, nil
}

func (b *bench) rawEnqueue(ctx context.Context, concurrency int) (result, error) {
	env, err := b.newEnvironment(ctx)
	if err != nil {
		return result{}, err
	}
	defer env.close()

	texts, err := messageTexts(b.count)
	if err != nil {
		return result{}, err
	}
	elapsed, err := enqueueAll(ctx, env.clients.Queue, texts, concurrency)
	if err != nil {
		return result{}, err
	}
	return result{concurrency: strconv.Itoa(concurrency), messages: int64(b.count), elapsed: elapsed}, nil
}

func (b *bench) producerDefaults(ctx context.Context) (result, error) {
	env, err := b.newEnvironment(ctx)
	if err != nil {
		return result{}, err
	}
	defer env.close()

	cfg := config.DefaultProducer()
	cfg.Storage = env.names
	cfg.Count = b.count
	summary, err := producer.Run(ctx, cfg, env.clients)
	if err != nil {
		return result{}, err
	}
	return result{
		name:        fmt.Sprintf("producer, defaults (concurrency %d, rate unlimited)", cfg.Concurrency),
		concurrency: strconv.Itoa(cfg.Concurrency),
		messages:    summary.Sent,
		elapsed:     summary.Duration,
	}, nil
}

func buildConsumer(dir string) (string, error) {
	root, err := azurite.RepoRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "consumer")
	cmd := exec.Command("go", "build", "-o", path, "./src/consumer")
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./src/consumer: %v: %s", err, output)
	}
	return path, nil
}
