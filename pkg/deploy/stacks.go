package deploy

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// StackSpec is a CloudFormation stack facectl wants to exist: its name, the facectl:stack tag
// value saying for what facectl made it, its template and how messages name it.
type StackSpec = stackSpec

// Stacks is the managed environment's stack code (ownership check, change set before an update,
// create, update, replace a failed first create, wait, explain a failure, delete) for facectl's
// other environments: `facectl batch` keeps its environment through it.
type Stacks struct{ d *Deployer }

// NewStacks returns the stack code using cfn, logging to log (nil: discarded) and polling a
// stack every poll.
func NewStacks(cfn CFNAPI, log *slog.Logger, poll time.Duration) *Stacks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Stacks{d: &Deployer{cfg: Config{Wait: WaitConfig{PollInterval: poll}}, deps: Deps{CFN: cfn, Log: log}, log: log}}
}

// Ensure creates spec's stack, or updates it when its template changed, and waits until it
// settles; it refuses a stack facectl did not create for spec.For, or one that is busy or
// failed. It returns the stack's outputs (nil in a dry run of a stack still to be created) and
// what it did or, with dryRun (which changes nothing), would do.
func (s *Stacks) Ensure(ctx context.Context, spec StackSpec, dryRun bool) (map[string]string, []string, error) {
	r := s.d.newRun(dryRun, nil)
	st, err := s.d.describeStack(ctx, spec.Name)
	if err != nil {
		return nil, nil, err
	}
	step, err := r.planStack(ctx, spec, st)
	if err != nil {
		return nil, nil, err
	}
	plan := step.describe()
	out, err := r.applyStack(ctx, ctx, step)
	return out, plan, err
}

// Outputs returns the outputs of spec's stack; found is false when there is none.
func (s *Stacks) Outputs(ctx context.Context, spec StackSpec) (out map[string]string, found bool, err error) {
	st, err := s.d.describeStack(ctx, spec.Name)
	if err != nil || st == nil {
		return nil, false, err
	}
	if err := checkOwner(st, spec); err != nil {
		return nil, true, err
	}
	return stackOutputs(st), true, nil
}

// Delete deletes spec's stack and waits until it is gone; found is false when there was none.
func (s *Stacks) Delete(ctx context.Context, spec StackSpec) (found bool, err error) {
	st, err := s.d.describeStack(ctx, spec.Name)
	if err != nil || st == nil {
		return false, err
	}
	if err := checkOwner(st, spec); err != nil {
		return true, err
	}
	return true, s.d.deleteStack(ctx, aws.ToString(st.StackId), spec.Name)
}
