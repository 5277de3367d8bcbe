package main

import (
	"context"
	"fmt"
	"io"

	"studio/app"
	"studio/config"
	"studio/db"
)

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	direction := "up"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		direction, args = args[0], args[1:]
	}
	if direction != "up" && direction != "down" && direction != "status" {
		return fmt.Errorf("migrate: unknown direction %q; use up, down or status", direction)
	}
	cfg, err := config.Load("migrate", args, config.Env, stderr)
	if err != nil {
		return err
	}
	studio, err := app.New(ctx, cfg, app.Options{Parts: app.Database, Logger: newLogger(cfg, stderr), Attach: true})
	if err != nil {
		return err
	}
	defer studio.Close()
	m, err := db.NewMigrator(studio.Pool)
	if err != nil {
		return err
	}
	defer m.Close()
	switch direction {
	case "up":
		n, err := m.Up(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
	case "down":
		v, err := m.Down(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rolled back migration %d\n", v)
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			applied := "pending"
			if s.State == "applied" {
				applied = "applied " + s.AppliedAt.Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(stdout, "%05d  %-28s %s\n", s.Source.Version, s.Source.Path, applied)
		}
	}
	return nil
}
