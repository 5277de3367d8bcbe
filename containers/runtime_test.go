package containers

import "testing"

func TestExitReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		exit Exit
		want string
	}{
		{Exit{ExitCode: 1}, "exited with code 1"},
		{Exit{ExitCode: 0}, "exited with code 0"},
		{Exit{ExitCode: 137}, "killed by signal 9"},
		{Exit{ExitCode: 143}, "killed by signal 15"},
		{Exit{ExitCode: 137, OOMKilled: true}, "ran out of memory"},
	}
	for _, tt := range tests {
		if got := tt.exit.Reason(); got != tt.want {
			t.Errorf("%+v.Reason() = %q, want %q", tt.exit, got, tt.want)
		}
	}
	e := Exit{ExitCode: 1, LogTail: []string{"error when starting dev server:", "Error: boom"}}
	if got, want := e.String(), "dev server exited with code 1:\nerror when starting dev server:\nError: boom"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestCappedBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		writes    []string
		limit     int
		want      string
		truncated bool
	}{
		{"under the cap", []string{"ab", "cd"}, 10, "abcd", false},
		{"exactly the cap", []string{"abcd"}, 4, "abcd", false},
		{"over the cap", []string{"ab", "cdef", "gh"}, 5, "abcde", true},
		{"never cuts a character in half", []string{"ab€"}, 4, "ab", true},
	}
	for _, tt := range tests {
		b := &CappedBuffer{Limit: tt.limit}
		for _, w := range tt.writes {
			if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write = %d, %v; a capped buffer must accept everything", tt.name, n, err)
			}
		}
		if b.String() != tt.want || b.Truncated != tt.truncated {
			t.Errorf("%s: %q truncated %v, want %q truncated %v", tt.name, b.String(), b.Truncated, tt.want, tt.truncated)
		}
	}
}
