package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/facectl/facectl/pkg/awsbatch"
	"github.com/facectl/facectl/pkg/deploy"
	"github.com/facectl/facectl/pkg/s3io"
	"github.com/facectl/facectl/pkg/server"
)

// A section is one top-level block of the config file, decoded into a library package's typed
// config. Every section is listed here so that a config file shared by several commands (serve
// and deploy, say) is checked for unknown keys as a whole.
type section struct {
	name     string
	help     string     // one line above the section in generated files
	defaults func() any // returns a pointer to the package's default config
}

// sections are the config file's sections, in the order of the generated files.
var sections = []section{
	{"log", "Logging (log/slog, on stderr), for every command; the flags are global.", func() any { return defaultLogSection() }},
	{"detector", "The face detector, for `facectl detect` and `facectl serve`.", func() any { return defaultDetectorSection() }},
	{"server", "The HTTP service, `facectl serve`.", func() any { d := server.DefaultConfig(); return &d }},
	{"deploy", "The deployment to Amazon ECS on Fargate, `facectl deploy` (`facectl deploy init` writes this section).", func() any { d := deploy.DefaultConfig(); return &d }},
	{"s3", "Amazon S3 (or MinIO, LocalStack, moto) for `detect`'s s3:// inputs and outputs; credentials, region and endpoint (AWS_ENDPOINT_URL_S3) come from the AWS SDK's usual chain.", func() any { c := s3io.DefaultConfig(); return &c }},
	{"batch", "AWS Batch on Fargate for `facectl batch`: the environment's size, capacity and network, and the shard size.", func() any { c := awsbatch.DefaultConfig(); return &c }},
}

// sectionNamed is the declared section name; ok is false for none.
func sectionNamed(name string) (section, bool) {
	for _, s := range sections {
		if s.name == name {
			return s, true
		}
	}
	return section{}, false
}

// configPaths lists the config files tried, in order, when --config is not given.
func configPaths() []string {
	paths := []string{"facectl.yaml"}
	if d, err := os.UserConfigDir(); err == nil {
		paths = append(paths, filepath.Join(d, "facectl", "config.yaml"))
	}
	return append(paths, "/etc/facectl/config.yaml")
}

// loadConfig fills each target (section name → pointer to a struct holding its defaults) from, in
// rising precedence: the defaults, the config file, FACECTL_<SECTION>_<KEY> environment variables,
// and the flags the user set among those made from declared settings (see addSettingFlags). Every
// problem is reported at once.
func (f *Factory) loadConfig(cmd *cobra.Command, targets map[string]any) error {
	file, err := f.configFile()
	if err != nil {
		return err
	}
	v := viper.New()
	v.SetEnvPrefix("FACECTL")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))

	var errs []error
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config file %s: %w", file, err)
		}
		errs = append(errs, checkFile(file, v)...)
		for _, r := range renamedKeys {
			if !v.InConfig(r.old) {
				continue
			}
			fmt.Fprintf(f.IOStreams.Err, "facectl: warning: config file %s: key %q is deprecated: use %q\n", file, r.old, r.new)
			if !v.InConfig(r.new) {
				if err := v.MergeConfigMap(nestedMap(r.new, v.Get(r.old))); err != nil {
					return err
				}
			}
		}
	}
	for name := range targets {
		sec, ok := sectionNamed(name)
		if !ok {
			return fmt.Errorf("internal: config section %q is not registered", name)
		}
		for key, typ := range keyTypes(reflect.TypeOf(sec.defaults()).Elem(), name) {
			// The variable of the key's old name, if any, counts when the new one is unset.
			envs := []string{envName(key)}
			for _, old := range oldNames(key) {
				envs = append(envs, envName(old))
			}
			if err := v.BindEnv(append([]string{key}, envs...)...); err != nil {
				return err
			}
			// Checked here, one variable at a time, so the message names the variable.
			for i, env := range envs {
				val := os.Getenv(env)
				if val == "" {
					continue
				}
				if i > 0 {
					fmt.Fprintf(f.IOStreams.Err, "facectl: warning: environment variable %s is deprecated: use %s\n", env, envs[0])
				}
				if err := checkValue(val, typ); err != nil {
					errs = append(errs, fmt.Errorf("environment variable %s: %w", env, err))
				}
			}
		}
	}
	if len(errs) > 0 {
		// Every bad value is reported above by its source; decoding would repeat them.
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return &usageError{err: errors.Join(errs...)}
	}
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		key := flagKey(fl)
		section, _, _ := strings.Cut(key, ".")
		if _, ok := targets[section]; ok && fl.Changed {
			v.Set(key, flagValue(fl))
		}
	})
	all := v.AllSettings()
	for name, target := range targets {
		raw, _ := all[name].(map[string]any)
		if err := decode(raw, target, false); err != nil {
			errs = append(errs, fmt.Errorf("%s settings (from flags or FACECTL_%s_* variables): %w", name, strings.ToUpper(name), err))
		}
	}
	if len(errs) > 0 {
		return &usageError{err: errors.Join(errs...)}
	}
	return nil
}

