package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// LogsOptions select and format the service's log lines.
type LogsOptions struct {
	// Since is how far back to start (default 10 minutes).
	Since time.Duration
	// Follow keeps polling for new lines until ctx ends.
	Follow bool
	// Task limits the lines to one task: its ID or a prefix of it.
	Task string
	// Readable formats serve's JSON lines as "time level message key=value" (for a terminal);
	// otherwise every line is written as "<task ID>\t<message>" unchanged.
	Readable bool
	// PollInterval is the time between polls with Follow (default 2 s).
	PollInterval time.Duration
}

// Logs writes the service's CloudWatch log lines to w, oldest first.
func (d *Deployer) Logs(ctx context.Context, opts LogsOptions, w io.Writer) error {
	if opts.Since <= 0 {
		opts.Since = 10 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 2 * time.Second
	}
	group := d.cfg.LogGroup()
	in := &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String(group),
		StartTime:    aws.Int64(time.Now().Add(-opts.Since).UnixMilli()),
	}
	if opts.Task != "" {
		in.LogStreamNamePrefix = aws.String(d.cfg.Logs.StreamPrefix + "/" + d.cfg.Task.ContainerName + "/" + opts.Task)
	}
	seen := map[string]int64{} // event ID -> timestamp, for the events at the polling edge
	tick := time.NewTicker(opts.PollInterval)
	defer tick.Stop()
	for {
		var events []logstypes.FilteredLogEvent
		in.NextToken = nil
		for {
			out, err := d.deps.Logs.FilterLogEvents(ctx, in)
			if err != nil && opts.Follow && ctx.Err() != nil {
				return nil // following ends when the user stops it
			}
			var nf *logstypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				return fmt.Errorf("log group %s does not exist yet: deploy the service first (or check deploy.logs.group): %w", group, explain(err))
			}
			if err != nil {
				return fmt.Errorf("reading log group %s: %w", group, explain(err))
			}
			events = append(events, out.Events...)
			if out.NextToken == nil || aws.ToString(out.NextToken) == aws.ToString(in.NextToken) {
				break
			}
			in.NextToken = out.NextToken
		}
		// Streams interleave: order by time, then by ID so equal times keep a stable order.
		sort.SliceStable(events, func(i, j int) bool {
			ti, tj := aws.ToInt64(events[i].Timestamp), aws.ToInt64(events[j].Timestamp)
			if ti != tj {
				return ti < tj
			}
			return aws.ToString(events[i].EventId) < aws.ToString(events[j].EventId)
		})
		last := aws.ToInt64(in.StartTime)
		for _, e := range events {
			id := aws.ToString(e.EventId)
			if _, dup := seen[id]; dup {
				continue
			}
			// The prefix is also checked here: not every implementation of the API applies it
			// (moto ignores it).
			if p := aws.ToString(in.LogStreamNamePrefix); p != "" && !strings.HasPrefix(aws.ToString(e.LogStreamName), p) {
				continue
			}
			seen[id] = aws.ToInt64(e.Timestamp)
			last = max(last, aws.ToInt64(e.Timestamp))
			writeLogLine(w, e, opts.Readable)
		}
		if !opts.Follow {
			return nil
		}
		// The next poll starts at the newest timestamp seen (inclusive, so events arriving late
		// with that timestamp are not lost); older IDs can be forgotten.
		in.StartTime = aws.Int64(last)
		for id, ts := range seen {
			if ts < last {
				delete(seen, id)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// taskOfStream is the task ID at the end of an awslogs stream name (prefix/container/task).
func taskOfStream(stream string) string {
	return stream[strings.LastIndex(stream, "/")+1:]
}

// writeLogLine writes one event: tab-separated task ID and message, or with readable a short
// task ID and serve's JSON fields laid out for people.
func writeLogLine(w io.Writer, e logstypes.FilteredLogEvent, readable bool) {
	task := taskOfStream(aws.ToString(e.LogStreamName))
	msg := strings.TrimRight(aws.ToString(e.Message), "\n")
	if !readable {
		fmt.Fprintf(w, "%s\t%s\n", task, msg)
		return
	}
	if len(task) > 8 {
		task = task[:8]
	}
	at := time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC()
	fmt.Fprintf(w, "%s  %s\n", task, readableLine(at, msg))
}

// readableLine formats a slog JSON line as "15:04:05.000 LEVEL message key=value ...";
// anything else is shown as it is, after the event's time.
func readableLine(at time.Time, msg string) string {
	var fields map[string]any
	if !strings.HasPrefix(msg, "{") || json.Unmarshal([]byte(msg), &fields) != nil {
		return at.Format("15:04:05.000") + "  " + msg
	}
	if s, ok := fields["time"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			at = t.UTC()
		}
	}
	level, _ := fields["level"].(string)
	text, _ := fields["msg"].(string)
	delete(fields, "time")
	delete(fields, "level")
	delete(fields, "msg")
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s  %-5s  %s", at.Format("15:04:05.000"), level, text)
	for _, k := range names {
		v := fields[k]
		var s string
		switch x := v.(type) {
		case string:
			s = x
			if strings.ContainsAny(s, " \t\"=") {
				s = fmt.Sprintf("%q", s)
			}
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		fmt.Fprintf(&sb, " %s=%s", k, s)
	}
	return sb.String()
}
