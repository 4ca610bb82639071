package batch

import (
	"context"
	"sync"
)

// Run calls process for each input on workers goroutines and emit for each result in input order,
// from the calling goroutine. When ctx is cancelled no new input is started; the ones already
// started finish and are emitted. At most 2*workers results wait for emission at once.
func Run[R any](ctx context.Context, inputs []Input, workers int, process func(context.Context, Input) R, emit func(Input, R)) {
	workers = max(1, workers)
	type slot struct {
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
		for _, in := range inputs {
			if ctx.Err() != nil {
				return
			}
			s := &slot{done: make(chan struct{})}
			select {
			case slots <- s:
			case <-ctx.Done():
				return
			}
			jobs <- func() {
				s.res = process(ctx, in)
				close(s.done)
			}
		}
	}()
	i := 0
	for s := range slots {
		<-s.done
		emit(inputs[i], s.res)
		i++
	}
	wg.Wait()
}
