package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// DecodeCoster is implemented by engines that can estimate, from an image's header, the
// native memory one request allocates at its peak (*vision.Engine does): format is the
// format of the rendered result, or "" for detection only. Engines without it are charged
// fallbackDecodeCost.
type DecodeCoster interface {
	DecodeCost(info imagecheck.Info, format imagecheck.Format) int64
}

// fallbackDecodeCost is a generous estimate for engines that cannot tell: the BGR image,
// a progressive JPEG's coefficients or a working copy, and an encoded result.
func fallbackDecodeCost(info imagecheck.Info) int64 {
	return 9 * int64(info.Width) * int64(info.Height)
}

// reserveDecode estimates from the image's header what decoding and processing it will take
// and waits until that fits in the decode memory budget (MaxDecodeBytes). The pixels are not
// decoded yet: a 6 KB PNG can declare 49 megapixels, which is what this bounds. An image that
// alone needs more than the whole budget is refused (422), so the budget is a hard bound.
// Images whose header is unreadable cost nothing: the engine refuses them before decoding.
func (in intake) reserveDecode(ctx context.Context, t *ticket, e Engine, data []byte, format imagecheck.Format) error {
	info, err := imagecheck.Inspect(data, imagecheck.Limits{})
	if err != nil {
		return nil
	}
	cost := fallbackDecodeCost(info)
	if c, ok := e.(DecodeCoster); ok {
		cost = c.DecodeCost(info, format)
	}
	if cost <= 0 {
		return nil
	}
	if cost > in.s.cfg.MaxDecodeBytes {
		return &Error{Status: http.StatusUnprocessableEntity, Code: "too_many_pixels",
			Message: fmt.Sprintf("the %dx%d %s image needs about %s of memory to process here, over this server's %s limit; send a smaller image (or a baseline rather than a progressive JPEG)",
				info.Width, info.Height, info.Format, humanBytes(roundMiB(cost)), humanBytes(in.s.cfg.MaxDecodeBytes))}
	}
	return t.reserveDecode(ctx, cost)
}

func roundMiB(n int64) int64 { return (n + MiB - 1) / MiB * MiB }
