package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// StartMoto runs a moto_server for this test on a free 127.0.0.1 port, with env added to its
// environment, and returns its URL; it is killed when the test ends, and its log is shown if the
// test failed. moto's own botocore is given none of the test's AWS_* variables: FakeAWS's empty
// AWS_PROFILE makes it fail on every error response it serialises.
func StartMoto(t testing.TB, env ...string) string {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Fatal("moto_server not found: install moto with its server extra (pip install 'moto[server]')")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var logs bytes.Buffer
	cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_") }), env...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("moto_server:\n%s", logs.String())
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond) // a child process with no readiness signal is polled
	}
}
