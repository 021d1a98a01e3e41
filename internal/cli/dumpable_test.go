//go:build linux

package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/scproxy/scproxy/outbound"
)

// dumpableHelperEnv, set in the environment of this test binary, makes it
// run the command it names (run or demo) with a runF that prints the
// process's dumpable flag, instead of the tests: the flag is process-wide,
// so it is read in a process of its own.
const dumpableHelperEnv = "SCPROXY_TEST_DUMPABLE_CMD"

func init() {
	which := os.Getenv(dumpableHelperEnv)
	if which == "" {
		return
	}
	report := func() error {
		d, err := dumpable()
		fmt.Printf("dumpable=%v err=%v\n", d, err)
		return nil
	}
	s := Streams{Out: os.Stdout, Err: os.Stderr, Getenv: func(string) string { return "" }}
	cmd := NewCmdRun(s, func(context.Context, *outbound.Config) error { return report() })
	cmd.SetArgs([]string{"--upstream", "https://svc.example/Service.svc", "--security", "none"})
	if which == "demo" {
		cmd = NewCmdDemo(s, func(context.Context, *DemoOptions) error { return report() })
		cmd.SetArgs(nil)
	}
	if err := cmd.Execute(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestCommandsAreNotDumpable: `scproxy run` and `scproxy demo` make the
// process non-dumpable before they read a secret, so that no core file
// (nor a same-user ptrace) carries the password or a context key.
func TestCommandsAreNotDumpable(t *testing.T) {
	for _, which := range []string{"run", "demo"} {
		t.Run(which, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), dumpableHelperEnv+"="+which)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !strings.Contains(string(out), "dumpable=false err=<nil>") {
				t.Fatalf("the command ran dumpable: %s", out)
			}
		})
	}
}

// TestNoCoreDumpsFunction: noCoreDumps clears the flag PR_GET_DUMPABLE
// reads, checked in a process of its own (this test, run again by itself).
func TestNoCoreDumpsFunction(t *testing.T) {
	if os.Getenv("SCPROXY_TEST_NOCORE") == "1" {
		if err := noCoreDumps(); err != nil {
			t.Fatal(err)
		}
		if d, err := dumpable(); d || err != nil {
			t.Fatalf("still dumpable (%v)", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoCoreDumpsFunction$")
	cmd.Env = append(os.Environ(), "SCPROXY_TEST_NOCORE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
