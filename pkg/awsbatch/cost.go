package awsbatch

import "time"

// Fargate prices, Linux/x86, us-east-1, per hour, as AWS publishes them on
// https://aws.amazon.com/fargate/pricing/ (on-demand: $0.04048 per vCPU-hour and $0.004445 per
// GB-hour). Fargate Spot's price moves with supply; AWS states it as up to 70 % off on-demand,
// and the estimate takes that ceiling ($0.012144 and $0.0013335): real Spot bills may be up to
// about a third higher. Figures as of 2026-12-03; other regions differ by a few per cent.
const (
	onDemandVCPUHour = 0.04048
	onDemandGBHour   = 0.004445
	spotVCPUHour     = onDemandVCPUHour * 0.3
	spotGBHour       = onDemandGBHour * 0.3
)

// BlurImagesPerVCPUSecond is the measured throughput of --blur on 12 MP JPEGs on one vCPU: 185
// CPU-ms an image to decode, detect, blur and encode (BENCHMARKS.md, "facectl batch"); a child
// keeps two images in flight per detector, so S3 transfers overlap the work. The estimates use it.
const BlurImagesPerVCPUSecond = 5.4

// taskStartup is what a child spends before its first image (Fargate pulls the image and starts
// the task; billing starts when the image pull starts).
const taskStartup = 45 * time.Second

// Estimate is the expected task time and cost of a run.
type Estimate struct {
	TaskHours float64 `json:"task_hours"`
	CostUSD   float64 `json:"cost_usd"`
	// Per1000USD is the compute cost per 1,000 images.
	Per1000USD float64 `json:"cost_per_1000_images_usd"`
	// Wall is the shortest wall time with max_vcpus running at once.
	Wall time.Duration `json:"wall_ns"`
}

// Estimate is the cost of images at the configured size and capacity, from the measured
// throughput.
func (c Config) Estimate(images int) Estimate {
	if images == 0 {
		return Estimate{}
	}
	perTask := float64(c.ShardSize) / (BlurImagesPerVCPUSecond * c.VCPU)
	shards := (images + c.ShardSize - 1) / c.ShardSize
	seconds := float64(images)/(BlurImagesPerVCPUSecond*c.VCPU) + float64(shards)*taskStartup.Seconds()
	e := Estimate{TaskHours: seconds / 3600}
	e.CostUSD = taskCost(e.TaskHours, c.VCPU, c.MemoryMiB, c.Spot)
	e.Per1000USD = e.CostUSD / float64(images) * 1000
	parallel := max(1, int(float64(c.MaxVCPUs)/c.VCPU))
	waves := (shards + parallel - 1) / parallel
	e.Wall = time.Duration((float64(waves)*(min(perTask, float64(images)/(BlurImagesPerVCPUSecond*c.VCPU))) + taskStartup.Seconds()) * float64(time.Second))
	return e
}

// taskCost is the Fargate bill of hours of tasks of vcpu and memoryMiB.
func taskCost(hours, vcpu float64, memoryMiB int, spot bool) float64 {
	v, g := onDemandVCPUHour, onDemandGBHour
	if spot {
		v, g = spotVCPUHour, spotGBHour
	}
	return hours * (vcpu*v + float64(memoryMiB)/1024*g)
}
