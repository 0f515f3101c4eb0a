package cronjob

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// TestScheduleNext pins the schedule semantics the controller relies on
// (day-of-month or day-of-week, steps, names, macros, @every, zones) to the
// cron library it uses.
func TestScheduleNext(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct{ spec, from, want string }{
		{"*/1 * * * *", "2026-01-01T10:00:30Z", "2026-01-01T10:01:00Z"},
		{"*/15 * * * *", "2026-01-01T10:01:00Z", "2026-01-01T10:15:00Z"},
		{"5 4 * * *", "2026-01-01T10:00:00Z", "2026-01-02T04:05:00Z"},
		{"0 0 1 1 *", "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"@yearly", "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"@annually", "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"@monthly", "2026-03-05T00:00:00Z", "2026-04-01T00:00:00Z"},
		{"@weekly", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"}, // a Thursday; next Sunday
		{"@daily", "2026-01-01T13:00:00Z", "2026-01-02T00:00:00Z"},
		{"@midnight", "2026-01-01T13:00:00Z", "2026-01-02T00:00:00Z"},
		{"@hourly", "2026-01-01T13:10:00Z", "2026-01-01T14:00:00Z"},
		{"0 9-17/4 * * mon-fri", "2026-01-02T14:00:00Z", "2026-01-02T17:00:00Z"},
		{"0 9-17/4 * * mon-fri", "2026-01-02T17:00:00Z", "2026-01-05T09:00:00Z"}, // Fri → Mon
		{"30 1,3 * * *", "2026-01-01T02:00:00Z", "2026-01-01T03:30:00Z"},
		{"0 0 * FEB sun", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"},
		{"0 0 13 * 5", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"}, // dom or dow
		{"0 0 13 * ?", "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z"},
		{"0 0 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 0 30 2 *", "2026-01-01T00:00:00Z", ""},
		{"10/20 * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z"},
		{"CRON_TZ=Asia/Tokyo 0 9 * * *", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
		{"@every 90s", "2026-01-01T00:00:00Z", "2026-01-01T00:01:30Z"},
	} {
		s, err := cron.ParseStandard(tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		got := s.Next(utc(tc.from))
		if (tc.want == "" && !got.IsZero()) || (tc.want != "" && !got.Equal(utc(tc.want))) {
			t.Errorf("%q after %s: got %v, want %s", tc.spec, tc.from, got, tc.want)
		}
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 7", "*/0 * * * *", "5-1 * * * *", "@every never", "@often", "a * * * *", "TZ=Nowhere/City * * * * *"} {
		if _, err := cron.ParseStandard(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err) // time/tzdata is linked in: it cannot be missing
	}
	s, _ := cron.ParseStandard("0 9 * * *")
	got := s.Next(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).In(ny))
	if want := time.Date(2026, 1, 1, 14, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestMostRecent(t *testing.T) {
	s, _ := cron.ParseStandard("*/1 * * * *")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	last, n := mostRecent(s, from, from.Add(150*time.Minute+30*time.Second))
	if n != 150 || !last.Equal(from.Add(150*time.Minute)) {
		t.Errorf("got %v, %d", last, n)
	}
	if last, n := mostRecent(s, from, from.Add(30*time.Second)); !last.IsZero() || n != 0 {
		t.Errorf("none expected: %v %d", last, n)
	}
}

// TestMostRecentEvery: an @every schedule counts its intervals from the
// last schedule time, as upstream's controller runs it.
func TestMostRecentEvery(t *testing.T) {
	s, err := cron.ParseStandard("@every 10m")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	last, n := mostRecent(s, from, from.Add(35*time.Minute))
	if n != 3 || !last.Equal(from.Add(30*time.Minute)) {
		t.Errorf("got %v, %d; want %v, 3", last, n, from.Add(30*time.Minute))
	}
}
