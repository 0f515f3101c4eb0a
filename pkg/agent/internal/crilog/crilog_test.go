package crilog

import (
	"strings"
	"testing"
	"time"
)

func TestReadLines(t *testing.T) {
	raw := "2026-01-01T00:00:00.000000001Z stdout F hello\n" +
		"2026-01-01T00:00:01Z stderr P part-\n" +
		"2026-01-01T00:00:01Z stderr F one\n" +
		"2026-01-01T00:00:02Z stdout F last\n"
	lines, err := ReadLines(strings.NewReader(raw), Options{Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, l := range lines {
		got += string(l)
	}
	if got != "hello\npart-one\nlast\n" {
		t.Fatalf("log = %q", got)
	}
	// Output ending without a newline is kept.
	lines, _ = ReadLines(strings.NewReader(raw+"2026-01-01T00:00:03Z stdout P no-newline\n"), Options{Tail: 1})
	if len(lines) != 1 || string(lines[0]) != "no-newline" {
		t.Fatalf("trailing partial line = %q", lines)
	}
	lines, _ = ReadLines(strings.NewReader(raw), Options{Tail: 1, Timestamps: true})
	if len(lines) != 1 || string(lines[0]) != "2026-01-01T00:00:02Z last\n" {
		t.Fatalf("tail 1 with timestamps = %q", lines)
	}
	lines, _ = ReadLines(strings.NewReader(raw), Options{Tail: -1, Since: time.Date(2026, 1, 1, 0, 0, 1, 500, time.UTC)})
	if len(lines) != 1 {
		t.Fatalf("since: %q", lines)
	}
}
