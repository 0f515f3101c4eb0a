package validation

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The standard five-field cron syntax, plus the @-descriptors, as accepted
// by the cron library upstream uses (robfig/cron ParseStandard). The error
// texts mirror that library's so kubectl shows the same reasons.

type cronBounds struct {
	min, max int
	names    map[string]int
}

var (
	cronMinute = cronBounds{0, 59, nil}
	cronHour   = cronBounds{0, 23, nil}
	cronDom    = cronBounds{1, 31, nil}
	cronMonth  = cronBounds{1, 12, map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}}
	cronDow    = cronBounds{0, 6, map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

var cronDescriptors = map[string]bool{
	"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true,
	"@daily": true, "@midnight": true, "@hourly": true,
}

// parseCron reports why a schedule is invalid, or nil.
func parseCron(spec string) error {
	if spec == "" {
		return fmt.Errorf("empty spec string")
	}
	if strings.HasPrefix(spec, "@") {
		if cronDescriptors[spec] {
			return nil
		}
		if rest, ok := strings.CutPrefix(spec, "@every "); ok {
			d, err := time.ParseDuration(rest)
			if err != nil {
				return fmt.Errorf("failed to parse duration %s: %s", spec, err)
			}
			if d <= 0 {
				return fmt.Errorf("failed to parse duration %s: non-positive", spec)
			}
			return nil
		}
		return fmt.Errorf("unrecognized descriptor: %s", spec)
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), fields)
	}
	for i, b := range []cronBounds{cronMinute, cronHour, cronDom, cronMonth, cronDow} {
		if err := parseCronField(fields[i], b); err != nil {
			return err
		}
	}
	return nil
}

func parseCronField(f string, b cronBounds) error {
	for _, expr := range strings.Split(f, ",") {
		if err := parseCronRange(expr, b); err != nil {
			return err
		}
	}
	return nil
}

func parseCronRange(expr string, b cronBounds) error {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	singleDigit := len(lowAndHigh) == 1
	var start, end int
	var err error
	if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
		start, end = b.min, b.max
	} else {
		if start, err = cronValue(lowAndHigh[0], b); err != nil {
			return err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			if end, err = cronValue(lowAndHigh[1], b); err != nil {
				return err
			}
		default:
			return fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	switch len(rangeAndStep) {
	case 1:
	case 2:
		step, err := cronInt(rangeAndStep[1])
		if err != nil {
			return err
		}
		if step == 0 {
			return fmt.Errorf("step of range should be a positive number: %s", expr)
		}
		if singleDigit {
			end = b.max
		}
	default:
		return fmt.Errorf("too many slashes: %s", expr)
	}
	if start < b.min {
		return fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, b.min, expr)
	}
	if end > b.max {
		return fmt.Errorf("end of range (%d) above maximum (%d): %s", end, b.max, expr)
	}
	if start > end {
		return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	}
	return nil
}

func cronValue(s string, b cronBounds) (int, error) {
	if b.names != nil {
		if v, ok := b.names[strings.ToLower(s)]; ok {
			return v, nil
		}
	}
	return cronInt(s)
}

func cronInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", s, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, s)
	}
	return n, nil
}
