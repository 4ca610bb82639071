//go:build cgo

package vision

import (
	"errors"
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/pkg/face"
)

// yunetOutputs are the network outputs in the order decodeYuNet reads them.
var yunetOutputs = []string{
	"cls_8", "cls_16", "cls_32",
	"obj_8", "obj_16", "obj_32",
	"bbox_8", "bbox_16", "bbox_32",
	"kps_8", "kps_16", "kps_32",
}

var yunetStrides = [3]int{8, 16, 32}

// yunet runs YuNet 2023mar through OpenCV's dnn module. Not safe for concurrent use.
type yunet struct {
	net           gocv.Net
	score, nms    float64
	detectionSize int
	// small holds images downscaled to the detection size, planes their split channels, blob
	// the network input; all are reused across images.
	small, planes, blob *buffer
	// input is the size of the last network input, for tests.
	input image.Point
}

func newYuNet(model string, score, nms float64, detectionSize int) (*yunet, error) {
	net := gocv.ReadNetFromONNX(model)
	if net.Empty() {
		return nil, fmt.Errorf("loading YuNet from %s: OpenCV could not read the network", model)
	}
	_ = net.SetPreferableBackend(gocv.NetBackendOpenCV)
	_ = net.SetPreferableTarget(gocv.NetTargetCPU)
	side := padTo32(detectionSize)
	return &yunet{
		net: net, score: score, nms: nms, detectionSize: detectionSize,
		small:  newBuffer(3 * detectionSize * detectionSize),
		planes: newBuffer(3 * side * side),
		blob:   newBuffer(4 * 3 * side * side),
	}, nil
}

func (y *yunet) name() string { return "yunet" }

func (y *yunet) close() error {
	return errors.Join(y.net.Close(), y.small.close(), y.planes.close(), y.blob.close())
}

// detect finds faces in a BGR image. Images larger than the detection size (or maxSide) are
// downscaled for the network; every image is zero-padded at the bottom and right to a multiple of 32 (and at least
// yunetMinSide). Returned candidates are in img's coordinates. OpenCV keeps the network's
// intermediate blobs while consecutive inputs have the same shape, and setting an input of the
// same shape copies it into the existing one.
func (y *yunet) detect(img gocv.Mat, maxSide int) ([]candidate, error) {
	src := img
	scale := 1.0
	limit := y.detectionSize
	if maxSide > 0 && maxSide < limit {
		limit = maxSide
	}
	if long := max(img.Cols(), img.Rows()); long > limit {
		scale = float64(limit) / float64(long)
		size := image.Pt(max(1, int(math.Round(float64(img.Cols())*scale))), max(1, int(math.Round(float64(img.Rows())*scale))))
		small, err := y.small.view(gocv.MatTypeCV8UC3, size.Y, size.X)
		if err != nil {
			return nil, err
		}
		defer small.Close()
		gocv.Resize(img, &small, size, 0, 0, gocv.InterpolationArea)
		src = small
	}
	w, h := src.Cols(), src.Rows()
	pw, ph := padTo32(w), padTo32(h)
	planes, err := y.planes.view(gocv.MatTypeCV8U, 3*h, w)
	if err != nil {
		return nil, err
	}
	defer planes.Close()
	y.input = image.Pt(pw, ph)
	blob, err := y.blob.view(gocv.MatTypeCV32F, 1, 3, ph, pw)
	if err != nil {
		return nil, err
	}
	defer blob.Close()
	if err := fillBlob(src, planes, blob); err != nil {
		return nil, err
	}
	y.net.SetInput(blob, "")
	outs := y.net.ForwardLayers(yunetOutputs)
	defer func() {
		for i := range outs {
			outs[i].Close()
		}
	}()
	if len(outs) != len(yunetOutputs) {
		return nil, fmt.Errorf("YuNet returned %d outputs, want %d: is this the 2023mar model?", len(outs), len(yunetOutputs))
	}
	data := make([][]float32, len(outs))
	for i := range outs {
		d, err := outs[i].DataPtrFloat32()
		if err != nil {
			return nil, fmt.Errorf("reading YuNet output %s: %w", yunetOutputs[i], err)
		}
		data[i] = d
	}
	cands, err := decodeYuNet(data, pw, ph, y.score)
	if err != nil {
		return nil, err
	}
	kept := suppress(cands, y.nms)
	for i := range kept {
		kept[i] = kept[i].scaled(1 / scale)
	}
	return kept, nil
}

// decodeYuNet turns the 12 raw outputs (ordered as yunetOutputs) for a pw×ph input into candidates
// scoring at least minScore, following the decoding in shared/models/README.md.
func decodeYuNet(out [][]float32, pw, ph int, minScore float64) ([]candidate, error) {
	var cands []candidate
	for i, s := range yunetStrides {
		cols, rows := pw/s, ph/s
		n := cols * rows
		cls, obj, bbox, kps := out[i], out[3+i], out[6+i], out[9+i]
		if len(cls) < n || len(obj) < n || len(bbox) < 4*n || len(kps) < 10*n {
			return nil, fmt.Errorf("YuNet output for stride %d has the wrong size for a %dx%d input", s, pw, ph)
		}
		fs := float64(s)
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				idx := r*cols + c
				score := math.Sqrt(clamp(float64(cls[idx]), 0, 1) * clamp(float64(obj[idx]), 0, 1))
				if score < minScore {
					continue
				}
				b := bbox[4*idx : 4*idx+4]
				cx, cy := (float64(c)+float64(b[0]))*fs, (float64(r)+float64(b[1]))*fs
				bw, bh := math.Exp(float64(b[2]))*fs, math.Exp(float64(b[3]))*fs
				cand := candidate{x1: cx - bw/2, y1: cy - bh/2, x2: cx + bw/2, y2: cy + bh/2, score: score}
				k := kps[10*idx : 10*idx+10]
				for j := 0; j < 5; j++ {
					cand.landmarks[j] = face.Point{(float64(k[2*j]) + float64(c)) * fs, (float64(k[2*j+1]) + float64(r)) * fs}
				}
				cands = append(cands, cand)
			}
		}
	}
	return cands, nil
}

// scaled multiplies every coordinate by f.
func (c candidate) scaled(f float64) candidate {
	c.x1, c.y1, c.x2, c.y2 = c.x1*f, c.y1*f, c.x2*f, c.y2*f
	for i := range c.landmarks {
		c.landmarks[i] = face.Point{c.landmarks[i][0] * f, c.landmarks[i][1] * f}
	}
	return c
}

func padTo32(v int) int { return max(yunetMinSide, (v+31)/32*32) }
