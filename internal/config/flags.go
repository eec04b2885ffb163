package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aks-edw/aks-edw/internal/message"
)

// flagSet is a flag.FlagSet whose flags fall back to an environment variable each.
type flagSet struct {
	*flag.FlagSet
	getenv Getenv
	envs   map[string]string // flag name -> environment variable

	// setErr is the first error a flag's Set returned. The flag package formats it as
	// "invalid value ... for flag -name", with one dash, so parse rewrites it from this.
	setErr *setError
}

// setError is a value that a flag's Set rejected.
type setError struct {
	name, value string
	err         error
}

// namedValue records the flag name of a Set error in its flagSet.
type namedValue struct {
	flag.Value
	fs   *flagSet
	name string
}

func (v namedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err != nil && v.fs.setErr == nil {
		v.fs.setErr = &setError{name: v.name, value: s, err: err}
	}
	return err
}

// IsBoolFlag keeps --until-empty usable without a value.
func (v namedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func newFlagSet(name string, getenv Getenv) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flagSet{FlagSet: fs, getenv: getenv, envs: map[string]string{}}
}

func (fs *flagSet) bind(value flag.Value, name, env, help string) {
	if env != "" {
		help += " [" + env + "]"
		fs.envs[name] = env
	}
	fs.Var(namedValue{Value: value, fs: fs, name: name}, name, help)
}

func (fs *flagSet) stringVar(p *string, name, env, help string) {
	fs.bind((*stringValue)(p), name, env, help)
}

// intVar binds an integer flag. valid describes the accepted values, for example "1 to 32",
// and completes the error for a value that is not a whole number or overflows an int.
func (fs *flagSet) intVar(p *int, name, env, help, valid string) {
	fs.bind(&intValue{p: p, valid: valid}, name, env, help)
}

func (fs *flagSet) floatVar(p *float64, name, env, help string) {
	fs.bind((*floatValue)(p), name, env, help)
}

func (fs *flagSet) boolVar(p *bool, name, env, help string) {
	fs.bind((*boolValue)(p), name, env, help)
}

func (fs *flagSet) durationVar(p *time.Duration, name, env, help string) {
	fs.bind((*durationValue)(p), name, env, help)
}

// encodingVar binds an encoding flag. Without allowAuto, "auto" is left to Validate, which
// explains why the program rejects it.
func (fs *flagSet) encodingVar(p *message.Encoding, name, env, help string, allowAuto bool) {
	fs.bind(&encodingValue{p: p, allowAuto: allowAuto}, name, env, help)
}

func (fs *flagSet) levelVar(p *slog.Level, name, env, help string) {
	fs.bind((*levelValue)(p), name, env, help)
}

// parse applies the environment first and then args, so a flag overrides its variable.
func (fs *flagSet) parse(args []string, usage io.Writer) error {
	names := make([]string, 0, len(fs.envs))
	for name := range fs.envs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		env := fs.envs[name]
		value := fs.getenv(env)
		if value == "" {
			continue
		}
		if err := fs.Lookup(name).Value.Set(value); err != nil {
			return Invalid("invalid %s=%q (--%s): %v", env, value, name, err)
		}
	}

	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.writeUsage(usage)
			return err
		}
		if bad := fs.setErr; bad != nil {
			return Invalid("invalid --%s %q (%s): %v", bad.name, bad.value, fs.envs[bad.name], bad.err)
		}
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
			return Invalid("unknown flag --%s: run with --help for the flags", name)
		}
		if name, ok := strings.CutPrefix(err.Error(), "flag needs an argument: -"); ok {
			return Invalid("flag needs an argument: --%s: run with --help for the flags", name)
		}
		return Invalid("%v: run with --help for the flags", err)
	}
	if fs.NArg() > 0 {
		return Invalid("unexpected argument %q: settings are flags such as --queue NAME; run with --help", fs.Arg(0))
	}
	return nil
}

func (fs *flagSet) writeUsage(w io.Writer) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "Usage: %s [flags]\n\nFlags:\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(w, "  --%-20s %s", f.Name, f.Usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprint(w, ConnectionStringHelp)
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(strings.TrimSpace(s)); return nil }
func (v *stringValue) String() string     { return string(*v) }

type intValue struct {
	p     *int
	valid string
}

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("out of range: use %s", v.valid)
	}
	if err != nil {
		return fmt.Errorf("not a whole number: use %s", v.valid)
	}
	*v.p = n
	return nil
}

func (v *intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

type floatValue float64

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("not a number")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("not a finite number")
	}
	*v = floatValue(f)
	return nil
}
func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not true or false")
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

// durationValue accepts Go durations ("30s", "2m") and whole seconds ("30"), the form many
// Kubernetes manifests use.
type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	s = strings.TrimSpace(s)
	if seconds, err := strconv.Atoi(s); err == nil {
		*v = durationValue(time.Duration(seconds) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration: use a number with a unit such as 30s or 2m")
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }

type encodingValue struct {
	p         *message.Encoding
	allowAuto bool
}

func (v *encodingValue) Set(s string) error {
	e, err := message.ParseEncoding(s)
	switch {
	case err != nil && v.allowAuto:
		return fmt.Errorf("use text, base64 or auto")
	case err != nil:
		return fmt.Errorf("use text or base64")
	}
	*v.p = e
	return nil
}

func (v *encodingValue) String() string {
	if v.p == nil {
		return ""
	}
	return string(*v.p)
}

type levelValue slog.Level

func (v *levelValue) Set(s string) error {
	level, err := ParseLevel(s)
	if err != nil {
		return fmt.Errorf("use debug, info, warn or error")
	}
	*v = levelValue(level)
	return nil
}
func (v *levelValue) String() string { return strings.ToLower(slog.Level(*v).String()) }
