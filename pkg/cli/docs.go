package cli

//go:generate go run ../../scripts/gendocs ../..

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

const exampleConfigHeader = `# facectl configuration — every key, with its default.
#
# Generated from the settings declared in the code: do not edit, run
#   go generate ./pkg/cli
#
# facectl reads --config FILE, else the first of ./facectl.yaml, $XDG_CONFIG_HOME/facectl/config.yaml
# and /etc/facectl/config.yaml. Each key can be overridden by an environment variable
# FACECTL_<SECTION>_<KEY> (nested keys joined by "_": FACECTL_DEPLOY_TASK_CPU=2048; lists
# comma-separated) and by the command's flag, named after the comment. Precedence:
# flag > environment > this file > default. An unknown key or a wrong value here is an error
# naming the key and the file.
`

// exampleConfig is configs/facectl.yaml: every section with its defaults, each key explained.
func exampleConfig() []byte {
	var b bytes.Buffer
	b.WriteString(exampleConfigHeader)
	for _, sec := range sections {
		b.WriteString("\n")
		if sec.help != "" {
			fmt.Fprintf(&b, "# %s\n", sec.help)
		}
		writeSectionYAML(&b, sec.name, reflect.ValueOf(sec.defaults()).Elem())
	}
	return b.Bytes()
}

const initConfigHeader = `# facectl configuration: the deploy section (` + "`facectl deploy`" + `).
# Every key can be overridden by an environment variable FACECTL_DEPLOY_<KEY> (nested keys
# joined by "_", e.g. FACECTL_DEPLOY_TASK_CPU=2048) and by the flags of ` + "`facectl deploy`" + `,
# named after the comment. As written, facectl deploy manages the environment (CloudFormation
# stacks in the default VPC); name security groups to deploy into your own network instead.
`

// writeInitConfig writes the file `facectl deploy init` makes: the deploy section with cfg's
// values.
func writeInitConfig(b *bytes.Buffer, cfg any) {
	b.WriteString(initConfigHeader)
	writeSectionYAML(b, "deploy", reflect.ValueOf(cfg))
}

// writeSectionYAML writes one section, name: followed by its keys, each after a comment with
// its help and flag; v is the section's config struct.
func writeSectionYAML(b *bytes.Buffer, name string, v reflect.Value) {
	fmt.Fprintf(b, "%s:\n", name)
	walkFields(v.Type(), name, nil, func(s setting) {
		indent := strings.Repeat("  ", strings.Count(s.key, "."))
		leaf := s.key[strings.LastIndex(s.key, ".")+1:]
		if s.group {
			b.WriteString("\n")
			writeComment(b, indent, s.help)
			fmt.Fprintf(b, "%s%s:\n", indent, leaf)
			return
		}
		help := s.help
		if s.flag != "" {
			help += " (--" + s.flag + ")"
		}
		writeComment(b, indent, help)
		fmt.Fprintf(b, "%s%s:%s\n", indent, leaf, yamlValue(v.FieldByIndex(s.index), indent))
	})
}

func writeComment(b *bytes.Buffer, indent, text string) {
	if text != "" {
		fmt.Fprintf(b, "%s# %s\n", indent, text)
	}
}

// decodeValue decodes raw (a string as in an environment variable) into target, a pointer.
func decodeValue(raw any, target any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           target,
		WeaklyTypedInput: true,
		DecodeHook:       decodeHooks(),
	})
	if err != nil {
		return err
	}
	return dec.Decode(raw)
}

// yamlValue is v in YAML, as it follows "key:" on a line indented by indent: a space and a
// scalar or flow list, or a newline and a block list of mappings.
func yamlValue(v reflect.Value, indent string) string {
	if v.Type() == durationType {
		return " " + strconv.Quote(shortDuration(time.Duration(v.Int())))
	}
	switch v.Kind() {
	case reflect.String:
		return " " + strconv.Quote(v.String())
	case reflect.Bool:
		return " " + strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return " " + strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return " " + strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return " " + strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		if v.Len() == 0 {
			return " []"
		}
		if v.Type().Elem().Kind() != reflect.Struct {
			items := make([]string, v.Len())
			for i := range v.Len() {
				items[i] = strings.TrimPrefix(yamlValue(v.Index(i), indent), " ")
			}
			return " [" + strings.Join(items, ", ") + "]"
		}
		var b strings.Builder
		for i := range v.Len() {
			e := v.Index(i)
			dash := "- "
			for j := range e.NumField() {
				name, _, skip := fieldKey(e.Type().Field(j))
				if skip {
					continue
				}
				fmt.Fprintf(&b, "\n%s  %s%s:%s", indent, dash, name, yamlValue(e.Field(j), indent+"    "))
				dash = "  "
			}
		}
		return b.String()
	}
	panic(fmt.Sprintf("no YAML form for %s", v.Type()))
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

// ConfigDoc is the manual's configuration page, whose settings tables are generated.
const ConfigDoc = "docs/configuration.md"

// settingsTable is the configuration page's Markdown table of one section's settings.
func settingsTable(section string) string {
	var b strings.Builder
	b.WriteString("| key | env | flag | default | meaning |\n|---|---|---|---|---|\n")
	for _, s := range settingsOf(section) {
		flag := "—"
		if s.flag != "" {
			flag = "`--" + s.flag + "`"
		}
		def := strings.TrimPrefix(yamlValue(s.sectionDefault(), ""), " ")
		if strings.HasPrefix(def, "\n") || def == `""` || def == "[]" {
			def = "(empty)"
		} else {
			def = "`" + strings.Trim(def, `"`) + "`"
		}
		help := strings.ReplaceAll(s.help, "|", `\|`)
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n", s.key, s.envVar(), flag, def, help)
	}
	for _, r := range renamedKeys {
		if strings.HasPrefix(r.new, section+".") {
			fmt.Fprintf(&b, "\n`%s` (`%s`) is the old name of `%s`: it still works, with a warning.\n", r.old, envName(r.old), r.new)
		}
	}
	return b.String()
}

// Markers around each generated table in ConfigDoc: <!-- settings:NAME --> ... <!-- /settings:NAME -->.
func tableMarkers(section string) (begin, end string) {
	return "<!-- settings:" + section + " (generated: go generate ./pkg/cli) -->\n", "<!-- /settings:" + section + " -->\n"
}

// spliceTables replaces each section's generated table in doc, and reports the sections
// whose markers are missing.
func spliceTables(doc []byte) ([]byte, error) {
	out := string(doc)
	for _, sec := range sections {
		name := sec.name
		begin, end := tableMarkers(name)
		i := strings.Index(out, begin)
		j := strings.Index(out, end)
		if i < 0 || j < i {
			return nil, fmt.Errorf("%s has no %q ... %q markers for the %s settings", ConfigDoc, strings.TrimSpace(begin), strings.TrimSpace(end), name)
		}
		out = out[:i+len(begin)] + settingsTable(name) + out[j:]
	}
	return []byte(out), nil
}

// GeneratedFiles returns the files derived from the declared settings, by path relative to the
// repository root: the example config and ConfigDoc with its settings tables regenerated. root
// is the repository root, read for ConfigDoc's hand-written parts.
func GeneratedFiles(root string) (map[string][]byte, error) {
	doc, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(ConfigDoc)))
	if err != nil {
		return nil, err
	}
	doc, err = spliceTables(doc)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		filepath.Join("configs", "facectl.yaml"): exampleConfig(),
		filepath.FromSlash(ConfigDoc):            doc,
	}, nil
}
