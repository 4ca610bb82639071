package server

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestIdleReturnsMemoryAfterABurst checks that the server hands the heap that held a burst of
// uploads back to the system when its last request ends, once per burst, and not after small
// requests.
func TestIdleReturnsMemoryAfterABurst(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := newAdmission(2, 8, 64*MiB, 256*MiB, 64*MiB, time.Second, m)
	returns := 0
	a.returnMemory = func() { returns++ }
	ctx := context.Background()
	admit := func(n int64) *ticket {
		t.Helper()
		tk, err := a.enter()
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.reserve(ctx, n); err != nil {
			t.Fatal(err)
		}
		return tk
	}

	// Small requests, one after another: never.
	for range 20 {
		admit(1 * MiB).done()
	}
	if returns != 0 {
		t.Fatalf("memory returned %d times after small requests (20 MiB in all), want 0", returns)
	}
	// A burst of three 12 MiB uploads: once, when the last one ends, not before.
	burst := []*ticket{admit(12 * MiB), admit(12 * MiB), admit(12 * MiB)}
	burst[0].done()
	burst[1].done()
	if returns != 0 {
		t.Fatalf("memory returned while a request was still running")
	}
	burst[2].done()
	if returns != 1 {
		t.Fatalf("memory returned %d times after the burst, want 1", returns)
	}
	// The count starts afresh: the next small request does not trigger it again.
	admit(1 * MiB).done()
	if returns != 1 {
		t.Fatalf("memory returned %d times, want still 1", returns)
	}
}
