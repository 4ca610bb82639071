// Package face holds the types shared by every part of facectl that talks about detected faces:
// the face itself, the result of detecting faces in one image, and the filters a user can apply.
// It is pure Go so that packages which only format or transport results build without cgo.
package face

import (
	"math"
	"sort"
	"time"
)

// Landmark names, in the order YuNet emits them and facectl reports them.
var LandmarkNames = [5]string{"right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner"}

// Point is an [x, y] position in pixels of the displayed image.
type Point [2]float64

// Face is one detected face. The box is in pixels of the image as displayed (after EXIF
// orientation) and clipped to it. Landmarks is empty for detectors that do not find them.
type Face struct {
	X          int     `json:"x"`
	Y          int     `json:"y"`
	W          int     `json:"w"`
	H          int     `json:"h"`
	Confidence float64 `json:"confidence"`
	Landmarks  []Point `json:"landmarks"`
}

// Area is the box's area in pixels.
func (f Face) Area() int { return f.W * f.H }

// Detection is the result of running a detector on one image.
type Detection struct {
	Width    int
	Height   int
	Detector string
	Elapsed  time.Duration
	Faces    []Face
}

// ElapsedMS is Elapsed in milliseconds, rounded to 0.1 ms, as reported in JSON.
func (d Detection) ElapsedMS() float64 {
	return math.Round(float64(d.Elapsed)/float64(time.Millisecond)*10) / 10
}

// Filter selects which detected faces a user wants reported.
type Filter struct {
	// MinConfidence drops faces scoring below it (0 keeps all).
	MinConfidence float64
	// MaxFaces keeps at most this many faces, the most confident first (0 = no limit).
	MaxFaces int
	// Biggest keeps only the largest face.
	Biggest bool
	// Best keeps only the most confident face.
	Best bool
}

// Apply returns the faces that pass the filter, most confident first. It does not modify faces.
func (f Filter) Apply(faces []Face) []Face {
	out := make([]Face, 0, len(faces))
	for _, fc := range faces {
		if fc.Confidence >= f.MinConfidence {
			out = append(out, fc)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Confidence > out[j].Confidence })
	if f.Biggest && len(out) > 1 {
		big := 0
		for i := range out {
			if out[i].Area() > out[big].Area() {
				big = i
			}
		}
		out = []Face{out[big]}
	}
	if f.Best && len(out) > 1 {
		out = out[:1]
	}
	if f.MaxFaces > 0 && len(out) > f.MaxFaces {
		out = out[:f.MaxFaces]
	}
	return out
}
