//go:build !unix

package session

// lockFile: no advisory locks here; concurrent launches may lose a record.
func lockFile(string) (func(), error) { return func() {}, nil }

// Shared: no advisory locks here, so no launch is ever known to be the last.
func Shared(string) (last func() bool, release func(), err error) {
	return func() bool { return false }, func() {}, nil
}
