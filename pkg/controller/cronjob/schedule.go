package cronjob

// Schedules are parsed with the cron library upstream's controller uses
// (robfig/cron ParseStandard), the same call pkg/validation makes, so what
// the API accepts is what runs: five fields, the @-descriptors including
// @every, and a CRON_TZ=/TZ= prefix, which the API refuses on new objects
// but older ones may still carry.

import (
	"time"
	// The time zone database is linked in, as upstream's control plane
	// does: a CronJob's spec.timeZone must not depend on the host's
	// tzdata package.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// mostRecent is the latest schedule time in (from, now] and how many
// there are; zero when none. The cron library evaluates a schedule without
// a TZ prefix in the zone of the time it is given, so callers pass times
// in spec.timeZone's location.
func mostRecent(s cron.Schedule, from, now time.Time) (time.Time, int) {
	var last time.Time
	n := 0
	for t := s.Next(from.In(now.Location())); !t.IsZero() && !t.After(now); t = s.Next(t) {
		last = t
		n++
		if n > 1_000_000 {
			break
		}
	}
	return last, n
}
