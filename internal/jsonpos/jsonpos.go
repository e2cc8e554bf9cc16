// Package jsonpos says where in a JSON document decoding went wrong, as a line and a column,
// so that a message about a user's file (a workflow, a scenario, a report) points at the
// place to fix. It imports nothing of qwenlab's.
package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Error is a decoding error at a place in the input.
type Error struct {
	Line, Column int   // 1-based; a column counts bytes
	Err          error // what went wrong there
}

func (e *Error) Error() string { return fmt.Sprintf("line %d, column %d: %v", e.Line, e.Column, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// ErrTrailing is the error of data after the document's value.
var ErrTrailing = errors.New("unexpected data after the JSON value")

// errEnd is an input that ends inside the value; it matches io.ErrUnexpectedEOF.
type errEnd struct{}

func (errEnd) Error() string        { return "unexpected end of input" }
func (errEnd) Is(target error) bool { return target == io.ErrUnexpectedEOF }

// Locate returns err with the place in data it refers to: a *json.SyntaxError at the byte
// it rejects, an input that ends too soon (io.ErrUnexpectedEOF, or io.EOF from an empty
// one) at its end, saying "unexpected end of input". Any other error, nil included, comes
// back unchanged.
func Locate(data []byte, err error) error {
	var se *json.SyntaxError
	var pe *Error
	switch {
	case err == nil || errors.As(err, &pe):
		return err
	case errors.As(err, &se):
		if se.Offset >= int64(len(data)) && bytes.Contains([]byte(se.Error()), []byte("end of JSON input")) {
			return At(data, int64(len(data)), errEnd{})
		}
		return At(data, se.Offset-1, se) // Offset is just past the offending byte
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return At(data, int64(len(data)), errEnd{})
	}
	return err
}

// At returns err placed at byte offset off of data (clamped to data).
func At(data []byte, off int64, err error) *Error {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	return &Error{
		Line:   bytes.Count(before, []byte("\n")) + 1,
		Column: int(off) - bytes.LastIndexByte(before, '\n'),
		Err:    err,
	}
}
