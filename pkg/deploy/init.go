package deploy

import (
	_ "embed"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"
)

//go:embed init.yaml.tmpl
var initTemplate string

// WriteInitConfig writes a commented starting config file (`facectl deploy init`) whose
// `deploy:` section holds cfg's values; fill in the placeholders it marks as required.
func WriteInitConfig(w io.Writer, cfg Config) error {
	t, err := template.New("init").Funcs(template.FuncMap{
		"q":    func(s string) string { return fmt.Sprintf("%q", s) },
		"dur":  func(d time.Duration) string { return fmt.Sprintf("%q", shortDuration(d)) },
		"list": yamlList,
	}).Parse(initTemplate)
	if err != nil {
		return fmt.Errorf("parsing the init template: %w", err)
	}
	if err := t.Execute(w, cfg); err != nil {
		return fmt.Errorf("writing the starting config: %w", err)
	}
	return nil
}

// shortDuration prints 1m0s as 1m and 1h0m0s as 1h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
