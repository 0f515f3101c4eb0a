package crilog

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"time"
)

// Options select and shape the lines read.
type Options struct {
	Tail       int64 // the last Tail lines; -1 = all
	Since      time.Time
	Timestamps bool // prefix each line with its time
}

// ReadLines reads the whole log, joins partial lines and keeps the last
// Tail lines newer than Since.
func ReadLines(r io.Reader, o Options) ([][]byte, error) {
	var lines [][]byte
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var partial, partialHead []byte
	for sc.Scan() {
		raw := sc.Bytes()
		fields := bytes.SplitN(raw, []byte(" "), 4)
		if len(fields) == 4 && string(fields[2]) == "P" {
			if partial == nil {
				partialHead = slices.Concat(fields[0], []byte(" "), fields[1])
			}
			partial = append(partial, fields[3]...)
			continue
		}
		line := slices.Clone(raw)
		if len(partial) > 0 && len(fields) == 4 {
			line = slices.Concat(fields[0], []byte(" "), fields[1], []byte(" F "), partial, fields[3])
			partial = nil
		}
		if text, ok := ParseLine(append(line, '\n'), o); ok {
			lines = append(lines, text)
		}
	}
	// Output that ended without a newline (a container's last words, or
	// one still writing) is shown as it is.
	if len(partial) > 0 {
		if text, ok := ParseLine(slices.Concat(partialHead, []byte(" P "), partial), o); ok {
			lines = append(lines, text)
		}
	}
	if o.Tail >= 0 && int64(len(lines)) > o.Tail {
		lines = lines[int64(len(lines))-o.Tail:]
	}
	return lines, sc.Err()
}

// ParseLine turns one CRI log line into what the user sees; false when
// the line is malformed or older than Since.
func ParseLine(raw []byte, o Options) ([]byte, bool) {
	fields := bytes.SplitN(raw, []byte(" "), 4)
	if len(fields) != 4 {
		return nil, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(fields[0]))
	if err != nil {
		return nil, false
	}
	if !o.Since.IsZero() && ts.Before(o.Since) {
		return nil, false
	}
	text := fields[3]
	if string(fields[2]) == "P" {
		text = bytes.TrimSuffix(text, []byte("\n"))
	}
	if o.Timestamps {
		return slices.Concat([]byte(ts.UTC().Format(time.RFC3339Nano)), []byte(" "), text), true
	}
	return slices.Clone(text), true
}
