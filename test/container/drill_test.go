package container_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
)

// Load of the drill: a steady, bounded stream of detect requests to the cluster's 127.0.0.1 port.
const (
	drillWorkers     = 4                      // concurrent clients
	drillInterval    = 100 * time.Millisecond // each client's pace: ~40 requests/s in all
	drillMaxRequests = 20000                  // hard bound on the whole drill
	drillMaxDuration = 6 * time.Minute        // hard bound on the whole drill
)

// cluster drives scripts/cluster.sh for one test cluster.
type cluster struct {
	t          *testing.T
	root, name string
	port       int
	statsPort  int
	env        []string
}

func newCluster(t *testing.T, image string) *cluster {
	c := &cluster{t: t, root: testenv.RepoRoot(t), name: fmt.Sprintf("facectl-drill-%d", os.Getpid()),
		port: freePort(t), statsPort: freePort(t)}
	c.env = append(os.Environ(), "FACECTL_IMAGE="+image, "FACECTL_CLUSTER="+c.name,
		fmt.Sprintf("FACECTL_CLUSTER_PORT=%d", c.port), fmt.Sprintf("FACECTL_CLUSTER_STATS_PORT=%d", c.statsPort))
	return c
}

// run runs scripts/cluster.sh with args, bounded in time.
func (c *cluster) run(limit time.Duration, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.root, "scripts", "cluster.sh"), args...)
	cmd.Dir, cmd.Env = c.root, c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("cluster.sh %s: %w:\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// container is the Docker name of a replica or of the balancer ("lb").
func (c *cluster) container(r string) string { return c.name + "-" + r }

// stats returns HAProxy's stats CSV rows for the facectl backend's servers, by server name.
func (c *cluster) stats() (map[string]map[string]string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/;csv", c.statsPort))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) < 2 {
		return nil, fmt.Errorf("reading HAProxy stats: %v", err)
	}
	header := rows[0]
	header[0] = strings.TrimPrefix(header[0], "# ")
	out := map[string]map[string]string{}
	for _, row := range rows[1:] {
		m := map[string]string{}
		for i, h := range header {
			if i < len(row) {
				m[h] = row[i]
			}
		}
		if m["pxname"] == "facectl" {
			out[m["svname"]] = m
		}
	}
	return out, nil
}

// isUp and isOut classify HAProxy's server status: a stopped replica is DOWN, or in MAINT
// when Docker's DNS no longer resolves its name.
func isUp(s string) bool  { return strings.HasPrefix(s, "UP") }
func isOut(s string) bool { return strings.HasPrefix(s, "DOWN") || strings.HasPrefix(s, "MAINT") }

// waitStatus waits until HAProxy reports server r with a status for which ok is true.
func (c *cluster) waitStatus(r string, ok func(string) bool, want string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last := ""
	for time.Now().Before(deadline) {
		if st, err := c.stats(); err == nil {
			last = st[r]["status"]
			if ok(last) {
				return nil
			}
		}
		<-time.After(200 * time.Millisecond)
	}
	return fmt.Errorf("HAProxy reports %s as %q, not %s, after %s", r, last, want, limit)
}

// result is one request of the drill.
type result struct {
	start   time.Time
	latency time.Duration
	err     error
}

// phase is a named interval of the drill.
type phase struct {
	name       string
	start, end time.Time
}

