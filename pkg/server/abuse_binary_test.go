//go:build cgo

package server

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
	"github.com/facectl/facectl/internal/testenv/cvphoto"
)

// metricValue sums the samples of a metric whose labels include every one of labels
// (`name="value"` pairs) on the server's /metrics.
func metricValue(t *testing.T, url, metric string, labels ...string) float64 {
	t.Helper()
	_, body := get(t, url+"/metrics")
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += f
	}
	return total
}

// waitMetric polls /metrics until the metric reaches want (a signal the server gives, not a
// guess at how long it takes).
func waitMetric(t *testing.T, url string, within time.Duration, want float64, metric string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := metricValue(t, url, metric, labels...)
		if v >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v is %g after %s, want %g", metric, labels, v, within, want)
		}
		time.Sleep(50 * time.Millisecond) // polling a metric: there is no push signal to wait on
	}
}

// dialSmallWindow connects with a tiny receive buffer, so that a client that does not read
// stops the server's writes after a few kilobytes instead of after the kernel's megabytes.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSlowReadersHoldNoWorkers is the probe's slow reader: two clients upload a 12 MP photo to
// /api/v1/blur and never read the answer. They used to keep both workers and their decode
// memory until write_timeout (75 s), so every other detection got 503 queue_timeout after 10 s.
// Now the job is released once the result is encoded: an ordinary detection answers 200 at
// once, and the two silent clients are cut by the minimum download rate and counted as 499
// (client gone), not as a clean 200.
func TestSlowReadersHoldNoWorkers(t *testing.T) {
	_, url, logs := serveProcess(t, "--workers", "2")
	addr := strings.TrimPrefix(url, "http://")
	big := cvphoto.Photo12MP(t)
	face := testenv.ReadPhoto(t, "gocv_face.jpg")
	if resp, body := post(t, nil, url+"/api/v1/detect", "image/jpeg", bytes.NewReader(face)); resp.StatusCode != 200 {
		t.Fatalf("warm-up: %d %s", resp.StatusCode, body)
	}
	for range 2 {
		c := dialSmallWindow(t, addr)
		// As PNG the blurred photo is megabytes more than the kernel's socket buffers hold.
		fmt.Fprintf(c, "POST /api/v1/blur HTTP/1.1\r\nHost: facectl\r\nAccept: image/png\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(big))
		if _, err := c.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	// Both blurs have been through the engine once their detection is observed.
	waitMetric(t, url, 60*time.Second, 2, "facectl_detection_duration_seconds_count", `operation="blur"`)

	start := time.Now()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, body := post(t, client, url+"/api/v1/detect", "image/jpeg", bytes.NewReader(face))
	took := time.Since(start)
	t.Logf("detect with two slow readers connected: %d in %s", resp.StatusCode, took)
	if resp.StatusCode != 200 {
		t.Fatalf("detect with two slow readers connected: %d %s", resp.StatusCode, body)
	}
	// Its usual time is well under a second; the old server made it wait 10 s for a worker.
	if took > 5*time.Second {
		t.Errorf("detect took %s with two slow readers connected, want its usual time", took)
	}
	// The silent clients are cut by the download rate well before write_timeout (75 s).
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", tail(logs))
		}
	}()
	waitMetric(t, url, 40*time.Second, 2, "facectl_http_requests_total", `route="POST /api/v1/blur"`, `code="499"`)
	if n := metricValue(t, url, "facectl_http_requests_total", `route="POST /api/v1/blur"`, `code="200"`); n != 0 {
		t.Errorf("%g truncated blur answers were counted as 200:\n%s", n, logs)
	}
}

