package etcdsnapshot

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestPruneKeepsNewestOfPrefix(t *testing.T) {
	dir := t.TempDir()
	base := time.Unix(1_700_000_000, 0)
	write := func(name string, age time.Duration) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, base.Add(-age), base.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	for i, age := range []time.Duration{5, 4, 3, 2, 1} {
		write(FileName(ScheduledPrefix, "n1", base.Add(time.Duration(i)*time.Second)), age*time.Hour)
	}
	write("on-demand-n1-1", 10*time.Hour)
	write(FileName(ScheduledPrefix, "n1", base)+partSuffix, 20*time.Hour)

	removed, err := Prune(dir, ScheduledPrefix, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Fatalf("removed %v, want the 3 oldest scheduled", removed)
	}
	left, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range left {
		names = append(names, s.Name)
	}
	want := []string{"on-demand-n1-1", FileName(ScheduledPrefix, "n1", base.Add(3*time.Second)), FileName(ScheduledPrefix, "n1", base.Add(4*time.Second))}
	if !slices.Equal(names, want) {
		t.Fatalf("left %v, want %v (oldest first, .part ignored)", names, want)
	}
	if _, err := Prune(dir, ScheduledPrefix, 0); err == nil {
		t.Fatal("retention 0 accepted")
	}
}

func TestNamesStayInDir(t *testing.T) {
	for _, name := range []string{"", ".", "..", "../x", "a/b", `a\b`} {
		if err := Delete(t.TempDir(), name); err == nil {
			t.Errorf("Delete(%q) accepted", name)
		}
	}
	if err := Delete(t.TempDir(), "missing"); err == nil {
		t.Error("deleting a missing snapshot succeeded")
	}
}

func TestScheduleParse(t *testing.T) {
	for _, tc := range []struct {
		cron string
		ok   bool
	}{{DefaultSchedule, true}, {"@every 1h", true}, {"@daily", true}, {"61 * * * *", false}, {"* * *", false}} {
		_, err := Schedule{Cron: tc.cron, Retention: 1}.Parse()
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%q) = %v, want ok=%v", tc.cron, err, tc.ok)
		}
	}
	if _, err := (Schedule{Cron: DefaultSchedule}).Parse(); err == nil {
		t.Error("retention 0 accepted")
	}
}
