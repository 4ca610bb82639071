package server

import (
	"context"
	"time"
)

// admission bounds the detection work in flight: at most `workers` requests hold a slot,
// at most `queue` more wait for one, each for at most maxWait. Requests beyond that are
// refused at once (429), so a burst costs the server nothing but the refusal, and a waiting
// request whose client goes away leaves the queue.
type admission struct {
	slots   chan struct{}
	waiting chan struct{}
	maxWait time.Duration
	m       *metrics
}

func newAdmission(workers, queue int, maxWait time.Duration, m *metrics) *admission {
	return &admission{
		slots:   make(chan struct{}, workers),
		waiting: make(chan struct{}, queue),
		maxWait: maxWait,
		m:       m,
	}
}

// acquire takes a worker slot, waiting in the queue if needed. It returns errQueueFull when
// the queue is full, errQueueTimeout when maxWait ran out, and ctx.Err() when the request is
// cancelled. On success the caller must call release exactly once.
func (a *admission) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	select {
	case a.slots <- struct{}{}:
		a.m.queueWait.Observe(0)
		return a.releaser(), nil
	default:
	}
	select {
	case a.waiting <- struct{}{}:
	default:
		a.m.rejections.WithLabelValues("queue_full").Inc()
		return nil, errQueueFull
	}
	a.m.queueDepth.Inc()
	defer func() {
		<-a.waiting
		a.m.queueDepth.Dec()
	}()
	timer := time.NewTimer(a.maxWait)
	defer timer.Stop()
	select {
	case a.slots <- struct{}{}:
		a.m.queueWait.Observe(time.Since(start).Seconds())
		return a.releaser(), nil
	case <-timer.C:
		a.m.rejections.WithLabelValues("queue_timeout").Inc()
		return nil, errQueueTimeout
	case <-ctx.Done():
		reason := "client_gone"
		if ctx.Err() == context.DeadlineExceeded {
			reason = "deadline"
		}
		a.m.rejections.WithLabelValues(reason).Inc()
		return nil, ctx.Err()
	}
}

func (a *admission) releaser() func() {
	a.m.busy.Inc()
	return func() {
		a.m.busy.Dec()
		<-a.slots
	}
}

// retryAfter is the hint sent with 429: by then a full queue has usually moved on.
func (a *admission) retryAfter() time.Duration {
	return max(time.Second, a.maxWait/2)
}
