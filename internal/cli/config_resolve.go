package cli

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/scproxy/scproxy/outbound"
	"github.com/spf13/pflag"
)

// Precedence of a value: flag > environment > the service's own entry >
// the file's top level > the flag's default (docs/config.md). A global or
// override key takes a flag or variable; a service key given as one with
// --config is an error (scopeService).

// Sources of a value, as config show prints them.
const (
	sourceFlag    = "flag"
	sourceDefault = "default"
)

// setValue is a key's effective value and where it came from.
type setValue struct {
	items  []string
	source string // sourceFlag, "env $NAME", "FILE:LINE" or sourceDefault
	line   int    // in the file, 0 when not from it
}

// resolvedService is one service's effective values, every service key.
type resolvedService struct {
	name   string
	line   int
	values map[string]setValue
}

// resolvedConfig is the effective configuration: every global key and
// every service's keys, each with its source.
type resolvedConfig struct {
	path     string
	global   map[string]setValue
	services []resolvedService
}

// overrides are the values flags and the environment give, by key, read
// before the environment is bound to the flags (bindEnv), which would
// make the two one.
type overrides map[string]setValue

// readOverrides returns what the command line (flags Changed) and the
// environment give for every key of the file.
func readOverrides(flags *pflag.FlagSet, getenv func(string) string) overrides {
	out := overrides{}
	flags.VisitAll(func(f *pflag.Flag) {
		if slices.Contains(notKeys, f.Name) {
			return
		}
		if f.Changed {
			out[f.Name] = setValue{items: flagItems(f), source: sourceFlag}
			return
		}
		name := envName(envPrefix, f.Name)
		if v := getenv(name); v != "" {
			items := []string{v}
			if _, ok := f.Value.(pflag.SliceValue); ok {
				items = splitList(v)
			}
			out[f.Name] = setValue{items: items, source: "env $" + name}
		}
	})
	return out
}

// flagItems returns f's value as the items that Set gives it again.
func flagItems(f *pflag.Flag) []string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return []string{f.Value.String()}
}

// defaultItems returns f's default as items.
func defaultItems(f *pflag.Flag) []string {
	if _, ok := f.Value.(pflag.SliceValue); ok {
		return nil
	}
	return []string{f.DefValue}
}

// resolveConfig applies the precedence to fc.
func resolveConfig(fc *fileConfig, ov overrides) (*resolvedConfig, error) {
	rc := &resolvedConfig{path: fc.path, global: map[string]setValue{}}
	fromFile := func(v fileValue) setValue {
		return setValue{items: v.items, source: fmt.Sprintf("%s:%d", fc.path, v.line), line: v.line}
	}
	var bad error
	schema := runFlags()
	schema.VisitAll(func(f *pflag.Flag) {
		key := f.Name
		if slices.Contains(notKeys, key) || bad != nil {
			return
		}
		o, overridden := ov[key]
		scope := scopeOf(key)
		if overridden && (scope == scopeService || scope == scopeRoute) {
			bad = usageErrorf("%s (%s) with --config: %s is set per service; write it in the file, in a service or at the top level for every service", "--"+key, o.source, key)
			return
		}
		if scope != scopeGlobal {
			return
		}
		v := setValue{items: defaultItems(f), source: sourceDefault}
		if fv, ok := fc.top[key]; ok {
			v = fromFile(fv)
		}
		if overridden {
			v = o
		}
		rc.global[key] = v
	})
	if bad != nil {
		return nil, bad
	}
	for _, s := range fc.services {
		rs := resolvedService{name: s.name, line: s.line, values: map[string]setValue{}}
		schema.VisitAll(func(f *pflag.Flag) {
			key := f.Name
			if slices.Contains(notKeys, key) || scopeOf(key) == scopeGlobal {
				return
			}
			v := setValue{items: defaultItems(f), source: sourceDefault}
			if fv, ok := fc.top[key]; ok {
				v = fromFile(fv)
			}
			if fv, ok := s.values[key]; ok {
				v = fromFile(fv)
			}
			if o, ok := ov[key]; ok {
				v = o
			}
			rs.values[key] = v
		})
		for _, key := range []string{nameKey, prefixKey} {
			if fv, ok := s.values[key]; ok {
				rs.values[key] = fromFile(fv)
			}
		}
		rc.services = append(rc.services, rs)
	}
	return rc, nil
}

// fingerprint is the service's effective values, and the global ones,
// without their sources: two equal fingerprints configure the same
// service.
func (rc *resolvedConfig) fingerprint(s resolvedService) string {
	return rc.globalFingerprint() + "\n" + fingerprintOf(s.values)
}

