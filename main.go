// Command studio is a self-hosted AI development platform: it serves the
// web UI and API, runs every project in its own container and keeps all
// state in PostgreSQL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"studio/config"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "studio:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run dispatches a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, stderr)
	case "migrate":
		return migrate(ctx, rest, stdout, stderr)
	case "admin":
		return admin(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "studio", buildVersion())
		return nil
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	}
	fmt.Fprintf(stderr, "studio: unknown command %q\n\n", cmd)
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Studio: a self-hosted AI development platform.

Usage:
  studio serve [flags]                 serve the UI, the API and project previews
  studio migrate [up|down|status]      apply, roll back one, or list database migrations
  studio admin create-user --email E [--name N] [--password P] [--admin]
                                       create an account (a password is generated when none is given)
  studio admin rotate-key [--wait 30s] re-encrypt stored secrets under a new key, keeping every old one
  studio version                       print the version
  studio help                          this text

Every command reads these variables (each also a flag, e.g. STUDIO_ADDR = --addr):
`)
	config.Help(w)
	fmt.Fprint(w, `
With no STUDIO_DATABASE_URL, studio runs a private PostgreSQL from the system's
PostgreSQL binaries under STUDIO_DATA/pg and stops it when it exits.
`)
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
