package server

import (
	"context"
	"errors"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// admission bounds the work and the memory of detection requests:
//
//   - at most workers+queue requests are admitted at once; the next one gets 429 before its
//     body is read (beyond its first few KiB), so a burst costs nothing but the refusal;
//   - the bodies of admitted requests held in memory total at most maxBytes; a request that
//     does not fit waits with its body still in the socket;
//   - the images being decoded and processed take at most maxDecode bytes of native memory,
//     as estimated from their headers; a request that does not fit waits with its body read;
//   - at most workers requests run detection; the others wait for a slot.
//
// The waits together last at most maxWait (503 naming what ran out after that), not counting
// the time the client takes to upload, and a waiting request whose client goes away leaves
// at once.
type admission struct {
	tickets   chan struct{}
	slots     chan struct{}
	bytes     *semaphore.Weighted
	maxBytes  int64
	decode    *semaphore.Weighted
	maxDecode int64
	resp      *semaphore.Weighted // responses being sent, apart from bodies and decoding
	maxResp   int64
	maxWait   time.Duration
	m         *metrics
	// held counts upload bytes reserved since the server was last idle; when the last request
	// ends after a burst, the Go heap that held those bodies is handed back to the system at
	// once (returnMemory) instead of over minutes by the scavenger.
	held         atomic.Int64
	returnMemory func()
}

func newAdmission(workers, queue int, maxBytes, maxDecode, maxResp int64, maxWait time.Duration, m *metrics) *admission {
	return &admission{
		tickets:   make(chan struct{}, workers+queue),
		slots:     make(chan struct{}, workers),
		bytes:     semaphore.NewWeighted(maxBytes),
		maxBytes:  maxBytes,
		decode:    semaphore.NewWeighted(maxDecode),
		maxDecode: maxDecode,
		resp:      semaphore.NewWeighted(maxResp),
		maxResp:   maxResp,
		maxWait:   maxWait,
		m:         m,
		returnMemory: func() {
			go debug.FreeOSMemory()
		},
	}
}

// idleReturnBytes is how many upload bytes a burst must have held before the server returns
// its freed heap to the system when it goes idle: one large photo's worth, so a trickle of small
// requests does not force a collection after each.
const idleReturnBytes = 32 << 20

// ticket is one admitted request. Call done exactly once when the request is finished.
type ticket struct {
	a      *admission
	start  time.Time
	waited time.Duration
	bytes  int64
	decode int64
	slot   bool
}

// enter admits a request or returns errQueueFull at once.
func (a *admission) enter() (*ticket, error) {
	select {
	case a.tickets <- struct{}{}:
		return &ticket{a: a, start: time.Now()}, nil
	default:
		a.m.rejections.WithLabelValues("queue_full").Inc()
		return nil, errQueueFull
	}
}

// reserve waits until n more body bytes fit in memory.
func (t *ticket) reserve(ctx context.Context, n int64) error {
	n, err := t.acquire(ctx, t.a.bytes, t.a.maxBytes, n, errMemoryTimeout)
	t.bytes = n
	return err
}

// reserveDecode waits until decoding and processing an image estimated to need n bytes
// fits (intake.reserveDecode in decodebudget.go refuses images that need more than the whole budget).
func (t *ticket) reserveDecode(ctx context.Context, n int64) error {
	n, err := t.acquire(ctx, t.a.decode, t.a.maxDecode, n, errDecodeTimeout)
	t.decode = n
	t.a.m.decodeBytes.Add(float64(n))
	return err
}

// acquire takes n of sem (at least 1, at most its whole size, which Acquire would otherwise
// wait for forever), waiting like every other resource of the ticket. It returns what it took.
func (t *ticket) acquire(ctx context.Context, sem *semaphore.Weighted, size, n int64, timeout error) (int64, error) {
	n = min(max(n, 1), size)
	if !sem.TryAcquire(n) {
		if err := t.wait(ctx, timeout, func(ctx context.Context) error { return sem.Acquire(ctx, n) }); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// work waits for a detection worker.
func (t *ticket) work(ctx context.Context) error {
	select {
	case t.a.slots <- struct{}{}:
	default:
		err := t.wait(ctx, errQueueTimeout, func(ctx context.Context) error {
			select {
			case t.a.slots <- struct{}{}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil {
			return err
		}
	}
	t.slot = true
	t.a.m.busy.Inc()
	t.a.m.queueWait.Observe(t.waited.Seconds())
	return nil
}

// reasons are the metric labels of the timeouts, naming the resource that ran out.
var reasons = map[error]string{
	errQueueTimeout:    "queue_timeout",
	errMemoryTimeout:   "upload_memory_timeout",
	errDecodeTimeout:   "decode_memory_timeout",
	errResponseTimeout: "response_memory_timeout",
}

// wait runs acquire within what is left of the maximum wait, counting the request as
// queued; timeout is the error that says what it waited for.
func (t *ticket) wait(ctx context.Context, timeout error, acquire func(context.Context) error) error {
	left := t.a.maxWait - t.waited
	if left <= 0 {
		t.a.m.rejections.WithLabelValues(reasons[timeout]).Inc()
		return timeout
	}
	t.a.m.queueDepth.Inc()
	defer t.a.m.queueDepth.Dec()
	wctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	begin := time.Now()
	err := acquire(wctx)
	t.waited += time.Since(begin)
	switch {
	case err == nil:
		return nil
	case ctx.Err() == context.Canceled && errors.Is(context.Cause(ctx), errShuttingDown):
		t.a.m.rejections.WithLabelValues("shutdown").Inc()
		return errShuttingDown
	case ctx.Err() == context.Canceled:
		t.a.m.rejections.WithLabelValues("client_gone").Inc()
		return ctx.Err()
	case ctx.Err() == context.DeadlineExceeded:
		t.a.m.rejections.WithLabelValues("deadline").Inc()
		return ctx.Err()
	default:
		t.a.m.rejections.WithLabelValues(reasons[timeout]).Inc()
		return timeout
	}
}

// done releases whatever the ticket holds.
func (t *ticket) done() {
	if t.slot {
		t.a.m.busy.Dec()
		<-t.a.slots
	}
	if t.bytes > 0 {
		t.a.held.Add(t.bytes)
		t.a.bytes.Release(t.bytes)
	}
	if t.decode > 0 {
		t.a.m.decodeBytes.Sub(float64(t.decode))
		t.a.decode.Release(t.decode)
	}
	<-t.a.tickets
	if len(t.a.tickets) == 0 && t.a.held.Load() >= idleReturnBytes && t.a.held.Swap(0) >= idleReturnBytes {
		t.a.returnMemory()
	}
}

// reserveResponse waits within maxWait until n bytes of response fit in the response memory;
// call release when the response is sent. Its requests hold no ticket any more, so they wait
// on their own rather than through ticket.wait.
func (a *admission) reserveResponse(ctx context.Context, n int64) (release func(), err error) {
	n = min(max(n, 1), a.maxResp)
	if !a.resp.TryAcquire(n) {
		a.m.queueDepth.Inc()
		wctx, cancel := context.WithTimeout(ctx, a.maxWait)
		err = a.resp.Acquire(wctx, n)
		cancel()
		a.m.queueDepth.Dec()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			a.m.rejections.WithLabelValues("client_gone").Inc()
			return nil, ctx.Err()
		default:
			a.m.rejections.WithLabelValues(reasons[errResponseTimeout]).Inc()
			return nil, errResponseTimeout
		}
	}
	return func() { a.resp.Release(n) }, nil
}

// retryAfter is the hint sent with 429 and 503: by then a full queue has usually moved on.
func (a *admission) retryAfter() time.Duration {
	return max(time.Second, a.maxWait/2)
}
