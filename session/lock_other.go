//go:build !unix

package session

// lockFile: no advisory locks here; concurrent launches may lose a record.
func lockFile(string) (func(), error) { return func() {}, nil }
