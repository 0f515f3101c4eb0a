// Package crilog reads container log files in the CRI format the runtime
// writes ("<RFC 3339 time> <stream> <P|F> <text>", P marking a line the
// runtime split), turning them into the text the user wrote. The node
// agent's log endpoint and its termination messages (the log fallback)
// read logs through it.
package crilog
