package cli

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Settings are declared once, on the typed config struct of the package that owns them, with
// struct tags:
//
//	Addr string `mapstructure:"addr" flag:"addr" help:"listen address of the page and the API"`
//
//   - mapstructure: the config key inside its section (nested structs add a level, ",squash"
//     flattens); the environment variable is FACECTL_<SECTION>_<KEY> (see envName).
//   - flag: the flag's name, when the setting has one, optionally followed by modifiers:
//     ",persistent" (a persistent flag of the command that adds the section's flags, shared by
//     its subcommands) and ",array" (a []string taken one item per use of the flag, not split
//     at commas: --build-arg A=1,2 --build-arg B=3).
//   - help: one line, used as the flag's usage, the comment in configs/facectl.yaml and the
//     `deploy init` file, and the description in docs/configuration.md's tables.
//
// The default is the value in the package's DefaultConfig. Everything else (flags, bindings,
// environment names, strict decoding, generated files) is derived here.

// renamedKeys are config keys that got a name saying better what they hold. The old name keeps
// working, in the config file and as its FACECTL_ variable, with a warning naming the new one;
// the new name wins when both are given.
var renamedKeys = []struct{ old, new string }{
	{"detector.workers", "detector.pool_size"},
	{"server.workers", "server.max_concurrent_detections"},
}

// oldNames are the old names of key, from renamedKeys.
func oldNames(key string) []string {
	var out []string
	for _, r := range renamedKeys {
		if r.new == key {
			out = append(out, r.old)
		}
	}
	return out
}

// flagKeyAnnotation marks a flag made from a declared setting with its config key; loadConfig
// binds exactly the flags that carry it.
const flagKeyAnnotation = "facectl/config-key"

// A setting is one declared config key.
type setting struct {
	key        string // section.key, nested keys joined by dots: deploy.wait.timeout
	index      []int  // field index path from the section struct, for FieldByIndex
	typ        reflect.Type
	flag       string // "" when the setting has no flag
	persistent bool
	array      bool // a []string flag taken one item per use, without splitting at commas
	help       string
	group      bool // a nested block of settings (deploy.wait), not a setting
}

// settingsOf lists a registered section's settings in declaration order.
func settingsOf(section string) []setting {
	sec, ok := sectionNamed(section)
	if !ok {
		panic(fmt.Sprintf("config section %q is not registered", section))
	}
	var out []setting
	walkSettings(reflect.TypeOf(sec.defaults()).Elem(), section, func(s setting) { out = append(out, s) })
	return out
}

// allSettings lists the settings of every section, sections sorted by name.
func allSettings() []setting {
	var out []setting
	for _, name := range sectionNames() {
		out = append(out, settingsOf(name)...)
	}
	return out
}

// sectionNames are the declared sections, sorted.
func sectionNames() []string {
	names := make([]string, 0, len(sections))
	for _, s := range sections {
		names = append(names, s.name)
	}
	sort.Strings(names)
	return names
}

