// Command scproxy adds WS-SecureConversation to outbound SOAP calls. The
// commands live in internal/cli; main only wires the process to them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/scproxy/scproxy/internal/cli"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	// One channel for both signals, registered before anything runs, so
	// that a second signal cannot be lost however soon it follows the
	// first: the first starts a graceful shutdown, the second ends the
	// process at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "scproxy: second signal, exiting at once")
		os.Exit(130)
	}()
	code := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv})
	os.Exit(code)
}
