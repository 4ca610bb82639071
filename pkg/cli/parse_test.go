package cli

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/modelfile"
	"github.com/facectl/facectl/pkg/render"
	"github.com/facectl/facectl/pkg/s3io"
	"github.com/facectl/facectl/pkg/server"
)

// parseCase is one command line of a flag-parsing test: the options it must give, or the
// usage error it must fail with (a fragment of its message).
type parseCase[O any] struct {
	name    string
	args    []string
	env     map[string]string
	tty     bool // stdin, stdout and stderr are terminals
	want    func() *O
	wantErr string
}

// testParse runs each case through the whole command tree with the command at path built with
// a runF that records its options and runs nothing, then compares the options with the case's,
// after strip has cleared what cannot be compared (streams, loggers, clients).
func testParse[O any](t *testing.T, path []string, newCmd func(*Factory, func(*O) error) *cobra.Command, strip func(*O), cases []parseCase[O]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			t.Chdir(t.TempDir())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := parseWith(t, path, newCmd, IOStreams{InTTY: tc.tty, OutTTY: tc.tty, ErrTTY: tc.tty}, tc.args...)
			if tc.wantErr != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("facectl %s %s: error %v, want a usage error containing %q",
						strings.Join(path, " "), strings.Join(tc.args, " "), err, tc.wantErr)
				}
				if got != nil {
					t.Errorf("the command ran after a usage error")
				}
				return
			}
			if err != nil {
				t.Fatalf("facectl %s %s: %v", strings.Join(path, " "), strings.Join(tc.args, " "), err)
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			strip(got)
			if want := tc.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("options\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// parseWith executes facectl path args with the command at path replaced by newCmd(f, runF),
// runF recording the options, and returns them (nil when runF was not reached) and the error.
func parseWith[O any](t *testing.T, path []string, newCmd func(*Factory, func(*O) error) *cobra.Command, s IOStreams, args ...string) (*O, error) {
	t.Helper()
	s.In, s.Out, s.Err = strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}
	f := NewFactory(s)
	root := NewCmdRoot(f)
	old, _, err := root.Find(path)
	if err != nil || old.CommandPath() != "facectl "+strings.Join(path, " ") {
		t.Fatalf("no command %v: %v", path, err)
	}
	var got *O
	cmd := newCmd(f, func(o *O) error { got = o; return nil })
	parent := old.Parent()
	parent.RemoveCommand(old)
	parent.AddCommand(cmd)
	markArgErrors(cmd)
	root.SetArgs(append(append([]string(nil), path...), args...))
	err = root.ExecuteContext(t.Context())
	return got, err
}

func TestParseDetect(t *testing.T) {
	base := func(args ...string) *DetectOptions {
		return &DetectOptions{Args: args, Format: "jsonl",
			Outputs:  render.FileOutputs{CropMargin: 0.25, Quality: 90, Obscure: face.Blur},
			Detector: defaultDetectorSection(), S3: s3io.DefaultConfig()}
	}
	strip := func(o *DetectOptions) {
		o.IO, o.Engine, o.ObjectStore, o.Log, o.Flags = IOStreams{}, nil, nil, nil, nil
	}
	testParse(t, []string{"detect"}, NewCmdDetect, strip, []parseCase[DetectOptions]{
		{name: "defaults off a terminal", args: []string{"a.jpg"}, want: func() *DetectOptions { return base("a.jpg") }},
		{name: "text on a terminal", args: []string{"a.jpg", "b/"}, tty: true, want: func() *DetectOptions {
			o := base("a.jpg", "b/")
			o.Format = "text"
			return o
		}},
		{name: "-q", args: []string{"-q", "a.jpg"}, want: func() *DetectOptions { o := base("a.jpg"); o.Quiet = true; return o }},
		{name: "--quiet", args: []string{"--quiet", "a.jpg"}, want: func() *DetectOptions { o := base("a.jpg"); o.Quiet = true; return o }},
		{name: "--query, the old spelling", args: []string{"--query", "a.jpg"}, want: func() *DetectOptions { o := base("a.jpg"); o.Quiet = true; return o }},
		{name: "filters and format", args: []string{"-f", "csv", "--min-confidence", "0.5", "--max-faces", "3", "--biggest", "--best", "-"},
			want: func() *DetectOptions {
				o := base("-")
				o.Format, o.Filter = "csv", face.Filter{MinConfidence: 0.5, MaxFaces: 3, Biggest: true, Best: true}
				return o
			}},
		{name: "outputs", args: []string{"--annotate", "ann", "--crop", "crops", "--crop-margin", "0.5", "--blur", "s3://b/p/", "--pixelate",
			"--force", "--quality", "70", "--results", "r.jsonl", "x.png"},
			want: func() *DetectOptions {
				o := base("x.png")
				o.Outputs = render.FileOutputs{AnnotateDir: "ann", CropDir: "crops", CropMargin: 0.5, BlurDir: "s3://b/p/", Force: true, Quality: 70, Obscure: face.Pixelate}
				o.Pixelate, o.Results = true, "r.jsonl"
				return o
			}},
		{name: "skip existing with s3 outputs", args: []string{"--blur", "s3://b/out/", "--skip-existing", "s3://b/in/"},
			want: func() *DetectOptions {
				o := base("s3://b/in/")
				o.Outputs.BlurDir, o.SkipExisting = "s3://b/out/", true
				return o
			}},
		{name: "detector and s3 settings", args: []string{"--detector", "lbp", "--workers", "2", "--max-bytes", "1000", "--s3-path-style", "a.jpg"},
			env: map[string]string{"FACECTL_DETECTOR_SCORE_THRESHOLD": "0.7"},
			want: func() *DetectOptions {
				o := base("a.jpg")
				o.Detector.Detector, o.Detector.Workers, o.Detector.Limits.MaxBytes, o.Detector.ScoreThreshold = "lbp", 2, 1000, 0.7
				o.S3.PathStyle = true
				return o
			}},
		{name: "no input", wantErr: "no input"},
		{name: "stdin twice", args: []string{"-", "-"}, wantErr: "- (standard input) may be given only once"},
		{name: "unknown format", args: []string{"--format", "xml", "a.jpg"}, wantErr: `--format "xml"`},
		{name: "confidence above 1", args: []string{"--min-confidence", "1.5", "a.jpg"}, wantErr: "--min-confidence 1.5"},
		{name: "negative max faces", args: []string{"--max-faces", "-1", "a.jpg"}, wantErr: "--max-faces -1"},
		{name: "quality 0", args: []string{"--quality", "0", "a.jpg"}, wantErr: "--quality 0"},
		{name: "crop margin", args: []string{"--crop-margin", "3", "a.jpg"}, wantErr: "--crop-margin 3"},
		{name: "pixelate without blur", args: []string{"--pixelate", "a.jpg"}, wantErr: "--pixelate needs --blur DIR"},
		{name: "skip existing with a directory", args: []string{"--skip-existing", "--crop", "out", "a.jpg"}, wantErr: "--skip-existing needs s3:// outputs (out is a directory)"},
		{name: "skip existing without outputs", args: []string{"--skip-existing", "a.jpg"}, wantErr: "--skip-existing needs an s3:// output"},
		{name: "bad detector setting", args: []string{"a.jpg"}, env: map[string]string{"FACECTL_DETECTOR_POOL_SIZE": "many"}, wantErr: "FACECTL_DETECTOR_POOL_SIZE"},
		{name: "flag value", args: []string{"--max-faces", "x", "a.jpg"}, wantErr: `invalid argument "x"`},
		{name: "unknown flag", args: []string{"--nope", "a.jpg"}, wantErr: "unknown flag: --nope"},
	})
}

func TestParseServe(t *testing.T) {
	base := func() *ServeOptions {
		o := &ServeOptions{Server: server.DefaultConfig(), Detector: defaultDetectorSection()}
		o.Server.Detector = "yunet"
		return o
	}
	strip := func(o *ServeOptions) { o.IO, o.Engine, o.Log, o.Flags = IOStreams{}, nil, nil, nil }
	testParse(t, []string{"serve"}, NewCmdServe, strip, []parseCase[ServeOptions]{
		{name: "defaults", want: base},
		{name: "server and detector flags", args: []string{"--addr", ":9000", "--queue-size", "32", "--workers", "2", "--detector", "lbp", "--allowed-detectors", "yunet,haar"},
			want: func() *ServeOptions {
				o := base()
				o.Server.Addr, o.Server.QueueSize, o.Server.AllowedDetectors, o.Server.Detector = ":9000", 32, []string{"yunet", "haar"}, "lbp"
				o.Detector.Workers, o.Detector.Detector = 2, "lbp"
				return o
			}},
		{name: "keys from the environment", env: map[string]string{"FACECTL_SERVER_API_KEYS": "key-one-0123456789,key-two-0123456789"},
			want: func() *ServeOptions {
				o := base()
				o.Server.APIKeys = []string{"key-one-0123456789", "key-two-0123456789"}
				return o
			}},
		{name: "short key", args: []string{"--api-keys", "short"}, wantErr: "server.api_keys[0]"},
		{name: "negative queue", args: []string{"--queue-size", "-1"}, wantErr: "server.queue_size"},
		{name: "argument", args: []string{"photo.jpg"}, wantErr: `unknown command "photo.jpg"`},
		{name: "log level", args: []string{"--log-level", "loud"}, wantErr: `--log-level "loud"`},
	})
}

func TestParseHealth(t *testing.T) {
	strip := func(o *HealthOptions) { o.IO = IOStreams{} }
	testParse(t, []string{"health"}, NewCmdHealth, strip, []parseCase[HealthOptions]{
		{name: "defaults", want: func() *HealthOptions { return &HealthOptions{URL: "http://127.0.0.1:8080", Timeout: 3 * time.Second} }},
		{name: "addr", args: []string{"--addr", "0.0.0.0:9000"}, want: func() *HealthOptions {
			return &HealthOptions{URL: "http://127.0.0.1:9000", Timeout: 3 * time.Second}
		}},
		{name: "addr from the environment", env: map[string]string{"FACECTL_SERVER_ADDR": "10.0.0.1:81"}, want: func() *HealthOptions {
			return &HealthOptions{URL: "http://10.0.0.1:81", Timeout: 3 * time.Second}
		}},
		{name: "url and timeout", args: []string{"--url", "http://h:1", "--timeout", "2s", "--addr", ":7"}, want: func() *HealthOptions {
			return &HealthOptions{URL: "http://h:1", Timeout: 2 * time.Second}
		}},
		{name: "argument", args: []string{"x"}, wantErr: `unknown command "x"`},
		{name: "bad timeout", args: []string{"--timeout", "soon"}, wantErr: `invalid argument "soon"`},
	})
}

func TestParseVersion(t *testing.T) {
	strip := func(o *VersionOptions) { o.IO, o.Engine = IOStreams{}, nil }
	testParse(t, []string{"version"}, NewCmdVersion, strip, []parseCase[VersionOptions]{
		{name: "no flags", want: func() *VersionOptions { return &VersionOptions{} }},
		{name: "argument", args: []string{"x"}, wantErr: `unknown command "x"`},
		{name: "flag", args: []string{"--short"}, wantErr: "unknown flag: --short"},
	})
}

func TestParseModel(t *testing.T) {
	strip := func(o *ModelPullOptions) { o.IO, o.HTTPClient = IOStreams{}, nil }
	testParse(t, []string{"model", "pull"}, NewCmdModelPull, strip, []parseCase[ModelPullOptions]{
		{name: "defaults", want: func() *ModelPullOptions {
			return &ModelPullOptions{From: modelfile.URL, Dir: modelfile.DefaultPullDir(), SHA256: modelfile.SHA256}
		}},
		{name: "flags", args: []string{"--from", "m.onnx", "--dir", "d", "--sha256", ""}, want: func() *ModelPullOptions {
			return &ModelPullOptions{From: "m.onnx", Dir: "d"}
		}},
		{name: "argument", args: []string{"m.onnx"}, wantErr: `unknown command "m.onnx"`},
	})
	stripPath := func(o *ModelPathOptions) { o.IO = IOStreams{} }
	testParse(t, []string{"model", "path"}, NewCmdModelPath, stripPath, []parseCase[ModelPathOptions]{
		{name: "defaults", want: func() *ModelPathOptions { return &ModelPathOptions{Detector: defaultDetectorSection()} }},
		{name: "model from the environment", env: map[string]string{"FACECTL_DETECTOR_MODEL": "/m.onnx"}, want: func() *ModelPathOptions {
			o := &ModelPathOptions{Detector: defaultDetectorSection()}
			o.Detector.Model = "/m.onnx"
			return o
		}},
		{name: "detector flags are serve's and detect's", args: []string{"--model", "m.onnx"}, wantErr: "unknown flag: --model"},
	})
}

// deployWant is the deploy section with the defaults, changed by set.
func deployWant(set func(*deploy.Config)) deploy.Config {
	c := deploy.DefaultConfig()
	if set != nil {
		set(&c)
	}
	return c
}

func stripTarget(t *deployTarget) { t.IO, t.Log, t.Deps = IOStreams{}, nil, nil }

func TestParseDeploy(t *testing.T) {
	strip := func(o *DeployOptions) { stripTarget(&o.deployTarget) }
	testParse(t, []string{"deploy"}, NewCmdDeploy, strip, []parseCase[DeployOptions]{
		{name: "defaults", want: func() *DeployOptions {
			return &DeployOptions{deployTarget: deployTarget{Config: deployWant(nil), Output: "text"}}
		}},
		{name: "flags", args: []string{"--dry-run", "-y", "--service", "stage", "-o", "json", "--cpu", "2048", "--memory", "4096", "--env", "A=1,2", "--env", "B=3"},
			want: func() *DeployOptions {
				return &DeployOptions{DryRun: true, Yes: true, deployTarget: deployTarget{Output: "json", Config: deployWant(func(c *deploy.Config) {
					c.Service, c.Task.CPU, c.Task.Memory = "stage", 2048, 4096
					c.Task.Environment = []deploy.EnvVar{{Name: "A", Value: "1,2"}, {Name: "B", Value: "3"}}
				})}}
			}},
		{name: "bad output", args: []string{"-o", "yaml"}, wantErr: `--output "yaml": want text or json`},
		{name: "invalid config", args: []string{"--cpu", "3"}, wantErr: "cpu"},
		{name: "argument", args: []string{"now"}, wantErr: `unknown command "now"`},
	})
}

func TestParseDeployInit(t *testing.T) {
	strip := func(o *DeployInitOptions) { o.IO, o.Log = IOStreams{}, nil }
	testParse(t, []string{"deploy", "init"}, NewCmdDeployInit, strip, []parseCase[DeployInitOptions]{
		{name: "defaults", want: func() *DeployInitOptions { return &DeployInitOptions{File: "facectl.yaml", Config: deployWant(nil)} }},
		{name: "flags", args: []string{"--file", "-", "--force", "--cluster", "prod", "--region", "eu-west-1"}, want: func() *DeployInitOptions {
			return &DeployInitOptions{File: "-", Force: true, Config: deployWant(func(c *deploy.Config) { c.Cluster, c.Region = "prod", "eu-west-1" })}
		}},
		{name: "deploy's own flags are not init's", args: []string{"--cpu", "2048"}, wantErr: "unknown flag: --cpu"},
	})
}

func TestParseDeployStatus(t *testing.T) {
	strip := func(o *DeployStatusOptions) { stripTarget(&o.deployTarget) }
	testParse(t, []string{"deploy", "status"}, NewCmdDeployStatus, strip, []parseCase[DeployStatusOptions]{
		{name: "defaults", want: func() *DeployStatusOptions {
			return &DeployStatusOptions{deployTarget{Config: deployWant(nil), Output: "text"}}
		}},
		{name: "persistent flags", args: []string{"--cluster", "prod", "--output", "json"}, want: func() *DeployStatusOptions {
			return &DeployStatusOptions{deployTarget{Output: "json", Config: deployWant(func(c *deploy.Config) { c.Cluster = "prod" })}}
		}},
		{name: "bad output", args: []string{"-o", "table"}, wantErr: `--output "table"`},
	})
}

func TestParseDeployRollback(t *testing.T) {
	strip := func(o *DeployRollbackOptions) { stripTarget(&o.deployTarget) }
	testParse(t, []string{"deploy", "rollback"}, NewCmdDeployRollback, strip, []parseCase[DeployRollbackOptions]{
		{name: "defaults", want: func() *DeployRollbackOptions {
			return &DeployRollbackOptions{deployTarget: deployTarget{Config: deployWant(nil), Output: "text"}}
		}},
		{name: "revision", args: []string{"--revision", "7", "--timeout", "10m"}, want: func() *DeployRollbackOptions {
			return &DeployRollbackOptions{Revision: 7, deployTarget: deployTarget{Output: "text", Config: deployWant(func(c *deploy.Config) { c.Wait.Timeout = 10 * time.Minute })}}
		}},
		{name: "bad revision", args: []string{"--revision", "last"}, wantErr: `invalid argument "last"`},
	})
}

func TestParseDeployDestroy(t *testing.T) {
	strip := func(o *DeployDestroyOptions) { stripTarget(&o.deployTarget) }
	testParse(t, []string{"deploy", "destroy"}, NewCmdDeployDestroy, strip, []parseCase[DeployDestroyOptions]{
		{name: "yes", args: []string{"--yes", "--purge-images", "--service", "web"}, want: func() *DeployDestroyOptions {
			return &DeployDestroyOptions{Yes: true, PurgeImages: true, deployTarget: deployTarget{Output: "text", Config: deployWant(func(c *deploy.Config) { c.Service = "web" })}}
		}},
		{name: "asks on a terminal", tty: true, want: func() *DeployDestroyOptions {
			return &DeployDestroyOptions{deployTarget: deployTarget{Output: "text", Config: deployWant(nil)}}
		}},
		{name: "no --yes off a terminal", wantErr: "pass --yes when not on a terminal"},
	})
}

func TestParseDeployLogs(t *testing.T) {
	strip := func(o *DeployLogsOptions) { stripTarget(&o.deployTarget) }
	testParse(t, []string{"deploy", "logs"}, NewCmdDeployLogs, strip, []parseCase[DeployLogsOptions]{
		{name: "defaults", want: func() *DeployLogsOptions {
			return &DeployLogsOptions{Logs: deploy.LogsOptions{Since: 10 * time.Minute}, deployTarget: deployTarget{Output: "text", Config: deployWant(nil)}}
		}},
		{name: "flags on a terminal", tty: true, args: []string{"--since", "1h", "--task", "3f2a", "-f"}, want: func() *DeployLogsOptions {
			return &DeployLogsOptions{Logs: deploy.LogsOptions{Since: time.Hour, Task: "3f2a", Follow: true, Readable: true},
				deployTarget: deployTarget{Output: "text", Config: deployWant(nil)}}
		}},
		{name: "bad since", args: []string{"--since", "yesterday"}, wantErr: `invalid argument "yesterday"`},
	})
}

func TestParseDeployPolicy(t *testing.T) {
	strip := func(o *DeployPolicyOptions) { o.IO = IOStreams{} }
	testParse(t, []string{"deploy", "policy"}, NewCmdDeployPolicy, strip, []parseCase[DeployPolicyOptions]{
		{name: "defaults", want: func() *DeployPolicyOptions { return &DeployPolicyOptions{Config: deployWant(nil)} }},
		{name: "flags", args: []string{"--boundary", "--boundary-name", "--image", "r/i:1", "--target-group-arn", "arn:tg", "--autoscaling=false", "--service", "web"},
			want: func() *DeployPolicyOptions {
				return &DeployPolicyOptions{Boundary: true, BoundaryName: true, Config: deployWant(func(c *deploy.Config) {
					c.Image.URI, c.LoadBalancer.TargetGroupARN, c.AutoScaling.Enabled, c.Service = "r/i:1", "arn:tg", false, "web"
				})}
			}},
		{name: "argument", args: []string{"x"}, wantErr: `unknown command "x"`},
	})
}
