package deploy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// simImage is an image in the simulated repository.
type simImage struct {
	id     int
	pushed time.Time
	tags   []string
}

// expireECR applies an ECR lifecycle policy the way ECR documents it
// (https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html#lifecycle_policy_evaluation):
// rules in rulePriority order; tagStatus tagged with tagPrefixList selects images with a tag
// starting with the prefix, untagged those without tags, any all; an image a rule's selection
// matches is never considered by a lower-priority rule; imageCountMoreThan keeps the newest N
// by push time and expires the rest; sinceImagePushed expires images older than N days.
func expireECR(t *testing.T, policy string, images []simImage, now time.Time) map[int]bool {
	t.Helper()
	var p struct {
		Rules []lifecycleRule `json:"rules"`
	}
	if err := json.Unmarshal([]byte(policy), &p); err != nil {
		t.Fatal(err)
	}
	sort.Slice(p.Rules, func(i, j int) bool { return p.Rules[i].RulePriority < p.Rules[j].RulePriority })
	taken, expired := map[int]bool{}, map[int]bool{}
	for i, r := range p.Rules {
		if i > 0 && r.RulePriority == p.Rules[i-1].RulePriority {
			t.Fatalf("two rules with priority %d", r.RulePriority)
		}
		if r.Selection.TagStatus == "any" && i != len(p.Rules)-1 {
			t.Fatal("ECR requires the tagStatus any rule to have the lowest priority")
		}
		var sel []simImage
		for _, img := range images {
			if taken[img.id] {
				continue
			}
			match := false
			switch r.Selection.TagStatus {
			case "any":
				match = true
			case "untagged":
				match = len(img.tags) == 0
			case "tagged":
				for _, tag := range img.tags {
					for _, pre := range r.Selection.TagPrefixList {
						match = match || strings.HasPrefix(tag, pre)
					}
				}
			default:
				t.Fatalf("tagStatus %q", r.Selection.TagStatus)
			}
			if match {
				sel = append(sel, img)
				taken[img.id] = true
			}
		}
		sort.Slice(sel, func(i, j int) bool { return sel[i].pushed.After(sel[j].pushed) })
		for k, img := range sel {
			switch r.Selection.CountType {
			case "imageCountMoreThan":
				if k >= r.Selection.CountNumber {
					expired[img.id] = true
				}
			case "sinceImagePushed":
				if now.Sub(img.pushed) > time.Duration(r.Selection.CountNumber)*24*time.Hour {
					expired[img.id] = true
				}
			default:
				t.Fatalf("countType %q", r.Selection.CountType)
			}
		}
	}
	return expired
}

// TestLifecyclePolicyNeverExpiresAnotherServicesImages (issue 15 item 5): web and stage share
// the repository and deploy 30 times each (stage three times for each of web's first ten); the
// policy each deploy writes (merged with the other's rules) is evaluated with ECR's semantics
// after every deploy: no image a service runs or keeps for rollback (its last keep_deployed
// deploys) ever expires.
func TestLifecyclePolicyNeverExpiresAnotherServicesImages(t *testing.T) {
	web, stage := DefaultConfig(), DefaultConfig()
	web.Service, stage.Service = "web", "stage"
	var images []simImage
	deployed := map[string][]int{}
	policy := ""
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	order := strings.Repeat("wsss", 10) + strings.Repeat("w", 20)
	for i, c := range order {
		cfg := web
		if c == 's' {
			cfg = stage
		}
		now = now.Add(time.Hour)
		id := len(images)
		images = append(images, simImage{id: id, pushed: now, tags: []string{fmt.Sprintf("%s-%d", cfg.Service, i),
			deployedPrefix(cfg.Cluster, cfg.Service) + fmt.Sprintf("%064x", id)}})
		deployed[cfg.Service] = append(deployed[cfg.Service], id)
		policy = lifecyclePolicy(cfg.Image, cfg.Cluster, cfg.Service, policy)
		expired := expireECR(t, policy, images, now)
		for svc, ids := range deployed {
			keep := ids[max(0, len(ids)-cfg.Image.KeepDeployed):]
			for _, k := range keep {
				if expired[k] {
					t.Fatalf("after deploy %d (%s): image %d, one of %s's last %d deploys, expires\n%s", i, cfg.Service, k, svc, cfg.Image.KeepDeployed, policy)
				}
			}
		}
	}
	if deployed["web"] == nil || len(deployed["stage"]) != 30 || len(deployed["web"]) != 30 {
		t.Fatalf("deploys: %d web, %d stage", len(deployed["web"]), len(deployed["stage"]))
	}
	// The older ones do expire: retention still bounds the repository.
	if expired := expireECR(t, policy, images, now); !expired[deployed["web"][0]] || !expired[deployed["stage"][0]] {
		t.Errorf("the first deploys of each service never expire")
	}
}

// TestLifecyclePolicyIsFacectls: the merged policy is still told from the user's own.
func TestLifecyclePolicyIsFacectls(t *testing.T) {
	if !ownLifecyclePolicy(lifecyclePolicy(DefaultConfig().Image, "facectl", "web", "")) || ownLifecyclePolicy(`{"rules":[]}`) {
		t.Error("facectl's policy is not told from the user's")
	}
}
