package batch

import (
	"context"
	"iter"
	"sync"
)

// Run calls process for each input on workers goroutines and emit for each result in input order,
// from the calling goroutine. When ctx is cancelled no new input is started; the ones already
// started finish and are emitted. At most 2*workers inputs are taken from inputs ahead of
// emission, so a lazily listed sequence is read only as fast as the work goes.
func Run[R any](ctx context.Context, inputs iter.Seq[Input], workers int, process func(context.Context, Input) R, emit func(Input, R)) {
	workers = max(1, workers)
	type slot struct {
		in   Input
		done chan struct{}
		res  R
	}
	slots := make(chan *slot, 2*workers)
	jobs := make(chan func(), workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				job()
			}
		}()
	}
	go func() {
		defer close(slots)
		defer close(jobs)
		for in := range inputs {
			if ctx.Err() != nil {
				return
			}
			s := &slot{in: in, done: make(chan struct{})}
			select {
			case slots <- s:
			case <-ctx.Done():
				return
			}
			jobs <- func() {
				s.res = process(ctx, s.in)
				close(s.done)
			}
		}
	}()
	for s := range slots {
		<-s.done
		emit(s.in, s.res)
	}
	wg.Wait()
}
