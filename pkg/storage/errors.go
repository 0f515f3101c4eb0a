package storage

import (
	"errors"
	"fmt"
)

// Code classifies storage failures; the API layer maps each to an HTTP status.
type Code int

const (
	CodeNotFound Code = iota + 1
	CodeExists
	CodeConflict        // the object changed since the caller read it
	CodeExpired         // the requested revision was compacted away
	CodeInvalidContinue // a malformed continue token
	CodeUnavailable     // etcd could not be reached
	CodeNoSpace         // etcd's NOSPACE alarm is raised: it refuses writes
)

// Error is a classified storage failure.
type Error struct {
	Code Code
	Key  string
	Msg  string
	Err  error
	// Continue, on an expired continue token, resumes the list after the
	// last key returned, at the latest revision: an inconsistent but
	// complete continuation, as upstream offers.
	Continue string
}

func (e *Error) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	if e.Err != nil {
		return fmt.Sprintf("storage %s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("storage error %d on %s", e.Code, e.Key)
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the classification of err, or 0 when it is not a storage error.
func CodeOf(err error) Code {
	var se *Error
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// IsNotFound reports whether err says the key does not exist.
func IsNotFound(err error) bool { return CodeOf(err) == CodeNotFound }

// IsConflict reports whether err is an optimistic-concurrency failure.
func IsConflict(err error) bool { return CodeOf(err) == CodeConflict }
