// Command standin stands in for facectl in the imagerun tests' image: it reports what it was
// given (arguments, working directory, user, FACECTL_ variables, standard input) as JSON, writes
// a file where asked, and exits or waits as asked.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	report := map[string]any{"args": os.Args[1:], "uid": os.Getuid()}
	report["cwd"], _ = os.Getwd()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if name, val, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "FACECTL_") {
			env[name] = val
		}
	}
	report["env"] = env
	code := 0
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-":
			b, _ := io.ReadAll(os.Stdin)
			report["stdin"] = string(b)
		case "--read":
			i++
			b, err := os.ReadFile(args[i])
			if err != nil {
				fmt.Fprintln(os.Stderr, "standin:", err)
				code = 1
			}
			report["read"] = string(b)
		case "--write":
			i++
			if err := os.WriteFile(filepath.Join(args[i], "out.txt"), []byte("written"), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "standin:", err)
				code = 1
			}
		case "--exit":
			i++
			code, _ = strconv.Atoi(args[i])
		case "--wait":
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
			fmt.Println("waiting")
			<-sig
			fmt.Fprintln(os.Stderr, "standin: stopped")
			os.Exit(130)
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(report)
	os.Exit(code)
}
