// Command facectl detects faces in photos, serves that as a web service and deploys it to Amazon
// ECS on Fargate. See the README and docs/ for usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/facectl/facectl/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal starts a graceful stop; from then on the default action applies,
		// so a second SIGTERM or SIGINT (an impatient ^C) ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], cli.SystemStreams())
	stop()
	os.Exit(code)
}
