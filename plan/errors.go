package plan

import "fmt"

// Errorf returns an error of the given kind (ErrInvalid, ErrUnsupported or
// another sentinel). Its message is the formatted text alone, written once
// where the error is made; errors.Is(err, kind) holds, and so do errors.Is
// and errors.As for every %w argument. Every package uses it instead of a
// type of its own per kind, so that no caller ever trims a suffix off a
// message to reword it.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{err: fmt.Errorf(format, args...), kind: kind}
}

type kindError struct {
	err  error
	kind error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }
