// Package azclitest puts a fake `az` executable on PATH for tests. The fake is the test
// binary itself, started through a link named az. It records its argument list and responds
// with the stdout, stderr and exit status of the first rule whose arguments match.
//
// A test package that uses it calls RunIfFake at the top of TestMain:
//
//	func TestMain(m *testing.M) {
//		azclitest.RunIfFake()
//		os.Exit(m.Run())
//	}
package azclitest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Environment variables through which a test hands the rules and the call log to the fake.
const (
	rulesEnv = "AZCLITEST_RULES"
	logEnv   = "AZCLITEST_LOG"
)

// Rule is one response of the fake az.
type Rule struct {
	// Args is the prefix of the argument list that this rule matches, such as
	// ["deployment", "group", "create"].
	Args []string `json:"args"`
	// Contains lists arguments that must also appear somewhere in the argument list.
	Contains []string `json:"contains,omitempty"`
	Stdout   string   `json:"stdout,omitempty"`
	Stderr   string   `json:"stderr,omitempty"`
	ExitCode int      `json:"exitCode,omitempty"`
}

// Fake is an installed fake az.
type Fake struct {
	Dir     string
	logPath string
}

// Install writes the rules, links az to the test binary in a new directory and puts that
// directory first on PATH for the rest of the test. With no rule at all the fake fails every
// call, so a test can check that az is never called.
func Install(t testing.TB, rules ...Rule) *Fake {
	t.Helper()
	dir := t.TempDir()
	executable, err := os.Executable()
	if err != nil {
		t.Fatalf("find the test binary: %v", err)
	}
	if err := os.Symlink(executable, filepath.Join(dir, "az")); err != nil {
		t.Fatalf("link the fake az: %v", err)
	}

	rulesPath := filepath.Join(dir, "rules.json")
	encoded, err := json.Marshal(rules)
	if err != nil {
		t.Fatalf("encode the fake az rules: %v", err)
	}
	if err := os.WriteFile(rulesPath, encoded, 0o600); err != nil {
		t.Fatalf("write the fake az rules: %v", err)
	}

	fake := &Fake{Dir: dir, logPath: filepath.Join(dir, "calls.jsonl")}
	t.Setenv(rulesEnv, rulesPath)
	t.Setenv(logEnv, fake.logPath)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return fake
}

// Calls returns the argument list of every call so far, in order.
func (f *Fake) Calls(t testing.TB) [][]string {
	t.Helper()
	content, err := os.ReadFile(f.logPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("read the fake az call log: %v", err)
	}
	var calls [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(content)), "\n") {
		if line == "" {
			continue
		}
		var args []string
		if err := json.Unmarshal([]byte(line), &args); err != nil {
			t.Fatalf("decode the fake az call log line %q: %v", line, err)
		}
		calls = append(calls, args)
	}
	return calls
}

// Commands returns the leading words (up to the first flag) of every call, joined by spaces.
func (f *Fake) Commands(t testing.TB) []string {
	t.Helper()
	var commands []string
	for _, args := range f.Calls(t) {
		var words []string
		for _, arg := range args {
			if strings.HasPrefix(arg, "-") {
				break
			}
			words = append(words, arg)
		}
		commands = append(commands, strings.Join(words, " "))
	}
	return commands
}

// Find returns the first call whose argument list starts with prefix, and whether there is
// one.
func (f *Fake) Find(t testing.TB, prefix ...string) ([]string, bool) {
	t.Helper()
	for _, args := range f.Calls(t) {
		if len(args) >= len(prefix) && slices.Equal(args[:len(prefix)], prefix) {
			return args, true
		}
	}
	return nil, false
}

// RunIfFake turns the process into the fake az when it was started through the az link, and
// returns otherwise.
func RunIfFake() {
	if filepath.Base(os.Args[0]) != "az" || os.Getenv(rulesEnv) == "" {
		return
	}
	os.Exit(serve(os.Args[1:]))
}

func serve(args []string) int {
	if err := appendCall(args); err != nil {
		fmt.Fprintf(os.Stderr, "fake az: %v\n", err)
		return 97
	}

	content, err := os.ReadFile(os.Getenv(rulesEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake az: read rules: %v\n", err)
		return 98
	}
	var rules []Rule
	if err := json.Unmarshal(content, &rules); err != nil {
		fmt.Fprintf(os.Stderr, "fake az: decode rules: %v\n", err)
		return 98
	}

	for _, rule := range rules {
		if !matches(rule, args) {
			continue
		}
		fmt.Fprint(os.Stdout, rule.Stdout)
		fmt.Fprint(os.Stderr, rule.Stderr)
		return rule.ExitCode
	}
	fmt.Fprintf(os.Stderr, "ERROR: fake az has no rule for: az %s\n", strings.Join(args, " "))
	return 99
}

func matches(rule Rule, args []string) bool {
	if len(args) < len(rule.Args) || !slices.Equal(args[:len(rule.Args)], rule.Args) {
		return false
	}
	for _, arg := range rule.Contains {
		if !slices.Contains(args, arg) {
			return false
		}
	}
	return true
}

// appendCall records one call as a JSON line. O_APPEND writes of one short line are atomic
// on local file systems, so calls from concurrent processes do not interleave.
func appendCall(args []string) error {
	encoded, err := json.Marshal(args)
	if err != nil {
		return err
	}
	file, err := os.OpenFile(os.Getenv(logEnv), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer file.Close()
	_, err = file.Write(append(encoded, '\n'))
	return err
}
