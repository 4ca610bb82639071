package vision

import (
	"math"
	"sort"

	"github.com/facectl/facectl/pkg/face"
)

// candidate is a raw detection in source-image coordinates before suppression and clipping.
type candidate struct {
	x1, y1, x2, y2 float64
	score          float64
	landmarks      [5]face.Point
}

func (c candidate) area() float64 { return math.Max(0, c.x2-c.x1) * math.Max(0, c.y2-c.y1) }

func iou(a, b candidate) float64 {
	ix := math.Min(a.x2, b.x2) - math.Max(a.x1, b.x1)
	iy := math.Min(a.y2, b.y2) - math.Max(a.y1, b.y1)
	if ix <= 0 || iy <= 0 {
		return 0
	}
	inter := ix * iy
	return inter / (a.area() + b.area() - inter)
}

// suppress is greedy non-maximum suppression: candidates sorted by score, each one kept unless it
// overlaps a kept one by more than threshold (intersection over union).
func suppress(cands []candidate, threshold float64) []candidate {
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	kept := make([]candidate, 0, len(cands))
next:
	for _, c := range cands {
		for _, k := range kept {
			if iou(c, k) > threshold {
				continue next
			}
		}
		kept = append(kept, c)
	}
	return kept
}

// toFaces clips candidates to a w×h image, scales them by s (displayed pixels per source pixel) and
// rounds them to the reported form. Boxes that vanish when clipped are dropped.
func toFaces(cands []candidate, s float64, w, h int, withLandmarks bool) []face.Face {
	faces := make([]face.Face, 0, len(cands))
	for _, c := range cands {
		x1 := clamp(math.Round(c.x1*s), 0, float64(w))
		y1 := clamp(math.Round(c.y1*s), 0, float64(h))
		x2 := clamp(math.Round(c.x2*s), 0, float64(w))
		y2 := clamp(math.Round(c.y2*s), 0, float64(h))
		if x2-x1 < 1 || y2-y1 < 1 {
			continue
		}
		f := face.Face{
			X: int(x1), Y: int(y1), W: int(x2 - x1), H: int(y2 - y1),
			Confidence: math.Round(c.score*1e4) / 1e4,
			Landmarks:  []face.Point{},
		}
		if withLandmarks {
			for _, p := range c.landmarks {
				f.Landmarks = append(f.Landmarks, face.Point{
					math.Round(clamp(p[0]*s, 0, float64(w))*10) / 10,
					math.Round(clamp(p[1]*s, 0, float64(h))*10) / 10,
				})
			}
		}
		faces = append(faces, f)
	}
	return faces
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