// zTXtBomb is a 64×64 PNG carrying n zTXt chunks, each inflating to size bytes: the probe's
// file was 7.7 MB with 998 chunks of 7.9 MB.
func zTXtBomb(t *testing.T, n, size int) []byte {
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, size))
	zw.Close()
	text := append([]byte("Description\x00\x00"), z.Bytes()...)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(text)))
	chunk = append(append(chunk, "zTXt"...), text...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	plain := img.Bytes()
	const afterIHDR = 33
	return slicesConcat(plain[:afterIHDR], bytes.Repeat(chunk, n), plain[afterIHDR:])
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// procCPU is the CPU time the process has used so far (utime + stime from /proc/PID/stat).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name (in parentheses, which may hold spaces): utime is
	// the 14th field of the line, stime the 15th, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// TestTextChunkBombAnswersQuickly posts the probe's PNG of zTXt bombs to the real server: it
// took 13.7 s of CPU in libpng and made ordinary requests wait into 503s; now it costs what
// its 64×64 pixels cost.
func TestTextChunkBombAnswersQuickly(t *testing.T) {
	cmd, url, _ := serveProcess(t, "--workers", "2")
	bomb := zTXtBomb(t, 998, 7_900_000)
	cpu := procCPU(t, cmd.Process.Pid)
	start := time.Now()
	resp, body := post(t, &http.Client{Timeout: 60 * time.Second}, url+"/api/v1/detect", "image/png", bytes.NewReader(bomb))
	took := time.Since(start)
	used := procCPU(t, cmd.Process.Pid) - cpu
	t.Logf("%d KB PNG: %d in %s, %s of server CPU", len(bomb)/1000, resp.StatusCode, took, used)
	if resp.StatusCode != 200 {
		t.Fatalf("detect: %d %s", resp.StatusCode, body)
	}
	// Under a second of CPU, and answered within two seconds of wall time on a loaded 2-core
	// machine; the old server needed 13 s of CPU.
	if used > time.Second || took > 2*time.Second {
		t.Errorf("the text-chunk bomb took %s (%s of server CPU), want under a second", took, used)
	}
}

// TestNoRequestAfterAnUnreadOrBrokenBody sends, on one connection, a request whose body is
// malformed or left unread, followed at once by `GET /anything`. The server used to answer the
// first and then serve the bytes after it as a second request (desync). Now a body that fails
// to read closes the connection, and an unread body is drained or the connection closed: the
// second request is never served from unknown bytes. A well-formed body left unread is still
// drained and the connection reused.
func TestNoRequestAfterAnUnreadOrBrokenBody(t *testing.T) {
	const key = "desync-test-key-0123456789"
	_, url, _ := serveProcess(t, "--workers", "1", "--api-keys", key)
	addr := strings.TrimPrefix(url, "http://")
	const next = "GET /anything HTTP/1.1\r\nHost: facectl\r\n\r\n"
	chunked := func(path, ct, auth, body string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: facectl\r\nContent-Type: " + ct + "\r\n" + auth +
			"Transfer-Encoding: chunked\r\n\r\n" + body
	}
	withKey := "X-API-Key: " + key + "\r\n"
	for _, tc := range []struct {
		name   string
		req    string
		status int
		reuse  bool // the follow-up request is answered (a body drained to its end)
	}{
		{"negative chunk size", chunked("/api/v1/detect", "image/jpeg", withKey, "-1\r\n"), 400, false},
		{"overflowing chunk size", chunked("/api/v1/detect", "image/jpeg", withKey, "fffffffffffffffffffff\r\n"), 400, false},
		{"chunk without its CRLF", chunked("/api/v1/detect", "image/jpeg", withKey, "4\r\n\xFF\xD8\xFF\xE0XX0\r\n\r\n"), 400, false},
		{"bad trailer", chunked("/api/v1/detect", "image/jpeg", withKey, "4\r\n\xFF\xD8\xFF\xE0\r\n0\r\nno colon here\r\n\r\n"), 400, false},
		{"415 then broken chunks", chunked("/api/v1/detect", "text/plain", withKey, "5\r\nhello\r\n-1\r\n"), 415, false},
		{"400 bad query then broken chunks", chunked("/api/v1/detect?max_faces=x", "image/jpeg", withKey, "5\r\nhello\r\nzz\r\n"), 400, false},
		{"401 then broken chunks", chunked("/api/v1/detect", "image/jpeg", "", "5\r\nhello\r\n-1\r\n"), 401, false},
		{"404 then broken chunks", chunked("/api/v1/nothing", "image/jpeg", withKey, "5\r\nhello\r\n-1\r\n"), 404, false},
		{"415 with a whole body", chunked("/api/v1/detect", "text/plain", withKey, "5\r\nhello\r\n0\r\n\r\n"), 415, true},
		{"404 with a whole body", "POST /api/v1/nothing HTTP/1.1\r\nHost: facectl\r\nContent-Length: 5\r\n\r\nhello", 404, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(c, tc.req+next); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the first answer: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("first answer %d, want %d", resp.StatusCode, tc.status)
			}
			second, err := http.ReadResponse(br, nil)
			switch {
			case tc.reuse && err != nil:
				t.Errorf("the request after a drained body got no answer: %v", err)
			case tc.reuse && second.StatusCode != 404:
				t.Errorf("the request after a drained body: %d, want 404", second.StatusCode)
			case !tc.reuse && err == nil:
				t.Errorf("the bytes after the body were served as a request (%s); want the connection closed", second.Status)
			case !tc.reuse && !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)):
				t.Errorf("after the broken body: %v, want the connection closed", err)
			}
		})
	}
}

