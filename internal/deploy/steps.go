package deploy

import (
	"context"
	"fmt"
	"time"
)

// step is one named stage of a run.
type step struct {
	name string
	run  func(ctx context.Context) error
}

// runSteps runs the steps in order, printing a timestamped line when each starts and ends,
// and stops at the first failure, returning it with the step's name.
func (d *Deployer) runSteps(ctx context.Context, steps []step) error {
	for i, s := range steps {
		label := fmt.Sprintf("[%d/%d] %s", i+1, len(steps), s.name)
		started := d.now()
		d.printf("%s %s ...\n", started.Format(time.TimeOnly), label)
		d.logger.Info("step started", "step", s.name, "index", i+1, "steps", len(steps))

		err := s.run(ctx)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		finished := d.now()
		elapsed := finished.Sub(started).Round(100 * time.Millisecond)
		if err != nil {
			d.printf("%s %s FAILED after %s: %v\n", finished.Format(time.TimeOnly), label, elapsed, err)
			d.logger.Error("step failed", "step", s.name, "seconds", elapsed.Seconds(), "error", err)
			return fmt.Errorf("%s: %w", s.name, err)
		}
		d.printf("%s %s done in %s\n", finished.Format(time.TimeOnly), label, elapsed)
		d.logger.Info("step done", "step", s.name, "seconds", elapsed.Seconds())
	}
	return nil
}
