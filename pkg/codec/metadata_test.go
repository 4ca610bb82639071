package codec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facectl/facectl/internal/testenv"
)

// TestMetadataCostsWhatItsPixelsCost decodes files whose metadata is most of their bytes: a
// 64×64 PNG with 998 zTXt chunks that each inflate to 7.9 MB (libpng's default handling took
// 13.7 s of CPU on it in png_read_info), a JPEG with 9 MB of APPn and COM segments and an
// extended WebP with 9 MB of metadata chunks. Each must cost about what its pixels cost, and
// decode to the same pixels as the file without the metadata.
func TestMetadataCostsWhatItsPixelsCost(t *testing.T) {
	small := gocv.NewMatWithSize(64, 64, gocv.MatTypeCV8UC3)
	defer small.Close()
	small.SetTo(gocv.NewScalar(40, 120, 200, 0))
	face := testenv.ReadPhoto(t, "gocv_face.jpg")
	for _, tc := range []struct {
		name        string
		plain, bomb []byte
	}{
		{"png zTXt", imencode(t, gocv.PNGFileExt, small), nil},
		{"jpeg APPn and COM", face, nil},
		{"webp metadata chunks", imencode(t, gocv.FileExt(".webp"), small, gocv.IMWriteWebpQuality, 80), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch tc.name {
			case "png zTXt":
				tc.bomb = pngTextBomb(t, tc.plain, 998, 7_900_000)
			case "jpeg APPn and COM":
				tc.bomb = jpegSegmentBomb(tc.plain, 140)
			default:
				tc.bomb = webpChunkBomb(t, tc.plain, 140)
			}
			want, err := Decode(tc.plain, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer want.Close()
			var got gocv.Mat
			cpu, wall := threadCPU(func() { got, err = Decode(tc.bomb, 1) })
			if err != nil {
				t.Fatalf("decoding the %d KB file: %v", len(tc.bomb)/1000, err)
			}
			defer got.Close()
			t.Logf("%d KB: %s CPU, %s elapsed", len(tc.bomb)/1000, cpu, wall)
			// The pixels alone take milliseconds; a second leaves room for a loaded machine.
			if cpu > time.Second {
				t.Errorf("decoding took %s of CPU, want the cost of its pixels (well under 1s)", cpu)
			}
			if !bytes.Equal(got.ToBytes(), want.ToBytes()) {
				t.Error("the pixels differ from those of the file without the metadata")
			}
		})
	}
}

// threadCPU runs f on one locked OS thread and returns the CPU time that thread used (which
// other load on the machine does not inflate) and the elapsed time.
func threadCPU(f func()) (cpu, wall time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &before)
	start := time.Now()
	f()
	wall = time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &after)
	used := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return used(after) - used(before), wall
}

// pngTextBomb inserts n zTXt chunks after IHDR, each a keyword and size zero bytes deflated.
func pngTextBomb(t *testing.T, plain []byte, n, size int) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if _, err := zw.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	data := append([]byte("Comment\x00\x00"), z.Bytes()...) // keyword, NUL, method 0
	chunk := make([]byte, 0, 12+len(data))
	chunk = binary.BigEndian.AppendUint32(chunk, uint32(len(data)))
	chunk = append(chunk, "zTXt"...)
	chunk = append(chunk, data...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	const ihdrEnd = 8 + 8 + 13 + 4
	out := append([]byte{}, plain[:ihdrEnd]...)
	out = append(out, bytes.Repeat(chunk, n)...)
	return append(out, plain[ihdrEnd:]...)
}

// jpegSegmentBomb inserts n segments of the largest size after SOI, COM and APP2..APP15 in
// turn (libjpeg skips them unless asked to keep them).
func jpegSegmentBomb(plain []byte, n int) []byte {
	out := append([]byte{}, plain[:2]...)
	payload := bytes.Repeat([]byte{'x'}, 65533)
	for i := range n {
		marker := byte(0xFE)
		if i%2 == 1 {
			marker = 0xE2 + byte(i/2%14)
		}
		out = append(out, 0xFF, marker, 0xFF, 0xFF)
		out = append(out, payload...)
	}
	return append(out, plain[2:]...)
}

// webpChunkBomb turns a simple lossy WebP into an extended one (VP8X) whose image chunk is
// followed by an EXIF chunk, then n XMP and unknown chunks of 64 KB.
func webpChunkBomb(t *testing.T, plain []byte, n int) []byte {
	if string(plain[12:16]) != "VP8 " {
		t.Fatalf("imencode wrote a %q WebP, want a simple lossy one", plain[12:16])
	}
	chunk := func(fourcc string, payload []byte) []byte {
		c := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))...)
		c = append(c, payload...)
		if len(payload)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	vp8x := []byte{0x08 | 0x04, 0, 0, 0, 63, 0, 0, 63, 0, 0} // EXIF and XMP flags, 64×64
	body := append([]byte("WEBP"), chunk("VP8X", vp8x)...)
	body = append(body, plain[12:]...)
	body = append(body, chunk("EXIF", append([]byte("II*\x00\x08\x00\x00\x00\x00\x00"), make([]byte, 65536)...))...)
	for i := range n {
		fourcc := "XMP "
		if i%2 == 1 {
			fourcc = "ZZZZ"
		}
		body = append(body, chunk(fourcc, bytes.Repeat([]byte{'<'}, 65536))...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}
