package deploy

import "testing"

// sameJSON compares stack templates and lifecycle policies by value; text that does not parse
// (a template someone rewrote in YAML) is the same only when it is identical.
func TestSameJSON(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, "{\n  \"b\": [1, 2],\n  \"a\": 1.0\n}", true},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"b":[1,2]}`, `{"b":[2,1]}`, false},
		{"Resources:\n  X: {}\n", "Resources:\n  X: {}\n", true},
		{"Resources:\n  X: {}\n", "Resources:\n  Y: {}\n", false},
		{`{"a":1}`, "a: 1\n", false},
	} {
		if got := sameJSON(tc.a, tc.b); got != tc.want {
			t.Errorf("sameJSON(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
