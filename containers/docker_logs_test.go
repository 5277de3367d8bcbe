package containers

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLogs(t *testing.T) {
	t.Parallel()
	d := testDocker(t, Options{})
	projectID, _, _ := startProject(t, d, "vanilla-vite", "/")
	ctx := testContext(t)

	read := func(tail int) []string {
		t.Helper()
		r, err := d.Logs(ctx, projectID, tail, false)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return lines(string(b))
	}
	all := read(0)
	if len(all) < 3 || !strings.Contains(strings.Join(all, "\n"), "VITE v7") {
		t.Fatalf("all logs: %q", all)
	}
	if got := read(2); len(got) != 2 || got[1] != all[len(all)-1] {
		t.Errorf("tail 2 = %q, want the last 2 of %q", got, all)
	}

	// A follower gets the history, then blocks until it is closed.
	r, err := d.Logs(ctx, projectID, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	s := bufio.NewScanner(r)
	if !s.Scan() || s.Text() != all[len(all)-1] {
		t.Errorf("follow: first line %q, want %q", s.Text(), all[len(all)-1])
	}
	closed := make(chan struct{})
	go func() {
		for s.Scan() {
		}
		close(closed)
	}()
	r.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("closing a following log reader did not end it")
	}

	if _, err := d.Logs(context.Background(), "00000000-0000-0000-0000-000000000000", 1, false); err == nil {
		t.Error("Logs of a project without a container succeeded")
	}
}