// fieldKey reads a struct field's mapstructure tag: its key name, whether it is squashed into its
// parent, and whether it is no config key at all.
func fieldKey(f reflect.StructField) (name string, squash, skip bool) {
	if !f.IsExported() {
		return "", false, true
	}
	name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	if name == "-" {
		return "", false, true
	}
	if strings.Contains(opts, "squash") {
		return "", true, false
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false, false
}

// isGroup reports whether a field of type t is a nested block of keys rather than one key.
func isGroup(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

// walkSettings visits the settings of the struct type t, whose keys start with prefix.
func walkSettings(t reflect.Type, prefix string, visit func(setting)) {
	walkFields(t, prefix, nil, func(s setting) {
		if !s.group {
			visit(s)
		}
	})
}

// walkFields is the one reader of the settings' struct tags: it visits, in declaration order,
// every setting of t and every nested block of them (a group, visited before its settings).
func walkFields(t reflect.Type, prefix string, index []int, visit func(setting)) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, squash, skip := fieldKey(f)
		if skip {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		if squash {
			walkFields(f.Type, prefix, idx, visit)
			continue
		}
		key := prefix + "." + name
		s := setting{key: key, index: idx, typ: f.Type, help: f.Tag.Get("help")}
		if isGroup(f.Type) {
			s.group = true
			visit(s)
			walkFields(f.Type, key, idx, visit)
			continue
		}
		if tag := f.Tag.Get("flag"); tag != "" {
			parts := strings.Split(tag, ",")
			s.flag = parts[0]
			for _, m := range parts[1:] {
				switch {
				case m == "persistent":
					s.persistent = true
				case m == "array":
					s.array = true
				default:
					panic(fmt.Sprintf("setting %s: unknown flag modifier %q", key, m))
				}
			}
		}
		visit(s)
	}
}

// sectionDefault is the value of one setting in its section's DefaultConfig.
func (s setting) sectionDefault() reflect.Value {
	section, _, _ := strings.Cut(s.key, ".")
	sec, _ := sectionNamed(section)
	return reflect.ValueOf(sec.defaults()).Elem().FieldByIndex(s.index)
}

// envVar is the setting's environment variable.
func (s setting) envVar() string { return envName(s.key) }

var textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// addSettingFlags adds to fs a flag for every setting of section that has one and whose
// persistence matches persistent (deploy's --region is persistent, shared by deploy status and
// deploy rollback; everything else is not).
func addSettingFlags(fs *pflag.FlagSet, section string, persistent bool) {
	for _, s := range settingsOf(section) {
		if s.flag != "" && s.persistent == persistent {
			addFlag(fs, s)
		}
	}
}

// addSettingFlag adds the flag of the one setting key (for a command that takes a single
// setting of another command's section, like health's --addr) and returns it so the caller can
// adjust its usage.
func addSettingFlag(fs *pflag.FlagSet, key string) *pflag.Flag {
	section, _, _ := strings.Cut(key, ".")
	for _, s := range settingsOf(section) {
		if s.key == key {
			if s.flag == "" {
				panic(fmt.Sprintf("setting %s has no flag", key))
			}
			addFlag(fs, s)
			return fs.Lookup(s.flag)
		}
	}
	panic(fmt.Sprintf("no setting %s is declared", key))
}

// addFlag adds s's flag with the pflag type that matches its Go type and its default.
func addFlag(fs *pflag.FlagSet, s setting) {
	def := s.sectionDefault()
	name, help := s.flag, s.help
	switch {
	case s.typ == durationType:
		fs.Duration(name, time.Duration(def.Int()), help)
	case s.typ.Kind() == reflect.String:
		fs.String(name, def.String(), help)
	case s.typ.Kind() == reflect.Bool:
		fs.Bool(name, def.Bool(), help)
	case s.typ.Kind() == reflect.Int:
		fs.Int(name, int(def.Int()), help)
	case s.typ.Kind() == reflect.Int64:
		fs.Int64(name, def.Int(), help)
	case s.typ.Kind() == reflect.Float64:
		fs.Float64(name, def.Float(), help)
	case s.typ.Kind() == reflect.Slice && s.typ.Elem().Kind() == reflect.String && s.array:
		fs.StringArray(name, def.Interface().([]string), help)
	case s.typ.Kind() == reflect.Slice && s.typ.Elem().Kind() == reflect.String:
		fs.StringSlice(name, def.Interface().([]string), help)
	case s.typ.Kind() == reflect.Slice && reflect.PointerTo(s.typ.Elem()).Implements(textUnmarshalerType):
		// NAME=VALUE items may contain commas, so each flag is one item (--env A=1 --env B=2).
		if def.Len() > 0 {
			panic(fmt.Sprintf("setting %s: a repeatable flag cannot show a non-empty default", s.key))
		}
		fs.StringArray(name, nil, help)
	default:
		panic(fmt.Sprintf("setting %s: no flag type for %s", s.key, s.typ))
	}
	if err := fs.SetAnnotation(name, flagKeyAnnotation, []string{s.key}); err != nil {
		panic(err)
	}
}

// flagKey is the config key a flag sets, or "" for a flag that is no setting.
func flagKey(f *pflag.Flag) string {
	if k := f.Annotations[flagKeyAnnotation]; len(k) == 1 {
		return k[0]
	}
	return ""
}