// configFile is --config, or the first existing file of configPaths, or "" for none.
func (f *Factory) configFile() (string, error) {
	if f.ConfigPath != "" {
		if _, err := os.Stat(f.ConfigPath); err != nil {
			return "", &usageError{err: fmt.Errorf("config file: %w", err)}
		}
		return f.ConfigPath, nil
	}
	for _, p := range configPaths() {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", nil
}

// checkFile reports every unknown key and every value of the wrong type in the file, naming both.
func checkFile(file string, v *viper.Viper) []error {
	var errs []error
	known := map[string]bool{}
	for _, sec := range sections {
		for _, k := range keysOf(reflect.TypeOf(sec.defaults()).Elem(), sec.name) {
			known[k] = true
		}
	}
	for _, r := range renamedKeys {
		known[r.old] = true
	}
	fileKeys := v.AllKeys()
	sort.Strings(fileKeys)
	for _, k := range fileKeys {
		if !known[k] && !isMapValue(k, known) {
			errs = append(errs, fmt.Errorf("config file %s: unknown key %q", file, k))
		}
	}
	for _, name := range sectionNames() {
		if _, ok := v.Get(name).(map[string]any); !ok {
			if v.IsSet(name) {
				errs = append(errs, fmt.Errorf("config file %s: %q must be a mapping of keys", file, name))
			}
			continue
		}
		sec, _ := sectionNamed(name)
		types := keyTypes(reflect.TypeOf(sec.defaults()).Elem(), name)
		for _, r := range renamedKeys {
			if typ, ok := types[r.new]; ok {
				types[r.old] = typ
			}
		}
		keys := make([]string, 0, len(types))
		for k := range types {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !v.InConfig(k) {
				continue
			}
			if err := checkValue(v.Get(k), types[k]); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: key %q: %w", file, k, err))
			}
		}
	}
	return errs
}

// nestedMap is {a: {b: val}} for the key a.b, as viper's config layer holds it.
func nestedMap(key string, val any) map[string]any {
	parts := strings.Split(key, ".")
	m := map[string]any{parts[len(parts)-1]: val}
	for i := len(parts) - 2; i >= 0; i-- {
		m = map[string]any{parts[i]: m}
	}
	return m
}

// envName is the environment variable for a config key: detector.score_threshold →
// FACECTL_DETECTOR_SCORE_THRESHOLD.
func envName(key string) string {
	return "FACECTL_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// checkValue reports whether raw (from a file or an environment variable) decodes into typ, with a
// short reason saying what is wanted.
func checkValue(raw any, typ reflect.Type) error {
	if err := decodeValue(raw, reflect.New(typ).Interface()); err != nil {
		return fmt.Errorf("invalid value %s: want %s", shortValue(raw), describeType(typ))
	}
	return nil
}

func shortValue(raw any) string {
	if s, ok := raw.(string); ok {
		return strconv.Quote(s)
	}
	out := fmt.Sprint(raw)
	if len(out) > 60 {
		out = out[:60] + "…"
	}
	return out
}

// describeType says in words what a config value of type t must be.
func describeType(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 30s or 5m"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list of " + describeType(t.Elem())
	case reflect.Map:
		return "a mapping of keys to " + describeType(t.Elem())
	}
	return "a value of type " + t.String()
}

// isMapValue reports whether k lies inside a map-valued key (deploy.environment.FOO, say).
func isMapValue(k string, known map[string]bool) bool {
	for i := strings.LastIndex(k, "."); i > 0; i = strings.LastIndex(k[:i], ".") {
		if known[k[:i]] {
			return true
		}
	}
	return false
}

func decode(raw map[string]any, target any, strict bool) error {
	if raw == nil {
		return nil
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           target,
		WeaklyTypedInput: true,
		ErrorUnused:      strict,
		DecodeHook:       decodeHooks(),
	})
	if err != nil {
		return err
	}
	return dec.Decode(raw)
}

func decodeHooks() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
		mapstructure.TextUnmarshallerHookFunc(),
	)
}

var durationType = reflect.TypeOf(time.Duration(0))

// keysOf lists the config keys of a struct type from its mapstructure tags, nested structs
// joined with dots and ",squash" fields flattened.
func keysOf(t reflect.Type, prefix string) []string {
	types := keyTypes(t, prefix)
	keys := make([]string, 0, len(types))
	for k := range types {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// keyTypes maps each config key of a struct type (see keysOf) to its Go type, read by the same
// walk as the declared settings.
func keyTypes(t reflect.Type, prefix string) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	walkSettings(t, prefix, func(s setting) { out[s.key] = s.typ })
	return out
}

// flagValue is a flag's value in the type viper and mapstructure expect.
func flagValue(f *pflag.Flag) any {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return f.Value.String()
}