// TestClusterDrill starts 3 replicas behind HAProxy (scripts/cluster.sh up), keeps a steady
// load on the balancer's 127.0.0.1 port, and meanwhile stops one replica gracefully, kills one,
// and restarts all of them one by one. Every request must succeed; the test prints requests
// sent, failures and p50/p99 for each phase.
func TestClusterDrill(t *testing.T) {
	image := buildImage(t)
	c := newCluster(t, image)
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range []string{"lb", "app1", "app2", "app3"} {
				logs, _ := dockerErr("logs", "--tail", "30", c.container(r))
				t.Logf("%s logs:\n%s", r, logs)
			}
		}
		if err := c.run(2*time.Minute, "down"); err != nil {
			t.Log(err)
		}
	})
	upStart := time.Now()
	if err := c.run(5*time.Minute, "up"); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster up in %s (port %d, stats %d)", time.Since(upStart).Round(time.Millisecond), c.port, c.statsPort)

	base := fmt.Sprintf("http://127.0.0.1:%d", c.port)
	photo := testenv.ReadPhoto(t, "gocv_face.jpg")
	ctx, cancel := context.WithTimeout(context.Background(), drillMaxDuration)
	defer cancel()

	// The load: drillWorkers clients, each one request per drillInterval, until stopped.
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: drillWorkers}}
	for w := 0; w < drillWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(drillInterval)
			defer tick.Stop()
			for {
				select {
				case <-loadCtx.Done():
					return
				case <-tick.C:
				}
				mu.Lock()
				n := len(results)
				mu.Unlock()
				if n >= drillMaxRequests {
					return
				}
				s := time.Now()
				res, err := detect(ctx, client, base, photo, "image/jpeg")
				if err == nil && len(res.Faces) != 1 {
					err = fmt.Errorf("%d faces, want 1", len(res.Faces))
				}
				mu.Lock()
				results = append(results, result{start: s, latency: time.Since(s), err: err})
				mu.Unlock()
			}
		}()
	}

	var phases []phase
	mark := func(name string, f func() error) {
		p := phase{name: name, start: time.Now()}
		if err := f(); err != nil {
			stopLoad()
			wg.Wait()
			t.Fatalf("%s: %v", name, err)
		}
		p.end = time.Now()
		phases = append(phases, p)
	}
	steady := func(d time.Duration) func() error {
		return func() error {
			select {
			case <-time.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	restart := func(r string) error {
		if err := c.waitStatus(r, isOut, "DOWN", 30*time.Second); err != nil {
			return err
		}
		if _, err := dockerErr("start", c.container(r)); err != nil {
			return err
		}
		return c.waitStatus(r, isUp, "UP", 60*time.Second)
	}

	mark("baseline", steady(5*time.Second))
	mark("docker stop app1 (SIGTERM), start again", func() error {
		if _, err := dockerErr("stop", "-t", "30", c.container("app1")); err != nil {
			return err
		}
		return restart("app1")
	})
	mark("docker kill app2 (SIGKILL), start again", func() error {
		if _, err := dockerErr("kill", c.container("app2")); err != nil {
			return err
		}
		return restart("app2")
	})
	mark("rolling restart app1..app3", func() error {
		for _, r := range []string{"app1", "app2", "app3"} {
			if _, err := dockerErr("stop", "-t", "30", c.container(r)); err != nil {
				return err
			}
			if err := restart(r); err != nil {
				return err
			}
		}
		return nil
	})
	mark("after", steady(3*time.Second))
	stopLoad()
	wg.Wait()

	report := drillReport(phases, results)
	if st, err := c.stats(); err == nil {
		report += "HAProxy per replica: retries (wretr) / redispatches (wredis) / checks failed (chkfail) / downs (chkdown)\n"
		for _, r := range []string{"app1", "app2", "app3"} {
			report += fmt.Sprintf("  %s: %s / %s / %s / %s\n", r, st[r]["wretr"], st[r]["wredis"], st[r]["chkfail"], st[r]["chkdown"])
		}
	}
	t.Log("\n" + report)
	_ = os.WriteFile(filepath.Join(artifactsDir(t), "drill.txt"), []byte(report), 0o644)
	failures := 0
	for _, r := range results {
		if r.err != nil {
			failures++
			if failures <= 10 {
				t.Errorf("request at %s failed: %v", r.start.Format("15:04:05.000"), r.err)
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d requests failed", failures, len(results))
	}
	if len(results) < 100 {
		t.Errorf("only %d requests were sent; the drill did not load the cluster", len(results))
	}
}

// drillReport is the per-phase table: requests sent, failures, p50 and p99 latency.
func drillReport(phases []phase, results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-42s %8s %8s %9s %9s %8s\n", "phase", "sent", "failed", "p50", "p99", "duration")
	total := phase{name: "total", start: phases[0].start, end: phases[len(phases)-1].end}
	for _, p := range append(phases, total) {
		var lat []time.Duration
		failed := 0
		for _, r := range results {
			if r.start.Before(p.start) || !r.start.Before(p.end) {
				continue
			}
			lat = append(lat, r.latency)
			if r.err != nil {
				failed++
			}
		}
		fmt.Fprintf(&b, "%-42s %8d %8d %9s %9s %8s\n", p.name, len(lat), failed,
			percentile(lat, 0.50), percentile(lat, 0.99), p.end.Sub(p.start).Round(100*time.Millisecond))
	}
	return b.String()
}

// percentile returns the q-quantile of d (nearest rank), rounded to the millisecond.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i].Round(time.Millisecond)
}
