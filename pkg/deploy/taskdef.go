package deploy

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TaskDefinition is the part of an ECS task definition that facectl manages, in the JSON shape
// of `aws ecs register-task-definition`. Fields ECS adds (revision, status, hostPort, empty
// lists) are not part of it, so comparing two of these ignores them.
type TaskDefinition struct {
	Family                  string                `json:"family"`
	RequiresCompatibilities []string              `json:"requiresCompatibilities"`
	NetworkMode             string                `json:"networkMode"`
	CPU                     string                `json:"cpu"`
	Memory                  string                `json:"memory"`
	RuntimePlatform         *RuntimePlatform      `json:"runtimePlatform,omitempty"`
	ExecutionRoleARN        string                `json:"executionRoleArn,omitempty"`
	TaskRoleARN             string                `json:"taskRoleArn,omitempty"`
	ContainerDefinitions    []ContainerDefinition `json:"containerDefinitions"`
}

// RuntimePlatform is the task's CPU architecture and OS.
type RuntimePlatform struct {
	CPUArchitecture       string `json:"cpuArchitecture"`
	OperatingSystemFamily string `json:"operatingSystemFamily"`
}

// ContainerDefinition is the one container of the task.
type ContainerDefinition struct {
	Name             string            `json:"name"`
	Image            string            `json:"image"`
	Essential        bool              `json:"essential"`
	Command          []string          `json:"command,omitempty"`
	PortMappings     []PortMapping     `json:"portMappings,omitempty"`
	Environment      []EnvVar          `json:"environment,omitempty"`
	Secrets          []Secret          `json:"secrets,omitempty"`
	LogConfiguration *LogConfiguration `json:"logConfiguration,omitempty"`
	HealthCheck      *HealthCheck      `json:"healthCheck,omitempty"`
	StopTimeout      int               `json:"stopTimeout,omitempty"`
}

// PortMapping is a container port.
type PortMapping struct {
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	// Name is set for Express Mode only, which requires a named port (see expressPortName).
	Name string `json:"name,omitempty"`
}

// LogConfiguration is the container's log driver.
type LogConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options,omitempty"`
}

