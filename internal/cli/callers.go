package cli

import (
	"io/fs"
	"os/user"
	"slices"
	"strconv"

	"github.com/scproxy/scproxy/outbound"
)

// callers sets who may call the proxy: --listen-unix with its mode, and
// the --allow-uid list (uids or user names, "any" for every local user)
// for the TCP listener; outbound.Config.Validate checks the values.
func (o *RunOptions) callers(cfg *outbound.Config) error {
	if o.ListenUnix != "" && o.listenGiven {
		return usageErrorf("--listen and --listen-unix: give only one")
	}
	cfg.ListenUnix = o.ListenUnix
	mode, err := strconv.ParseUint(o.ListenUnixMode, 8, 32)
	if err != nil {
		return usageErrorf("--listen-unix-mode %q: want an octal mode, e.g. 0600 or 0660", o.ListenUnixMode)
	}
	cfg.ListenUnixMode = fs.FileMode(mode)
	for _, v := range o.AllowUIDs {
		if v == "any" {
			cfg.AnyLocalUser = true
			continue
		}
		uid, err := lookupUID(v)
		if err != nil {
			return err
		}
		cfg.AllowUIDs = append(cfg.AllowUIDs, uid)
	}
	if cfg.AnyLocalUser && len(cfg.AllowUIDs) > 0 {
		other := o.AllowUIDs[slices.IndexFunc(o.AllowUIDs, func(v string) bool { return v != "any" })]
		return usageErrorf("--allow-uid any and --allow-uid %s: any already allows every local user", other)
	}
	return nil
}

// lookupUID reads a uid, or the uid of a user name.
func lookupUID(v string) (int, error) {
	if uid, err := strconv.Atoi(v); err == nil {
		return uid, nil
	}
	u, err := user.Lookup(v)
	if err != nil {
		return 0, usageErrorf("--allow-uid %q: not a uid, a known user name or any", v)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, usageErrorf("--allow-uid %q: the user's id %q is not a number", v, u.Uid)
	}
	return uid, nil
}
