package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/facectl/facectl/pkg/imagecheck"
	"github.com/facectl/facectl/pkg/s3io"
)

// ObjectStore is what writing outputs to S3 needs (*s3io.Client has it).
type ObjectStore interface {
	Head(ctx context.Context, bucket, key string) (s3io.Object, error)
	Put(ctx context.Context, p s3io.Put) error
}

// Output kinds, as pkg/render names them, in the order an image's outputs are written.
const (
	KindCrop     = "crop"
	KindBlur     = "blur"
	KindAnnotate = "annotate"
)

// User metadata written on every output object (S3 sends it as x-amz-meta-*, in lower case).
const (
	MetaSourceETag = "facectl-source-etag"
	MetaSource     = "facectl-source"
	MetaFaces      = "facectl-faces"
	MetaVersion    = "facectl-version"
	MetaModel      = "facectl-model"
)

// ErrOutputExists means an output object exists (from another source, or without
// --skip-existing) and overwriting was not asked for.
var ErrOutputExists = errors.New("output exists (use --force to overwrite, or --skip-existing to keep outputs of the same source)")

// ObjectOutputs writes an image's outputs as objects under S3 prefixes, one prefix per kind.
type ObjectOutputs struct {
	Store ObjectStore
	// Prefixes maps a kind (KindCrop…) to its output prefix; kinds written locally are absent.
	Prefixes map[string]s3io.URL
	// Force overwrites existing outputs.
	Force bool
	// SkipExisting keeps outputs recorded as made from the same source ETag.
	SkipExisting bool
	// Version and Model are recorded in every output's metadata.
	Version, Model string
}

// Source is what an output records of its input.
type Source struct {
	// Name is the input's path or s3:// URL.
	Name string
	// Object is the input object, for S3 inputs (an output never replaces it).
	Object *s3io.Object
	// ETag is the input's ETag (S3), or the quoted MD5 of a file's content, as S3 computes it
	// for objects put in one part.
	ETag        string
	ContentType string
	Format      imagecheck.Format
}

// rewritten are the extensions of formats written as PNG (see render.FileOutputs.Each).
var rewritten = map[string]bool{".webp": true, ".bmp": true, ".dib": true}

// Key is the object an output of kind (face: the crop's 1-based number) of the input named rel
// goes to: rel under the kind's prefix, keeping its name unless its format is written as PNG.
// It depends on the name alone, so that --skip-existing can look for it before reading the input.
func (o *ObjectOutputs) Key(kind string, face int, rel string) s3io.URL {
	p := o.Prefixes[kind]
	name := strings.TrimPrefix(rel, "/")
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if rewritten[strings.ToLower(ext)] {
		ext = ".png"
	}
	if kind == KindCrop {
		stem += "_face" + strconv.Itoa(face)
	}
	key := p.Key
	if key != "" && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	return s3io.URL{Bucket: p.Bucket, Key: key + stem + ext}
}

// last is the kind of an input's last output written to S3 (the order of Each), or "".
func (o *ObjectOutputs) last() string {
	for _, k := range []string{KindAnnotate, KindBlur, KindCrop} {
		if _, ok := o.Prefixes[k]; ok {
			return k
		}
	}
	return ""
}

// Done reports whether a run already wrote every S3 output of the input rel from the source
// version etag, with the keys of those outputs: outputs are written in a fixed order, so the
// last one existing with that source ETag means the others were written before it. With crops
// only, the first crop records the face count, which names the last; an image without faces
// leaves no output and is done again.
func (o *ObjectOutputs) Done(ctx context.Context, rel, etag string) ([]string, bool, error) {
	last := o.last()
	if last == "" || etag == "" {
		return nil, false, nil
	}
	head := func(u s3io.URL) (s3io.Object, bool, error) {
		obj, err := o.Store.Head(ctx, u.Bucket, u.Key)
		if errors.Is(err, s3io.ErrNotFound) {
			return obj, false, nil
		}
		if err != nil {
			return obj, false, fmt.Errorf("looking for the output %s: %w", u, err)
		}
		return obj, obj.Metadata[MetaSourceETag] == etag, nil
	}
	faces := 0
	if last == KindCrop {
		obj, ok, err := head(o.Key(KindCrop, 1, rel))
		if !ok || err != nil {
			return nil, false, err
		}
		faces, _ = strconv.Atoi(obj.Metadata[MetaFaces])
		if faces > 1 {
			if _, ok, err := head(o.Key(KindCrop, faces, rel)); !ok || err != nil {
				return nil, false, err
			}
		}
	} else {
		obj, ok, err := head(o.Key(last, 0, rel))
		if !ok || err != nil {
			return nil, false, err
		}
		faces, _ = strconv.Atoi(obj.Metadata[MetaFaces])
	}
	var keys []string
	for i := range faces {
		if _, ok := o.Prefixes[KindCrop]; ok {
			keys = append(keys, o.Key(KindCrop, i+1, rel).String())
		}
	}
	for _, k := range []string{KindBlur, KindAnnotate} {
		if _, ok := o.Prefixes[k]; ok {
			keys = append(keys, o.Key(k, 0, rel).String())
		}
	}
	return keys, true, nil
}

// Put writes one output image of src (format is the output's, faces the image's face count)
// and returns its s3:// URL. It never replaces the input; an existing output is replaced with
// Force, kept when SkipExisting finds it made from the same source ETag, and an error otherwise.
func (o *ObjectOutputs) Put(ctx context.Context, src Source, rel, kind string, face, faces int, data []byte, format imagecheck.Format) (string, error) {
	u := o.Key(kind, face, rel)
	if src.Object != nil && src.Object.Bucket == u.Bucket && src.Object.Key == u.Key {
		return "", fmt.Errorf("writing %s: refusing to overwrite the input", u)
	}
	ct := format.MIME()
	if format == src.Format && src.ContentType != "" {
		// Kept as the input has it (with any parameters), as long as the format is unchanged.
		ct = src.ContentType
	}
	meta := map[string]string{
		MetaSourceETag: src.ETag,
		// Metadata travels in HTTP headers, which carry ASCII only: non-ASCII keys are escaped.
		MetaSource:  (&url.URL{Path: src.Name}).EscapedPath(),
		MetaFaces:   strconv.Itoa(faces),
		MetaVersion: o.Version,
		MetaModel:   o.Model,
	}
	err := o.Store.Put(ctx, s3io.Put{Bucket: u.Bucket, Key: u.Key, Body: bytes.NewReader(data), ContentType: ct, Metadata: meta, Overwrite: o.Force})
	if errors.Is(err, s3io.ErrExists) {
		if o.SkipExisting {
			obj, herr := o.Store.Head(ctx, u.Bucket, u.Key)
			if herr == nil && obj.Metadata[MetaSourceETag] == src.ETag {
				return u.String(), nil // written by an interrupted run from this very source
			}
		}
		return "", fmt.Errorf("writing %s: %w", u, ErrOutputExists)
	}
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", u, err)
	}
	return u.String(), nil
}