// HealthCheck is the container health check, times in seconds.
type HealthCheck struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval"`
	Timeout     int      `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod int      `json:"startPeriod"`
}

// RenderTaskDefinition renders the task definition for cfg running image (pinned by digest
// when known) with logs in region.
func RenderTaskDefinition(cfg Config, image, region string) TaskDefinition {
	arch, _ := cpuArchitecture(cfg.Image.Platform)
	t := cfg.Task
	c := ContainerDefinition{
		Name:         t.ContainerName,
		Image:        image,
		Essential:    true,
		Command:      t.Command,
		PortMappings: []PortMapping{{ContainerPort: t.ContainerPort, Protocol: "tcp"}},
		Environment:  sortedEnv(withServerAddr(t.Environment, t.ContainerPort)),
		Secrets:      sortedSecrets(t.Secrets),
		StopTimeout:  seconds(t.StopTimeout),
	}
	if cfg.IsExpress() {
		c.Name, c.PortMappings[0].Name = expressContainerName, expressPortName
	}
	c.LogConfiguration = &LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
		"awslogs-group":         cfg.LogGroup(),
		"awslogs-region":        region,
		"awslogs-stream-prefix": cfg.Logs.StreamPrefix,
	}}
	if hc := t.HealthCheck; len(hc.Command) > 0 {
		c.HealthCheck = &HealthCheck{
			Command:     hc.Command,
			Interval:    seconds(hc.Interval),
			Timeout:     seconds(hc.Timeout),
			Retries:     hc.Retries,
			StartPeriod: seconds(hc.StartPeriod),
		}
	}
	return TaskDefinition{
		Family:                  cfg.TaskFamily(),
		RequiresCompatibilities: []string{"FARGATE"},
		NetworkMode:             "awsvpc",
		CPU:                     strconv.Itoa(t.CPU),
		Memory:                  strconv.Itoa(t.Memory),
		RuntimePlatform:         &RuntimePlatform{CPUArchitecture: arch, OperatingSystemFamily: "LINUX"},
		ExecutionRoleARN:        t.ExecutionRoleARN,
		TaskRoleARN:             t.TaskRoleARN,
		ContainerDefinitions:    []ContainerDefinition{c},
	}
}

func seconds(d time.Duration) int { return int(d / time.Second) }

// serverAddrEnv is the variable facectl serve (and facectl health, the container health check)
// reads its listen address from.
const serverAddrEnv = "FACECTL_SERVER_ADDR"

// withServerAddr tells serve to listen on the container port: without it serve listens on its
// default :8080 whatever the port mapping, the load balancer and the health check say. A value
// the user set is kept (Validate checks that its port is the container port).
func withServerAddr(env []EnvVar, port int) []EnvVar {
	for _, e := range env {
		if e.Name == serverAddrEnv {
			return env
		}
	}
	return append(append([]EnvVar(nil), env...), EnvVar{Name: serverAddrEnv, Value: ":" + strconv.Itoa(port)})
}

func sortedEnv(in []EnvVar) []EnvVar {
	out := append([]EnvVar(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedSecrets(in []Secret) []Secret {
	out := append([]Secret(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// JSON renders the task definition as indented JSON.
func (t TaskDefinition) JSON() string {
	b, _ := json.MarshalIndent(t, "", "  ")
	return string(b) + "\n"
}

// Equal reports whether two task definitions have the same managed fields.
func (t TaskDefinition) Equal(o TaskDefinition) bool { return t.JSON() == o.JSON() }

// Input converts the task definition to the RegisterTaskDefinition request.
func (t TaskDefinition) Input() *ecs.RegisterTaskDefinitionInput {
	in := &ecs.RegisterTaskDefinitionInput{
		Family:      aws.String(t.Family),
		NetworkMode: ecstypes.NetworkMode(t.NetworkMode),
		Cpu:         aws.String(t.CPU),
		Memory:      aws.String(t.Memory),
	}
	for _, c := range t.RequiresCompatibilities {
		in.RequiresCompatibilities = append(in.RequiresCompatibilities, ecstypes.Compatibility(c))
	}
	if t.RuntimePlatform != nil {
		in.RuntimePlatform = &ecstypes.RuntimePlatform{
			CpuArchitecture:       ecstypes.CPUArchitecture(t.RuntimePlatform.CPUArchitecture),
			OperatingSystemFamily: ecstypes.OSFamily(t.RuntimePlatform.OperatingSystemFamily),
		}
	}
	if t.ExecutionRoleARN != "" {
		in.ExecutionRoleArn = aws.String(t.ExecutionRoleARN)
	}
	if t.TaskRoleARN != "" {
		in.TaskRoleArn = aws.String(t.TaskRoleARN)
	}
	for _, c := range t.ContainerDefinitions {
		cd := ecstypes.ContainerDefinition{
			Name:      aws.String(c.Name),
			Image:     aws.String(c.Image),
			Essential: aws.Bool(c.Essential),
			Command:   c.Command,
		}
		for _, p := range c.PortMappings {
			pm := ecstypes.PortMapping{
				ContainerPort: aws.Int32(int32(p.ContainerPort)),
				Protocol:      ecstypes.TransportProtocol(p.Protocol),
			}
			if p.Name != "" {
				pm.Name = aws.String(p.Name)
			}
			cd.PortMappings = append(cd.PortMappings, pm)
		}
		for _, e := range c.Environment {
			cd.Environment = append(cd.Environment, ecstypes.KeyValuePair{Name: aws.String(e.Name), Value: aws.String(e.Value)})
		}
		for _, s := range c.Secrets {
			cd.Secrets = append(cd.Secrets, ecstypes.Secret{Name: aws.String(s.Name), ValueFrom: aws.String(s.ValueFrom)})
		}
		if c.LogConfiguration != nil {
			cd.LogConfiguration = &ecstypes.LogConfiguration{
				LogDriver: ecstypes.LogDriver(c.LogConfiguration.LogDriver),
				Options:   c.LogConfiguration.Options,
			}
		}
		if h := c.HealthCheck; h != nil {
			cd.HealthCheck = &ecstypes.HealthCheck{
				Command:     h.Command,
				Interval:    aws.Int32(int32(h.Interval)),
				Timeout:     aws.Int32(int32(h.Timeout)),
				Retries:     aws.Int32(int32(h.Retries)),
				StartPeriod: aws.Int32(int32(h.StartPeriod)),
			}
		}
		if c.StopTimeout > 0 {
			cd.StopTimeout = aws.Int32(int32(c.StopTimeout))
		}
		in.ContainerDefinitions = append(in.ContainerDefinitions, cd)
	}
	return in
}

// taskDefinitionFromECS extracts the managed fields of a described task definition.
func taskDefinitionFromECS(td *ecstypes.TaskDefinition) TaskDefinition {
	t := TaskDefinition{
		Family:           aws.ToString(td.Family),
		NetworkMode:      string(td.NetworkMode),
		CPU:              aws.ToString(td.Cpu),
		Memory:           aws.ToString(td.Memory),
		ExecutionRoleARN: aws.ToString(td.ExecutionRoleArn),
		TaskRoleARN:      aws.ToString(td.TaskRoleArn),
	}
	for _, c := range td.RequiresCompatibilities {
		t.RequiresCompatibilities = append(t.RequiresCompatibilities, string(c))
	}
	if rp := td.RuntimePlatform; rp != nil {
		t.RuntimePlatform = &RuntimePlatform{CPUArchitecture: string(rp.CpuArchitecture), OperatingSystemFamily: string(rp.OperatingSystemFamily)}
	}
	for _, cd := range td.ContainerDefinitions {
		c := ContainerDefinition{
			Name:      aws.ToString(cd.Name),
			Image:     aws.ToString(cd.Image),
			Essential: cd.Essential == nil || *cd.Essential,
			Command:   cd.Command,
		}
		if len(c.Command) == 0 {
			c.Command = nil
		}
		for _, p := range cd.PortMappings {
			proto := string(p.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			c.PortMappings = append(c.PortMappings, PortMapping{ContainerPort: int(aws.ToInt32(p.ContainerPort)), Protocol: proto, Name: aws.ToString(p.Name)})
		}
		for _, e := range cd.Environment {
			c.Environment = append(c.Environment, EnvVar{Name: aws.ToString(e.Name), Value: aws.ToString(e.Value)})
		}
		c.Environment = sortedEnv(c.Environment)
		if len(c.Environment) == 0 {
			c.Environment = nil
		}
		for _, s := range cd.Secrets {
			c.Secrets = append(c.Secrets, Secret{Name: aws.ToString(s.Name), ValueFrom: aws.ToString(s.ValueFrom)})
		}
		c.Secrets = sortedSecrets(c.Secrets)
		if len(c.Secrets) == 0 {
			c.Secrets = nil
		}
		if lc := cd.LogConfiguration; lc != nil {
			c.LogConfiguration = &LogConfiguration{LogDriver: string(lc.LogDriver), Options: lc.Options}
		}
		if h := cd.HealthCheck; h != nil {
			c.HealthCheck = &HealthCheck{
				Command:     h.Command,
				Interval:    int(aws.ToInt32(h.Interval)),
				Timeout:     int(aws.ToInt32(h.Timeout)),
				Retries:     int(aws.ToInt32(h.Retries)),
				StartPeriod: int(aws.ToInt32(h.StartPeriod)),
			}
		}
		c.StopTimeout = int(aws.ToInt32(cd.StopTimeout))
		t.ContainerDefinitions = append(t.ContainerDefinitions, c)
	}
	return t
}
