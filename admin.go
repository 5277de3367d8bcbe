package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"

	"studio/app"
	"studio/auth"
	"studio/config"
	"studio/db"
)

func admin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "create-user":
			return createUser(ctx, args[1:], stdout, stderr)
		case "rotate-key":
			return rotateKey(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "Usage: studio admin create-user --email E [--name N] [--password P] [--admin]\n       studio admin rotate-key [--wait 30s]")
	return errUsage
}

// rotateKey re-seals every stored secret under a new key. With the
// generated key file, the new key is made here and every older key is
// kept; with STUDIO_SECRET_KEY, the operator sets the new key there and
// the old one in STUDIO_PREVIOUS_SECRET_KEYS first.
func rotateKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin rotate-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wait := fs.Duration("wait", auth.KeyReloadInterval,
		"time for running servers to read the new key from the key file before secrets are re-sealed with it")
	build := config.Register(fs, config.Env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := build()
	if err != nil {
		return err
	}
	studio, err := app.New(ctx, cfg, app.Options{Parts: app.Accounts, Logger: newLogger(cfg, stderr), Attach: true})
	if err != nil {
		return err
	}
	defer studio.Close()
	if studio.Ring.FromFile() {
		fmt.Fprintf(stdout, "adding a new key to %s; waiting %s for running servers to read it\n", auth.KeyFile, *wait)
	} else if cfg.PreviousKeys == "" {
		fmt.Fprintln(stdout, "STUDIO_PREVIOUS_SECRET_KEYS is empty: every secret is already sealed with STUDIO_SECRET_KEY or cannot be opened")
	}
	key, n, err := studio.Auth.RotateKey(ctx, *wait)
	if err != nil {
		return fmt.Errorf("rotate-key: %w (every key is kept and no secret was lost; run rotate-key again to finish)", err)
	}
	fmt.Fprintf(stdout, "re-sealed %d secret(s) with key %s, now the current key\n", n, key.ID)
	return nil
}

func createUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin create-user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the account's email address (required)")
	name := fs.String("name", "", "the person's name")
	password := fs.String("password", "", "the password (10–72 bytes); empty generates one and prints it")
	isAdmin := fs.Bool("admin", false, "make the account an administrator")
	build := config.Register(fs, config.Env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := build()
	if err != nil {
		return err
	}
	// The flags are checked before the database is opened, for a quick
	// answer; the account service checks them again.
	addr, err := auth.NormalizeEmail(*email)
	if err != nil {
		return fmt.Errorf("--email: %w", err)
	}
	generated := *password == ""
	if generated {
		*password = rand.Text()
	}
	if err := auth.CheckPassword(*password); err != nil {
		return fmt.Errorf("--password: %w", err)
	}
	role := db.UserRoleUser
	if *isAdmin {
		role = db.UserRoleAdmin
	}
	studio, err := app.New(ctx, cfg, app.Options{Parts: app.Accounts, Logger: newLogger(cfg, stderr), Attach: true})
	if err != nil {
		return err
	}
	defer studio.Close()
	// The operator at the command line is no account: the audit entry has
	// no actor.
	u, err := studio.Auth.CreateUser(ctx, nil, auth.NewAccount{Email: addr, Name: *name, Password: *password, Role: role}, auth.Meta{})
	if errors.Is(err, auth.ErrEmailTaken) {
		return fmt.Errorf("an account with the email %s already exists", addr)
	} else if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	fmt.Fprintf(stdout, "created %s %s (id %s)\n", role, u.Email, u.ID)
	if generated {
		fmt.Fprintf(stdout, "password: %s\n", *password)
	}
	return nil
}