// globalFingerprint is the global values without their sources.
func (rc *resolvedConfig) globalFingerprint() string { return fingerprintOf(rc.global) }

func fingerprintOf(values map[string]setValue) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(&b, "%s=%q\n", k, values[k].items)
	}
	return b.String()
}

// builtService is a service's proxy configuration, with its bootstrap
// read, and the fingerprint of the values it was built from.
type builtService struct {
	name        string
	fingerprint string
	cfg         *outbound.Config
}

// build makes every service's configuration, reading its credential: the
// whole file is checked before anything is used. On error, the
// bootstraps made so far are closed.
func (rc *resolvedConfig) build(ctx context.Context, s Streams) ([]builtService, error) {
	var out []builtService
	for _, svc := range rc.services {
		cfg, err := rc.buildService(ctx, svc, s)
		if err != nil {
			closeBuilt(out)
			return nil, err
		}
		cfg.Logger = cfg.Logger.With("service", svc.name)
		out = append(out, builtService{name: svc.name, fingerprint: rc.fingerprint(svc), cfg: cfg})
	}
	return out, nil
}

// closeBuilt closes the bootstraps of services.
func closeBuilt(services []builtService) {
	for _, b := range services {
		closeBootstraps(b.cfg)
	}
}

// buildService runs `scproxy run` as the service's command line: its
// values (global and its own) set as flags, the environment of the flags
// hidden (readOverrides took it already), so that the file is checked and
// turned into a configuration exactly as flags are.
func (rc *resolvedConfig) buildService(ctx context.Context, svc resolvedService, s Streams) (*outbound.Config, error) {
	var cfg *outbound.Config
	inner := NewCmdRun(Streams{In: s.In, Out: s.Out, Err: s.Err, Getenv: hideFlagEnv(s.environ())},
		func(_ context.Context, c *outbound.Config) error { cfg = c; return nil })
	flags := inner.Flags()
	set := func(key string, v setValue) error {
		for _, item := range v.items {
			if err := flags.Set(key, item); err != nil {
				return fmt.Errorf("--%s: %w", key, err)
			}
		}
		return nil
	}
	var err error
	for key, v := range rc.global {
		if v.source != sourceDefault && key != pidFileKey && err == nil {
			err = set(key, v)
		}
	}
	for key, v := range svc.values {
		switch {
		case err != nil || v.source == sourceDefault || key == nameKey || key == prefixKey:
		case key == upstreamKey:
			prefix := "/"
			if p, ok := svc.values[prefixKey]; ok {
				prefix = p.items[0]
			}
			err = set(routeKey, setValue{items: []string{prefix + "=" + v.items[0]}})
		default:
			err = set(key, v)
		}
	}
	if err == nil {
		inner.SetContext(ctx)
		err = inner.RunE(inner, nil)
	}
	if err != nil {
		return nil, rc.serviceError(svc, err)
	}
	return cfg, nil
}

// hideFlagEnv is getenv without the variables of run's flags.
func hideFlagEnv(getenv func(string) string) func(string) string {
	hidden := map[string]bool{}
	runFlags().VisitAll(func(f *pflag.Flag) { hidden[envName(envPrefix, f.Name)] = true })
	return func(name string) string {
		if hidden[name] {
			return ""
		}
		return getenv(name)
	}
}

// flagRef finds the flags an error of run names.
var flagRef = regexp.MustCompile(`--([a-z0-9][a-z0-9-]*)`)

// serviceError says an error of the service's command line in the file's
// terms: at the line of the first key it names that the file gives (the
// service's line otherwise), the flags named as keys.
func (rc *resolvedConfig) serviceError(svc resolvedService, err error) error {
	msg := flagRef.ReplaceAllString(err.Error(), "$1")
	ce := &ConfigError{File: rc.path, Line: svc.line, Err: fmt.Errorf("service %s: %s", strconv.Quote(svc.name), msg)}
	for _, m := range flagRef.FindAllStringSubmatch(err.Error(), -1) {
		key := m[1]
		if key == routeKey {
			if _, ok := svc.values[upstreamKey]; ok && svc.values[routeKey].line == 0 {
				key = upstreamKey
			}
		}
		v, ok := svc.values[key]
		if !ok {
			v = rc.global[key]
		}
		if v.line > 0 || v.source == sourceFlag || strings.HasPrefix(v.source, "env ") {
			ce.Key = key
			if v.line > 0 {
				ce.Line = v.line
			}
			ce.Err = fmt.Errorf("service %s: %s", strconv.Quote(svc.name), strings.TrimPrefix(msg, m[1]+": "))
			break
		}
	}
	return asUsage(ce)
}
