//go:build matprofile

package codec

import (
	"bytes"
	"testing"

	"gocv.io/x/gocv"
)

// TestNoMatLeaks decodes every sample at every scale, with Decode and with DecodeInto, plus
// truncated input, and checks that no gocv Mat is left alive.
// Run with: go test -tags matprofile -run NoMatLeaks ./pkg/codec
func TestNoMatLeaks(t *testing.T) {
	all := samples(t) // makes and closes its own Mats before the count starts
	before := gocv.MatProfile.Count()
	probe := gocv.NewMat()
	if gocv.MatProfile.Count() != before+1 {
		t.Fatal("the Mat profile does not count Mats: is the matprofile build tag set?")
	}
	probe.Close()
	kept := gocv.NewMat()
	for _, s := range all {
		for _, scale := range allScales {
			for _, data := range [][]byte{s.data, s.data[:len(s.data)/2]} {
				if m, err := Decode(data, scale); err == nil {
					if _, err := EncodeJPEG(m, 80); err != nil {
						t.Fatal(err)
					}
					m.Close()
				}
				_ = DecodeInto(&kept, data, scale)
			}
		}
	}
	kept.Close()
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		_ = gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left alive:\n%s", n, b.String())
	}
}
