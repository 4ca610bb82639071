package imagecheck

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

var (
	magicJPEG = []byte{0xFF, 0xD8, 0xFF}
	magicPNG  = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
)

// Sniff identifies the format from the magic bytes alone; it reads no further header and does
// not check that the rest of the file is valid (Inspect does). Inputs that are not an accepted
// format return an error wrapping ErrUnsupported that names what the input appears to be.
func Sniff(data []byte) (Format, error) {
	switch {
	case len(data) == 0:
		return "", fmt.Errorf("%w: the file has no bytes", ErrEmpty)
	case bytes.HasPrefix(data, magicJPEG):
		return JPEG, nil
	case bytes.HasPrefix(data, magicPNG):
		return PNG, nil
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return WebP, nil
	case isBMP(data):
		return BMP, nil
	}
	if what := identifyOther(data); what != "" {
		return "", fmt.Errorf("%w: %s (use JPEG, PNG, WebP or BMP)", ErrUnsupported, what)
	}
	return "", fmt.Errorf("%w: unrecognised file format (use JPEG, PNG, WebP or BMP)", ErrUnsupported)
}

// isBMP checks "BM" and, when there are enough bytes, a known DIB header size: two letters
// alone would also match text that starts with "BM".
func isBMP(data []byte) bool {
	if len(data) < 2 || data[0] != 'B' || data[1] != 'M' {
		return false
	}
	if len(data) < 18 {
		return true // too short to tell; the header parser reports it as truncated
	}
	_, ok := bmpHeaderSizes[le32(data[14:])]
	return ok
}

// identifyOther names well-known formats that are not accepted, so the user learns what they
// sent. It returns "" when it cannot tell.
func identifyOther(data []byte) string {
	has := func(prefix string) bool { return bytes.HasPrefix(data, []byte(prefix)) }
	switch {
	case has("II*\x00"), has("MM\x00*"), has("II+\x00"), has("MM\x00+"):
		return "TIFF images are not supported"
	case has("GIF87a"), has("GIF89a"):
		return "GIF images are not supported"
	case has("%PDF-"):
		return "PDF documents are not supported"
	case has("PK\x03\x04"), has("PK\x05\x06"), has("PK\x07\x08"):
		return "ZIP archives are not supported"
	case has("\x00\x00\x01\x00"):
		return "ICO icons are not supported"
	case has("\x00\x00\x02\x00"):
		return "CUR cursors are not supported"
	case has("8BPS"):
		return "Photoshop (PSD) files are not supported"
	case has("\x1F\x8B"):
		return "gzip archives are not supported"
	case has("\xFF\x0A"), has("\x00\x00\x00\x0CJXL \x0D\x0A\x87\x0A"):
		return "JPEG XL images are not supported"
	case has("\x00\x00\x00\x0CjP  \x0D\x0A\x87\x0A"), has("\xFF\x4F\xFF\x51"):
		return "JPEG 2000 images are not supported"
	case has("RIFF") && len(data) >= 12:
		return fmt.Sprintf("RIFF %q files are not supported", printable(data[8:12]))
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		return ftypName(data[8:12])
	}
	return textKind(data)
}

// ftypName names an ISO base media file (HEIC, AVIF, MP4, ...) by its major brand.
func ftypName(brand []byte) string {
	switch string(brand) {
	case "heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs", "mif1", "msf1":
		return "HEIC/HEIF images are not supported"
	case "avif", "avis":
		return "AVIF images are not supported"
	}
	return fmt.Sprintf("ISO media files (ftyp brand %q, e.g. MP4, MOV, HEIC) are not supported", printable(brand))
}

// textKind recognises text input by its first bytes: SVG and other XML, HTML, or any other text.
func textKind(data []byte) string {
	head := data
	if len(head) > 1024 {
		head = head[:1024]
	}
	head = bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF"))
	if !looksLikeText(head) {
		return ""
	}
	lower := bytes.ToLower(bytes.TrimLeft(head, " \t\r\n\f"))
	switch {
	case bytes.Contains(lower, []byte("<svg")):
		return "SVG images are not supported"
	case bytes.HasPrefix(lower, []byte("<!doctype html")), bytes.HasPrefix(lower, []byte("<html")):
		return "not an image (this is an HTML document)"
	case bytes.HasPrefix(lower, []byte("<?xml")):
		return "not an image (this is an XML document; SVG is not supported either)"
	}
	return "not an image (this looks like a text file)"
}

// looksLikeText reports whether b is UTF-8 without control characters other than whitespace.
// A multi-byte rune cut off by the 1 KiB window still counts as text.
func looksLikeText(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(b[i:]) {
				return true // truncated rune at the end of the window
			}
			return false
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7F {
			return false
		}
		i += size
	}
	return true
}

// printable keeps ASCII letters, digits and spaces of b so untrusted bytes never reach a message raw.
func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7F {
			out = append(out, c)
		} else {
			out = append(out, '?')
		}
	}
	return string(out)
}
