package server

import (
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"
)

// htmlPage is one of web/'s HTML files with named places for values: {{name}} is replaced by a
// value, escaped unless the server built it as HTML itself; {{#name}}…{{/name}} is kept only when
// the section is shown. Every value goes into text or a double-quoted attribute, where escaping
// & < > " ' is what keeps it from becoming markup. Escaping does not make a URL safe: a slot in a
// src or href attribute must only ever get a URL the server built (the result page's data: URL),
// never request data.
//
// The pages do not use html/template: text/template looks methods up by name, which makes the
// linker keep every exported method of every type in the binary (the size it costs is in
// BENCHMARKS.md; TestLinkerDropsUnusedMethods in cmd/facectl guards this).
type htmlPage struct {
	name  string
	parts []pagePart
}

// pagePart is literal HTML, a value (slot) or a section opening or closing.
type pagePart struct {
	literal string
	slot    string
	open    string
	close   string
}

// pageValues fills a page: Text is escaped, HTML is inserted as it is (only markup the server
// built from escaped values), Show says which sections are kept.
type pageValues struct {
	Text map[string]string
	HTML map[string]string
	Show map[string]bool
}

var pageTag = regexp.MustCompile(`{{([#/]?)([a-z_]+)}}`)

// parsePage splits src into parts and checks that sections are closed in order.
func parsePage(name, src string) (*htmlPage, error) {
	p := &htmlPage{name: name}
	var open []string
	at := 0
	literal := func(text string) error {
		if i := strings.Index(text, "{{"); i >= 0 {
			return fmt.Errorf("page %s: malformed tag near %q", name, text[i:min(len(text), i+20)])
		}
		if text != "" {
			p.parts = append(p.parts, pagePart{literal: text})
		}
		return nil
	}
	for _, m := range pageTag.FindAllStringSubmatchIndex(src, -1) {
		if err := literal(src[at:m[0]]); err != nil {
			return nil, err
		}
		at = m[1]
		kind, tag := src[m[2]:m[3]], src[m[4]:m[5]]
		switch kind {
		case "#":
			open = append(open, tag)
			p.parts = append(p.parts, pagePart{open: tag})
		case "/":
			if len(open) == 0 || open[len(open)-1] != tag {
				return nil, fmt.Errorf("page %s: {{/%s}} closes no open section", name, tag)
			}
			open = open[:len(open)-1]
			p.parts = append(p.parts, pagePart{close: tag})
		default:
			p.parts = append(p.parts, pagePart{slot: tag})
		}
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("page %s: section %s is not closed", name, open[len(open)-1])
	}
	if err := literal(src[at:]); err != nil {
		return nil, err
	}
	return p, nil
}

// render writes the page filled with v. A slot or section outside hidden sections that v does
// not mention is an error, so a page and the code filling it cannot drift apart silently.
func (p *htmlPage) render(w io.Writer, v pageValues) error {
	var b strings.Builder
	hidden := 0 // depth of sections being skipped
	for _, part := range p.parts {
		switch {
		case part.open != "" && hidden > 0:
			hidden++
		case part.open != "":
			show, ok := v.Show[part.open]
			if !ok {
				return fmt.Errorf("page %s: no value for section %s", p.name, part.open)
			}
			if !show {
				hidden++
			}
		case part.close != "":
			if hidden > 0 {
				hidden--
			}
		case hidden > 0:
		case part.slot != "":
			if s, ok := v.Text[part.slot]; ok {
				b.WriteString(html.EscapeString(s))
			} else if s, ok := v.HTML[part.slot]; ok {
				b.WriteString(s)
			} else {
				return fmt.Errorf("page %s: no value for %s", p.name, part.slot)
			}
		default:
			b.WriteString(part.literal)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