// TestConnectionFloodPastTheFileLimit opens far more idle keep-alive connections (each sent
// one GET /healthz) than the server's open-file limit, lowered to 256 for the test. The old
// server ran out of files: neither the main nor the metrics port accepted any more, so health
// checks failed. Now the connections are capped below the limit and idle ones are closed
// first: /readyz on the metrics port stays 200 and an ordinary upload is answered. (On Fargate
// ECS sets nofile to 65535, soft and hard:
// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Ulimit.html.)
func TestConnectionFloodPastTheFileLimit(t *testing.T) {
	const nofile, flood = 256, 600
	cmd, url, logs := serveProcessLimited(t, nofile, "--workers", "1", "--metrics-addr", "127.0.0.1:0")
	metricsURL := "http://" + metricsAddrFrom(t, logs)
	addr := strings.TrimPrefix(url, "http://")
	face := testenv.ReadPhoto(t, "gocv_face.jpg")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		d := net.Dialer{Timeout: 5 * time.Second}
		for i := 0; i < flood && ctx.Err() == nil; i++ {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			// One request each, answered or not: the kernel queues what the server does not
			// accept yet; the answers are not read, the connection stays open.
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: facectl\r\n\r\n")
		}
	}()
	select {
	case <-flooded:
	case <-time.After(60 * time.Second):
		t.Fatal("opening the flood of connections took over 60s")
	}
	mu.Lock()
	opened := len(conns)
	mu.Unlock()
	t.Logf("%d connections opened against a server with %d open files", opened, nofile)
	if opened < nofile+64 {
		t.Fatalf("only %d connections opened; the test needs more than the server's %d files", opened, nofile)
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 3 {
		resp, err := client.Get(metricsURL + "/readyz")
		if err != nil {
			t.Fatalf("readyz %d on the metrics port during the flood: %v\n%s", i, err, tail(logs))
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("readyz during the flood: %d", resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", url+"/api/v1/detect", bytes.NewReader(face))
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("upload during the flood: %v\n%s", err, tail(logs))
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload during the flood: %d %s", resp.StatusCode, b)
	}
	open := metricValue(t, metricsURL, "facectl_http_connections_open", `listener="main"`)
	limit := metricValue(t, metricsURL, "facectl_http_connections_limit", `listener="main"`)
	t.Logf("main listener: %g connections open, limit %g; process %d", open, limit, cmd.Process.Pid)
	if open > limit || limit >= nofile {
		t.Errorf("%g connections open with a limit of %g under %d files", open, limit, nofile)
	}
}

// serveProcessLimited is serveProcess with the open-file limit (soft and hard, so the Go
// runtime cannot raise it) of the server set to nofile through prlimit(1).
func serveProcessLimited(t *testing.T, nofile int, args ...string) (*exec.Cmd, string, *logRecords) {
	t.Helper()
	return serveProcessWith(t, []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--"}, args...)
}

var metricsAddrPattern = regexp.MustCompile(`"metrics_addr":"([^"]+)"`)

// metricsAddrFrom reads the metrics listener's address from the "server listening" line.
func metricsAddrFrom(t *testing.T, logs *logRecords) string {
	t.Helper()
	m := metricsAddrPattern.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics_addr in the logs:\n%s", logs)
	}
	return m[1]
}

// tail is the end of the server's logs, for failure messages.
func tail(logs *logRecords) string {
	s := logs.String()
	return s[max(0, len(s)-4000):]
}
