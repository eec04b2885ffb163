package scenario

import (
	"context"
	"fmt"
	"time"
)

// waitUntil checks condition every interval until it returns true, and fails with the
// condition's last description when bound runs out or ctx ends. condition describes the
// state it saw in a few words, for that message.
func waitUntil(ctx context.Context, interval, bound time.Duration, what string, condition func(context.Context) (bool, string)) error {
	deadline := time.Now().Add(bound)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		done, state := condition(ctx)
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s; last state: %s", bound, what, state)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for %s: %w; last state: %s", what, context.Cause(ctx), state)
		case <-ticker.C:
		}
	}
}
