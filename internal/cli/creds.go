package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/scproxy/scproxy/creds"
)

// maxStdinSecret bounds a secret read with --stdin.
const maxStdinSecret = 64 << 10

// CredsOptions are the flags of `scproxy creds`.
type CredsOptions struct {
	Name     string
	Username string
	Stdin    bool
}

// NewCmdCreds returns `scproxy creds set|get|delete NAME`, which keeps
// credentials in the OS keyring. store nil means the OS keyring.
func NewCmdCreds(s Streams, store creds.Store) *cobra.Command {
	if store == nil {
		store = flagKeyring{&creds.Keyring{}}
	}
	cmd := &cobra.Command{
		Use:   "creds",
		Short: "Keep the credentials scproxy authenticates with in the OS keyring",
		Long: `Keep credentials in the OS keyring (Secret Service, macOS Keychain, Windows
Credential Manager), under service "` + creds.KeyringService + `", one entry per NAME.

scproxy run reads the entry named by --credential, and by default the entry named
after the upstream's host (svc.example.com, or svc.example.com:8443 with a port).`,
	}
	cmd.AddCommand(newCmdCredsSet(s, store), newCmdCredsGet(s, store), newCmdCredsDelete(s, store))
	return cmd
}

func newCmdCredsSet(s Streams, store creds.Store) *cobra.Command {
	o := &CredsOptions{}
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Store a user name and secret (asked for without echo, or read from stdin with --stdin)",
		Example: `  scproxy creds set svc.example.com --username alice
  printf %s "$PW" | scproxy creds set svc.example.com --username alice --stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			c, err := o.read(s)
			if err != nil {
				return err
			}
			if err := store.Set(cmd.Context(), o.Name, c); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "stored %s\n", store.Describe(o.Name))
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Username, "username", "", "user name stored with the secret (asked for when omitted at a terminal)")
	cmd.Flags().BoolVar(&o.Stdin, "stdin", false, "read the secret from standard input instead of asking for it")
	return cmd
}

// read gets the credential to store: from stdin, or asked for at the
// terminal without echo, twice.
func (o *CredsOptions) read(s Streams) (creds.Credential, error) {
	if o.Stdin {
		b, err := io.ReadAll(io.LimitReader(s.In, maxStdinSecret+1))
		if err != nil {
			return creds.Credential{}, fmt.Errorf("reading the secret from stdin: %w", err)
		}
		if len(b) > maxStdinSecret {
			return creds.Credential{}, usageErrorf("--stdin: more than %d bytes, not a secret", maxStdinSecret)
		}
		secret := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if secret == "" {
			return creds.Credential{}, usageErrorf("--stdin: the secret is empty")
		}
		return creds.Credential{Username: o.Username, Secret: creds.NewSecret(secret)}, nil
	}
	f, ok := s.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return creds.Credential{}, usageErrorf("standard input is not a terminal: give --stdin to read the secret from it")
	}
	user := o.Username
	if user == "" {
		fmt.Fprintf(s.Err, "User name for %s (empty for none): ", o.Name)
		line, err := bufio.NewReader(f).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return creds.Credential{}, err
		}
		user = strings.TrimSpace(line)
	}
	secret, err := askTwice(f, s.Err)
	if err != nil {
		return creds.Credential{}, err
	}
	return creds.Credential{Username: user, Secret: secret}, nil
}

// askTwice reads the secret at the terminal without echo, and again to
// confirm it.
func askTwice(f *os.File, prompt io.Writer) (creds.Secret, error) {
	ask := func(p string) (string, error) {
		fmt.Fprint(prompt, p)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		return string(b), err
	}
	first, err := ask("Secret: ")
	if err != nil {
		return creds.Secret{}, fmt.Errorf("reading the secret: %w", err)
	}
	if first == "" {
		return creds.Secret{}, errors.New("the secret is empty; nothing stored")
	}
	again, err := ask("Secret again: ")
	if err != nil {
		return creds.Secret{}, fmt.Errorf("reading the secret: %w", err)
	}
	if again != first {
		return creds.Secret{}, errors.New("the two entries differ; nothing stored")
	}
	return creds.NewSecret(first), nil
}

func newCmdCredsGet(s Streams, store creds.Store) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show the user name stored under NAME and whether it has a secret (never the secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := store.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			user := c.Username
			if user == "" {
				user = "(none)"
			}
			secret := "stored"
			if c.Secret.IsZero() {
				secret = "missing"
			}
			fmt.Fprintf(s.Out, "name      %s\nwhere     %s\nusername  %s\nsecret    %s\n", args[0], store.Describe(args[0]), user, secret)
			return nil
		},
	}
}

func newCmdCredsDelete(s Streams, store creds.Store) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Remove the credential stored under NAME",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "deleted %s\n", store.Describe(args[0]))
			return nil
		},
	}
}
