package cronjob

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// The time zone database is linked in, as upstream's control plane
	// does: a CronJob's spec.timeZone must not depend on the host's
	// tzdata package.
	_ "time/tzdata"
)

// Schedule is a parsed cron expression.
type Schedule struct {
	minute, hour, dom, month, dow uint64 // bit sets
	// domStar, dowStar: the field was * or ?, so the other one alone
	// decides the day (otherwise either may match).
	domStar, dowStar bool
	// loc is the zone of a CRON_TZ=/TZ= prefix, nil without.
	loc *time.Location
}

type bounds struct {
	min, max int
	names    map[string]int
}

var (
	minutes  = bounds{0, 59, nil}
	hours    = bounds{0, 23, nil}
	days     = bounds{1, 31, nil}
	months   = bounds{1, 12, map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}}
	weekdays = bounds{0, 6, map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

var macros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

// Parse reads a standard five-field cron expression or a macro.
func Parse(spec string) (*Schedule, error) {
	s := &Schedule{}
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		name, rest, _ := strings.Cut(spec, " ")
		_, zone, _ := strings.Cut(name, "=")
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return nil, fmt.Errorf("provided bad location %s: %w", zone, err)
		}
		s.loc, spec = loc, strings.TrimSpace(rest)
	}
	if strings.HasPrefix(spec, "@") {
		m, ok := macros[strings.ToLower(spec)]
		if !ok {
			return nil, fmt.Errorf("unrecognized descriptor: %s", spec)
		}
		spec = m
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), spec)
	}
	var err error
	for i, f := range []struct {
		dst  *uint64
		star *bool
		b    bounds
	}{{&s.minute, nil, minutes}, {&s.hour, nil, hours}, {&s.dom, &s.domStar, days}, {&s.month, nil, months}, {&s.dow, &s.dowStar, weekdays}} {
		var star bool
		if *f.dst, star, err = parseField(fields[i], f.b); err != nil {
			return nil, err
		}
		if f.star != nil {
			*f.star = star
		}
	}
	return s, nil
}

// parseField reads a comma-separated list of ranges into a bit set;
// star reports a bare * or ?.
func parseField(field string, b bounds) (bits uint64, star bool, err error) {
	for part := range strings.SplitSeq(field, ",") {
		r, step, hasStep := strings.Cut(part, "/")
		var lo, hi int
		switch {
		case r == "*" || r == "?":
			lo, hi = b.min, b.max
			star = !hasStep
		default:
			first, last, isRange := strings.Cut(r, "-")
			if lo, err = value(first, b); err != nil {
				return 0, false, err
			}
			hi = lo
			if isRange {
				if hi, err = value(last, b); err != nil {
					return 0, false, err
				}
			} else if hasStep {
				hi = b.max // N/step runs from N to the end
			}
		}
		n := 1
		if hasStep {
			if n, err = strconv.Atoi(step); err != nil || n <= 0 {
				return 0, false, fmt.Errorf("bad step in %q", part)
			}
		}
		if lo < b.min || hi > b.max || lo > hi {
			return 0, false, fmt.Errorf("%q out of range %d-%d", part, b.min, b.max)
		}
		for i := lo; i <= hi; i += n {
			bits |= 1 << uint(i)
		}
	}
	return bits, star, nil
}

func value(s string, b bounds) (int, error) {
	if n, ok := b.names[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s", s)
	}
	return n, nil
}

func has(bits uint64, i int) bool { return bits&(1<<uint(i)) != 0 }

// dayMatches applies cron's rule: with both day fields restricted, either
// may match.
func (s *Schedule) dayMatches(t time.Time) bool {
	dom, dow := has(s.dom, t.Day()), has(s.dow, int(t.Weekday()))
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// Next is the first activation strictly after t, in t's zone (or the
// schedule's own); zero when none falls within five years.
func (s *Schedule) Next(t time.Time) time.Time {
	orig := t.Location()
	if s.loc != nil {
		t = t.In(s.loc)
	}
	loc := t.Location()
	t = t.Add(time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	limit := t.Year() + 5
	for t.Year() <= limit {
		switch {
		case !has(s.month, int(t.Month())):
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !s.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case !has(s.hour, t.Hour()):
			next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
			if !next.After(t) { // a repeated hour at a DST change
				next = t.Truncate(time.Hour).Add(time.Hour)
			}
			t = next
		case !has(s.minute, t.Minute()):
			t = t.Add(time.Minute)
		default:
			return t.In(orig)
		}
	}
	return time.Time{}
}
