package face

import (
	"testing"
	"time"
)

func TestFilterApply(t *testing.T) {
	faces := []Face{
		{X: 0, W: 10, H: 10, Confidence: 0.8},
		{X: 1, W: 50, H: 50, Confidence: 0.7},
		{X: 2, W: 20, H: 20, Confidence: 0.95},
		{X: 3, W: 5, H: 5, Confidence: 0.6},
	}
	xs := func(fs []Face) (out []int) {
		for _, f := range fs {
			out = append(out, f.X)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []int
	}{
		{"all, most confident first", Filter{}, []int{2, 0, 1, 3}},
		{"min confidence", Filter{MinConfidence: 0.75}, []int{2, 0}},
		{"max faces", Filter{MaxFaces: 2}, []int{2, 0}},
		{"biggest", Filter{Biggest: true}, []int{1}},
		{"best", Filter{Best: true}, []int{2}},
		{"biggest above a confidence", Filter{Biggest: true, MinConfidence: 0.75}, []int{2}},
		{"nothing passes", Filter{MinConfidence: 0.99}, nil},
	} {
		got := xs(tc.f.Apply(faces))
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
	if faces[0].X != 0 || faces[2].X != 2 {
		t.Error("Apply modified its input")
	}
}

func TestElapsedMS(t *testing.T) {
	if got := (Detection{Elapsed: 12345678 * time.Nanosecond}).ElapsedMS(); got != 12.3 {
		t.Errorf("ElapsedMS = %v, want 12.3", got)
	}
}
