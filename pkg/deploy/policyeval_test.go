package deploy

import (
	"fmt"
	"strings"
)

// policyRequest is one request to evaluate against a policy: an action on a resource, with the
// condition keys the request carries (absent keys are absent, as in IAM).
type policyRequest struct {
	Action   string
	Resource string
	Context  map[string]string
}

// evaluate is a small IAM evaluator for the policies facectl writes: an explicit Deny wins;
// otherwise an Allow statement must match the action (case-insensitive, * and ? wildcards),
// the resource (case-sensitive wildcards) and every condition
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
// Conditions: String/Arn Equals/Like, their ForAnyValue:/ForAllValues: and ...IfExists forms,
// and Null (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
// An operator it does not know panics, so a test can never pass by not understanding a policy.
func (p PolicyDocument) evaluate(r policyRequest) bool {
	allowed := false
	for _, s := range p.Statement {
		if !matchesAny(s.Action, r.Action, true) || !matchesAny(s.Resource, r.Resource, false) || !conditionsHold(s.Condition, r.Context) {
			continue
		}
		if s.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

func matchesAny(patterns []string, v string, fold bool) bool {
	for _, p := range patterns {
		if globMatch(p, v, fold) {
			return true
		}
	}
	return false
}

// globMatch matches IAM's wildcards: * any run of characters (including /), ? one character.
func globMatch(pattern, v string, fold bool) bool {
	if fold {
		pattern, v = strings.ToLower(pattern), strings.ToLower(v)
	}
	// path.Match's * stops at '/'; IAM's does not.
	if pattern == "" {
		return v == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(v); i++ {
			if globMatch(pattern[1:], v[i:], false) {
				return true
			}
		}
		return false
	case '?':
		return v != "" && globMatch(pattern[1:], v[1:], false)
	}
	return v != "" && v[0] == pattern[0] && globMatch(pattern[1:], v[1:], false)
}

func conditionValues(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = fmt.Sprint(x)
		}
		return out
	case bool:
		return []string{fmt.Sprint(v)}
	}
	panic(fmt.Sprintf("condition value %T", v))
}

func conditionsHold(cond map[string]map[string]any, ctx map[string]string) bool {
	for op, keys := range cond {
		for key, want := range keys {
			if !conditionHolds(op, want, ctx, key) {
				return false
			}
		}
	}
	return true
}

func conditionHolds(op string, want any, ctx map[string]string, key string) bool {
	got, present := ctx[key]
	if op == "Null" {
		return fmt.Sprint(want) == fmt.Sprint(!present)
	}
	set := ""
	if i := strings.Index(op, ":"); i >= 0 {
		set, op = op[:i], op[i+1:]
	}
	op, ifExists := strings.CutSuffix(op, "IfExists")
	if !present {
		return ifExists || set == "ForAllValues"
	}
	var match func(pattern, v string) bool
	switch op {
	case "StringEquals":
		match = func(p, v string) bool { return p == v }
	case "StringLike", "ArnLike", "ArnEquals": // both Arn operators take wildcards
		match = func(p, v string) bool { return globMatch(p, v, false) }
	default:
		panic("condition operator " + op + " not understood by the test evaluator")
	}
	for _, w := range conditionValues(want) {
		if match(w, got) {
			return true
		}
	}
	return false
}
